"""Django admin, scoped to the signed-in user's organization (superusers see every one)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.forms.models import BaseInlineFormSet

from core.admin import OrganizationScopedAdmin, OrganizationScopedInline, ReadOnlyScopedAdmin
from core.errors import ServiceError

from .models import Consent, ConsentEvent, Customer, Facility, History, Lead, Membership, Organization, PhoneNumber
from .services import (
    customer_create,
    customer_update,
    facility_sender_register,
    lead_create,
    lead_update,
    phone_number_add,
    phone_number_delete,
    phone_number_set_primary,
    phone_number_update,
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


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    manager_only = True
    list_display = ["user", "role", "organization"]
    list_filter = ["role"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            # A manager adds people who have no organization yet, or edits their own.
            org = self._org(request)
            User = get_user_model()
            kwargs["queryset"] = User.objects.filter(Q(membership__organization=org) | Q(membership__isnull=True))
            return admin.ModelAdmin.formfield_for_foreignkey(self, db_field, request, **kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class PhoneNumberFormSet(BaseInlineFormSet):
    """Whenever a record has numbers, exactly one is primary; saved through the phone-number services."""

    def clean(self):
        super().clean()
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        primaries = sum(1 for f in kept if f.cleaned_data.get("is_primary"))
        if kept and primaries != 1:
            raise ValidationError("Mark exactly one number as primary.")
        for form in self.deleted_forms:
            if form.instance.pk and form.instance.source == PhoneNumber.Source.PMS:
                raise ValidationError(
                    f"{form.instance.national} comes from the property management system; change it there."
                )

    def save(self, commit: bool = True) -> list[PhoneNumber]:
        # The same services as the card and the API, so the primary-number rule lives in one place.
        owner = self.instance
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        for form in self.deleted_forms:
            if form.instance.pk:
                phone_number_delete(phone_number=form.instance)
                self.deleted_objects.append(form.instance)
        primary = None
        for form in self.forms:
            if form in self.deleted_forms or (not form.has_changed() and not form.instance.pk):
                continue
            data = form.cleaned_data
            if not form.instance.pk:
                phone = phone_number_add(
                    owner=owner,
                    number=data["number"],
                    label=data["label"],
                    source=data.get("source") or PhoneNumber.Source.LOCAL,
                )
                form.instance = phone
                self.new_objects.append(phone)
            elif form.has_changed():
                phone = PhoneNumber.objects.get(pk=form.instance.pk)
                changes = {name: data[name] for name in ("number", "label") if name in form.changed_data}
                phone_number_update(phone_number=phone, **changes)
                self.changed_objects.append((phone, form.changed_data))
            else:
                phone = form.instance
            if data.get("is_primary"):
                primary = phone
        if primary is not None and not PhoneNumber.objects.filter(pk=primary.pk, is_primary=True).exists():
            phone_number_set_primary(phone_number=primary)
        return [*self.new_objects, *(phone for phone, _ in self.changed_objects)]


class PhoneNumberInline(OrganizationScopedInline):
    model = PhoneNumber
    formset = PhoneNumberFormSet
    fields = ["number", "label", "is_primary", "source"]


class HistoryInline(OrganizationScopedInline):
    model = History
    fields = ["occurred_at", "kind", "agent", "summary"]
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


def _changes(form, obj, change: bool) -> dict:
    """What the admin form changed (every field, for a new record), as a service's keyword arguments."""
    names = form.changed_data if change else form.cleaned_data
    return {name: getattr(obj, name) for name in names if name != "organization" and name in form.cleaned_data}


def _adopt(obj: Lead | Customer, saved: Lead | Customer) -> None:
    """The admin goes on with its own instance (inlines, the log entry): give it the row the service wrote."""
    obj.pk, obj.created_at, obj.updated_at = saved.pk, saved.created_at, saved.updated_at
    obj._state.adding, obj._state.db = False, saved._state.db


@admin.register(Lead)
class LeadAdmin(OrganizationScopedAdmin):
    list_display = ["full_name", "facility", "status", "source", "created_at"]
    # RelatedOnlyFieldListFilter: the plain one would list every organization's facilities.
    list_filter = ["status", ("facility", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["first_name", "last_name", "email", "phone_numbers__number"]
    inlines = [PhoneNumberInline, HistoryInline]
    list_select_related = ["facility"]

    def save_model(self, request, obj, form, change):
        # Through the services, like the API and the PMS import: the same checks, and a new or
        # converted lead is announced to the follow-up workflows by them, not by the admin.
        if not request.user.is_superuser:
            obj.organization = self._org(request)
        if change:
            lead_update(lead=Lead.objects.get(pk=obj.pk), **_changes(form, obj, change))
        else:
            _adopt(obj, lead_create(organization=obj.organization, **_changes(form, obj, change)))


@admin.register(Customer)
class CustomerAdmin(OrganizationScopedAdmin):
    list_display = ["full_name", "pms_id", "facility", "unit", "balance_due"]
    list_filter = [("facility", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["first_name", "last_name", "pms_id", "phone_numbers__number"]
    inlines = [PhoneNumberInline, HistoryInline]
    list_select_related = ["facility"]

    def save_model(self, request, obj, form, change):
        # Through the services: a balance that falls due or is paid is announced by them.
        if not request.user.is_superuser:
            obj.organization = self._org(request)
        if change:
            # The stored row, not ``obj`` (the form already wrote the new balance onto it).
            customer_update(customer=Customer.objects.get(pk=obj.pk), **_changes(form, obj, change))
        else:
            _adopt(obj, customer_create(organization=obj.organization, **_changes(form, obj, change)))


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyScopedAdmin):
    list_display = ["number", "action", "source", "actor", "created_at", "ip_address"]
    list_filter = ["action", "source"]
    search_fields = ["number", "evidence"]


@admin.register(Consent)
class ConsentAdmin(ReadOnlyScopedAdmin):
    list_display = ["number", "status", "person_opted_out_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["number"]


@admin.register(History)
class HistoryAdmin(OrganizationScopedAdmin):
    list_display = ["occurred_at", "kind", "lead", "customer", "agent"]
    list_filter = ["kind"]
    list_select_related = ["lead", "customer", "agent"]
