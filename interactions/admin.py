"""Django admin, scoped to the signed-in user's organization (superusers see every one)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from rest_framework.authtoken.admin import TokenAdmin as DRFTokenAdmin
from rest_framework.authtoken.models import TokenProxy

from core.admin import (
    OrganizationScopedAdmin,
    OrganizationScopedInline,
    ReadOnlyScopedAdmin,
    ScopedInlineFormSet,
    SuperusersOnlyAdmin,
)
from core.errors import ServiceError

from .models import Consent, ConsentEvent, Customer, Facility, History, Lead, Membership, Organization, PhoneNumber
from .services import (
    customer_create,
    customer_update,
    facility_sender_register,
    lead_create,
    lead_update,
    membership_create,
    person_archive,
    phone_number_add,
    phone_number_delete,
    phone_number_relabel,
    phone_number_set_primary,
)


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    organization_field = "pk"
    manager_only = True
    list_display = ["name", "slug", "quiet_hours_start", "quiet_hours_end"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request):
        qs = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return qs
        org = self._org(request)
        return qs.filter(pk=getattr(org, "pk", None))

    def has_add_permission(self, request, *args):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        confirmation = form.base_fields.get("opt_out_confirmation_text")
        if confirmation is not None:
            # The model's help text says "<organization>", which the admin (help text is HTML there) dropped as
            # a tag: "“: You're unsubscribed…”". Here it is the text this organization's people would get.
            example = Organization(name=obj.name if obj else "Your organization's name").opt_out_confirmation
            confirmation.help_text = format_html(
                "The one text sent after someone opts out. Blank: “{}” No offers: the FCC allows a confirmation only.",
                example,
            )
        return form

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # It decides where inbound texts are filed: a manager must not claim another tenant's service.
            readonly.append("twilio_messaging_service_sid")
        return readonly


class FacilityForm(forms.ModelForm):
    class Meta:
        model = Facility
        fields = [
            "organization",
            "name",
            "address",
            "time_zone",
            "phone",
            "sms_sender_number",
            "sender_registration",
            "sender_brand_id",
            "sender_campaign_id",
            "sender_toll_free_verification_id",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "sender_registration" in self.fields:
            # Left out of a form (an older script, an API client): the sender stays as it was.
            self.fields["sender_registration"].required = False

    def clean_sender_registration(self):
        return self.cleaned_data.get("sender_registration") or (
            self.instance.sender_registration if self.instance.pk else Facility.Registration.NOT_RECORDED
        )

    def clean(self):
        cleaned = super().clean()
        try:  # the service's own rule, on an unsaved copy (nothing is written here)
            facility_sender_register(
                facility=Facility(),
                registration=cleaned.get("sender_registration") or Facility.Registration.NOT_RECORDED,
                brand_id=cleaned.get("sender_brand_id") or "",
                campaign_id=cleaned.get("sender_campaign_id") or "",
                toll_free_verification_id=cleaned.get("sender_toll_free_verification_id") or "",
            )
        except ServiceError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return cleaned


REGISTRATION_FIELDS = [
    "sender_registration",
    "sender_brand_id",
    "sender_campaign_id",
    "sender_toll_free_verification_id",
]


@admin.register(Facility)
class FacilityAdmin(OrganizationScopedAdmin):
    """Facilities; managers record each sender's registration (agents read it; the carrier's flag is read-only)."""

    manager_only = True
    form = FacilityForm
    list_display = [
        "name",
        "time_zone",
        "sms_sender_number",
        "sender_registration",
        "sender_flagged_at",
        "organization",
    ]
    list_filter = ["sender_registration"]
    search_fields = ["name", "address"]
    readonly_fields = ["sender_flagged_at", "sender_flag_reason"]
    fieldsets = [
        (None, {"fields": ["organization", "name", "address", "time_zone", "phone", "sms_sender_number"]}),
        (
            "Sender registration",
            {
                "description": "US carriers block texts from long codes not registered for A2P 10DLC and from "
                "unverified toll-free numbers. Record the registration from the Twilio console. A carrier refusal "
                "for an unregistered sender (Twilio 30032/30034) marks it unregistered here and stops its texts "
                "until you record the registration again.",
                "fields": [*REGISTRATION_FIELDS, "sender_flagged_at", "sender_flag_reason"],
            },
        ),
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        (name, options), *rest = fieldsets
        return [(name, {**options, "fields": [f for f in options["fields"] if f != "organization"]}), *rest]

    def save_model(self, request, obj, form, change):
        if change and any(name in form.changed_data for name in REGISTRATION_FIELDS):
            # A manager acted on the registration: recorded through the service, which clears the carrier's flag.
            facility_sender_register(
                facility=obj,
                registration=obj.sender_registration,
                brand_id=obj.sender_brand_id,
                campaign_id=obj.sender_campaign_id,
                toll_free_verification_id=obj.sender_toll_free_verification_id,
            )
        super().save_model(request, obj, form, change)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # Replies and STOPs to a sender number are filed with its facility: a manager must not
            # claim another organization's number (a superuser assigns them, unique across the install).
            readonly.append("sms_sender_number")
        return readonly


class MembershipCreateForm(forms.ModelForm):
    """A manager adds someone by creating their account here; existing users of the install are never offered."""

    username = forms.CharField(max_length=150)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        strip=False,
        help_text="The person's first password; they can change it after signing in.",
    )

    class Meta:
        model = Membership
        fields = ["role"]

    organization: Organization | None = None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        User = get_user_model()
        if User.objects.filter(username__iexact=cleaned["username"].strip()).exists():
            self.add_error("username", f"The username “{cleaned['username']}” is taken; choose another.")
        return cleaned

    def save(self, commit=True):
        # The admin asks for the object with commit=False, then saves it: create it once, here.
        if self.instance.pk:
            return self.instance
        data = self.cleaned_data
        try:
            self.instance = membership_create(
                organization=self.organization,
                username=data["username"],
                email=data.get("email", ""),
                password=data["password"],
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
                role=data["role"],
            )
        except ServiceError as exc:
            raise ValidationError({exc.field or "username": exc.message}) from exc
        return self.instance

    def save_m2m(self):  # the admin calls it after save_model
        pass

    def validate_unique(self):
        # Last of the form's checks (after the membership's own): the password against the new person.
        super().validate_unique()
        if not self.errors and self.organization is not None:
            from django.contrib.auth.password_validation import validate_password

            candidate = get_user_model()(
                username=self.cleaned_data.get("username", ""),
                email=self.cleaned_data.get("email", ""),
                first_name=self.cleaned_data.get("first_name", ""),
                last_name=self.cleaned_data.get("last_name", ""),
            )
            try:
                validate_password(self.cleaned_data.get("password", ""), candidate)
            except ValidationError as exc:
                self.add_error("password", exc)


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    """Managers create accounts inside their organization and change roles; the user of a membership is fixed."""

    manager_only = True
    list_display = ["user", "role", "organization"]
    list_filter = ["role"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None and not request.user.is_superuser:
            organization = self._org(request)

            class CreateForm(MembershipCreateForm):
                pass

            CreateForm.organization = organization
            return CreateForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None and not request.user.is_superuser:
            return ["username", "first_name", "last_name", "email", "password", "role"]
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly.append("user")  # a membership is moved by creating a new account, not by re-pointing it
        return readonly

    def save_model(self, request, obj, form, change):
        if isinstance(form, MembershipCreateForm):
            return  # the admin's save_form() already created it, through membership_create
        super().save_model(request, obj, form, change)


class PhoneNumberForm(forms.ModelForm):
    """A saved number is fixed: changing it means adding the new number (its history stays with the old one).

    A PMS number is the PMS's: its label is fixed here too, and it can't be deleted.
    """

    class Meta:
        model = PhoneNumber
        fields = ["number", "label", "is_primary"]

    primary = False  # ticked as the primary number (``clean``); an unchanged extra form is not

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["number"].disabled = True
            if self.instance.source == PhoneNumber.Source.PMS:
                self.fields["label"].disabled = True

    def clean(self):
        cleaned = super().clean()
        # Which number is primary is the formset's to settle (exactly one, moved with
        # ``phone_number_set_primary``), not each form's: taken out of the values checked against
        # the one-primary constraint, which the old primary still holds until the move.
        self.primary = bool(cleaned.pop("is_primary", False))
        return cleaned


class PhoneNumberFormSet(ScopedInlineFormSet):
    """Whenever a record has numbers, exactly one is primary. Saved through the phone-number services."""

    def clean(self):
        super().clean()
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        primaries = sum(1 for f in kept if f.primary)
        if kept and primaries != 1:
            raise ValidationError("Mark exactly one number as primary.")
        for form in self.forms:
            if form.cleaned_data.get("DELETE") and form.instance.pk:
                self._check_deletable(form)
        if any(form.errors for form in self.forms):
            raise ValidationError("Some numbers can't be changed as asked; see below.")

    @staticmethod
    def _check_deletable(form) -> None:
        """A PMS number is changed in the PMS; a number that texts or history name stays as evidence."""
        phone = form.instance
        if phone.source == PhoneNumber.Source.PMS:
            form.add_error(None, f"{phone.national} comes from the property management system; change it there.")
        elif phone.history_set.exists() or phone.messages.exists():
            form.add_error(
                None, f"{phone.national} has texts or history on this record, so it stays as part of the record."
            )

    def save(self, commit=True):
        owner = self.instance
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        primary = None
        for form in self.deleted_forms:
            if form.instance.pk:
                phone_number_delete(phone_number=form.instance)
                self.deleted_objects.append(form.instance)
        for form in self.initial_forms:
            if form in self.deleted_forms or not form.has_changed():
                continue
            phone = PhoneNumber.objects.get(pk=form.instance.pk)  # the form's copy carries the posted values
            phone_number_relabel(phone_number=phone, label=form.cleaned_data["label"])
            if form.primary and not phone.is_primary:
                primary = phone
            self.changed_objects.append((phone, form.changed_data))
        for form in self.extra_forms:
            if form in self.deleted_forms or not form.has_changed():
                continue
            data = form.cleaned_data
            phone = phone_number_add(
                owner=owner, number=data["number"], label=data["label"], source=PhoneNumber.Source.LOCAL
            )
            if form.primary:
                primary = phone
            self.new_objects.append(phone)
        if primary is not None:
            phone_number_set_primary(phone_number=primary)
        return self.new_objects


class PhoneNumberInline(OrganizationScopedInline):
    model = PhoneNumber
    form = PhoneNumberForm
    formset = PhoneNumberFormSet
    fields = ["number", "label", "is_primary", "source"]
    readonly_fields = ["source"]


class HistoryInline(OrganizationScopedInline):
    model = History
    fields = ["occurred_at", "kind", "actor_name", "summary"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True
    max_num = 0

    def has_add_permission(self, request, obj):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FacilityFilter(admin.SimpleListFilter):
    """The organization's facilities, read from the facilities (a plain foreign-key filter would list
    every organization's; ``RelatedOnlyFieldListFilter`` reads every person to find the ones in use)."""

    title = "facility"
    parameter_name = "facility"

    def lookups(self, request, model_admin):
        facilities = Facility.objects.order_by("name")
        if not request.user.is_superuser:
            facilities = facilities.filter(organization=model_admin._org(request))
        return [(str(f.pk), f.name) for f in facilities]

    def queryset(self, request, queryset):
        value = self.value()
        if not value or not value.isdigit() or int(value) >= 2**63:  # not an id (the database would refuse it)
            return queryset
        return queryset.filter(facility_id=int(value))


class PersonAdmin(OrganizationScopedAdmin):
    """Leads and customers: written through their services, archived (never deleted)."""

    ordering = ["-id"]  # lead_org_id, customer_org_id
    inlines = [PhoneNumberInline, HistoryInline]
    list_select_related = ["facility"]
    readonly_fields = ["archived_at"]
    actions = ["archive"]
    service_fields: tuple[str, ...] = ()

    def has_delete_permission(self, request, obj=None):
        return False  # people are archived: their numbers, history and consent ledger are evidence

    @admin.action(
        description="Archive the selected people (kept with their history; no longer texted)", permissions=["edit"]
    )
    def archive(self, request, queryset):
        for person in queryset:
            person_archive(person=person, actor=request.user)
        self.message_user(request, f"{len(queryset)} archived.", messages.SUCCESS)

    def has_edit_permission(self, request) -> bool:
        """Who sees and may run ``archive``: the action's documented ``permissions``, not an override of
        ``get_actions`` (whose signature Django 6.1 changed)."""
        return self._can_edit(request)

    def create_person(self, obj, fields: dict):
        raise NotImplementedError

    def update_person(self, obj, changes: dict):
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.organization = self._org(request)
        if change:
            # The service compares with the stored row (a balance falling due starts collection):
            # give it the row as stored, not the form's already-changed copy.
            current = type(obj).objects.get(pk=obj.pk)
            self.update_person(
                current, {name: form.cleaned_data[name] for name in form.changed_data if name in self.service_fields}
            )
            return
        created = self.create_person(
            obj, {name: form.cleaned_data[name] for name in self.service_fields if name in form.cleaned_data}
        )
        # The admin goes on with ``obj`` (its inlines point at it): make it the row the service created.
        obj.pk = created.pk
        obj._state.adding = False
        obj.refresh_from_db()


@admin.register(Lead)
class LeadAdmin(PersonAdmin):
    list_display = ["full_name", "facility", "status", "source", "created_at", "archived_at"]
    list_filter = ["status", FacilityFilter, ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["first_name", "last_name", "email", "phone_numbers__number"]
    service_fields = ("facility", "first_name", "last_name", "email", "status", "source")

    def create_person(self, obj, fields):
        return lead_create(organization=obj.organization, **fields)

    def update_person(self, obj, changes):
        lead_update(lead=obj, **changes)


@admin.register(Customer)
class CustomerAdmin(PersonAdmin):
    list_display = ["full_name", "pms_id", "facility", "unit", "balance_due", "archived_at"]
    list_filter = [FacilityFilter, ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["first_name", "last_name", "pms_id", "phone_numbers__number"]
    service_fields = ("facility", "pms_id", "first_name", "last_name", "unit", "balance_due")

    def create_person(self, obj, fields):
        return customer_create(organization=obj.organization, **fields)

    def update_person(self, obj, changes):
        customer_update(customer=obj, **changes)


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyScopedAdmin):
    list_display = ["number", "action", "source", "actor_name", "created_at", "ip_address"]
    list_filter = ["action", "source"]
    search_fields = ["number", "evidence"]


@admin.register(Consent)
class ConsentAdmin(ReadOnlyScopedAdmin):
    list_display = ["number", "status", "person_opted_out_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["number"]


@admin.register(History)
class HistoryAdmin(ReadOnlyScopedAdmin):
    list_display = ["occurred_at", "kind", "lead", "customer", "actor_name"]
    list_filter = ["kind"]
    ordering = ["-id"]  # history_org_id
    list_select_related = ["lead", "customer"]


# --- Django's own user and group admins (superusers) -------------------------------------------------


class BoundedIdsMultipleChoiceField(forms.ModelMultipleChoiceField):
    """A multiple choice of rows that refuses ids past 64 bits as invalid choices.

    SQLite can't even look such an id up (OverflowError, a 500): a tampered form gets a form error.
    """

    def clean(self, value):
        for pk in value if isinstance(value, list | tuple) else ():
            text = str(pk).strip().lstrip("-")
            if text.isascii() and text.isdigit() and int(text) >= 2**63:
                raise ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                )
        return super().clean(value)


class BoundedIdsAdminMixin:
    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs.setdefault("form_class", BoundedIdsMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


admin.site.unregister(get_user_model())
admin.site.unregister(Group)
admin.site.unregister(TokenProxy)


@admin.register(get_user_model())
class UserAdmin(BoundedIdsAdminMixin, SuperusersOnlyAdmin, DjangoUserAdmin):
    """Django's user admin (superusers only); its group and permission pickers refuse impossible ids."""


@admin.register(Group)
class GroupAdmin(BoundedIdsAdminMixin, SuperusersOnlyAdmin, DjangoGroupAdmin):
    """Django's group admin (superusers only); its permission picker refuses impossible ids."""


@admin.register(TokenProxy)
class TokenAdmin(SuperusersOnlyAdmin, DRFTokenAdmin):
    """Django REST framework's token admin (superusers only)."""
