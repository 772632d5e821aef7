"""Django admin, scoped to the signed-in user's organization (superusers see every one)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest

from .models import (
    Consent,
    ConsentEvent,
    Customer,
    Enrollment,
    Facility,
    History,
    Lead,
    Membership,
    Organization,
    PhoneNumber,
    Task,
    Workflow,
    WorkflowStep,
)
from .selectors import organization_for_user
from .workflows import enrollments_sync_customer, enrollments_sync_lead, workflow_reschedule


class OrganizationScopeMixin:
    """Who may use an admin page, and which rows its dropdowns offer, for the signed-in user."""

    manager_only = False

    def _org(self, request: HttpRequest) -> Organization | None:
        return organization_for_user(request.user)

    def _member(self, request: HttpRequest) -> bool:
        return request.user.is_active and (request.user.is_superuser or self._org(request) is not None)

    def _can_edit(self, request: HttpRequest) -> bool:
        if request.user.is_superuser:
            return True
        membership = getattr(request.user, "membership", None)
        return membership is not None and (membership.is_manager or not self.manager_only)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if not request.user.is_superuser and related is not None:
            org = self._org(request)
            if related is Organization:
                kwargs["queryset"] = Organization.objects.filter(pk=getattr(org, "pk", None))
            elif related is get_user_model():
                # Agents and managers pick among their own organization's people only.
                kwargs["queryset"] = related._default_manager.filter(membership__organization=org)
            elif any(f.name == "organization" for f in related._meta.fields):
                kwargs["queryset"] = related._default_manager.filter(organization=org)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class OrganizationScopedAdmin(OrganizationScopeMixin, admin.ModelAdmin):
    """Shows and edits only the rows of the user's organization; fills it in on save.

    ``manager_only`` admins are read-only for agents. Another organization's row is simply
    not in the queryset, so its change, delete and history pages answer 404 like everywhere else.
    """

    organization_field = "organization"

    def has_module_permission(self, request):
        return self._member(request)

    def has_view_permission(self, request, obj=None):
        return self._member(request)

    def has_add_permission(self, request, *args):
        return self._member(request) and self._can_edit(request)

    def has_change_permission(self, request, obj=None):
        return self._member(request) and self._can_edit(request)

    def has_delete_permission(self, request, obj=None):
        return self._member(request) and self._can_edit(request)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        org = self._org(request)
        return qs.filter(**{self.organization_field: org}) if org else qs.none()

    def get_object(self, request, object_id, from_field=None):
        # Django's admin redirects to its index when the row is missing; another
        # organization's id must answer 404 (DESIGN rule 1), and so does a missing one.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with id “{object_id}”.")
        return obj

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser and self.organization_field == "organization":
            exclude.append("organization")
        return exclude

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if request.user.is_superuser or self.organization_field != "organization":
            return form
        organization = self._org(request)

        class OrganizationForm(form):
            # The organization is not on the form (it is the user's own), but constraints that
            # include it (a facility name unique per organization) must still be checked, so a
            # clash is a form error rather than an IntegrityError.
            def _post_clean(self):
                self.instance.organization = organization
                super()._post_clean()

            def _get_validation_exclusions(self):
                return set(super()._get_validation_exclusions()) - {"organization"}

        return OrganizationForm

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and self.organization_field == "organization":
            obj.organization = self._org(request)
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        for inline_form in formset.forms:
            instance = inline_form.instance
            if hasattr(instance, "organization_id") and not instance.organization_id:
                instance.organization_id = form.instance.organization_id
        super().save_formset(request, form, formset, change)


class OrganizationScopedInline(OrganizationScopeMixin, admin.TabularInline):
    """An inline on a scoped admin: members use it without Django model permissions.

    Its rows come through the parent record, which is already scoped to the organization.
    """

    extra = 0

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or []), "organization"]

    def has_view_permission(self, request, obj=None):
        return self._member(request)

    def has_add_permission(self, request, obj):
        return self._member(request) and self._can_edit(request)

    def has_change_permission(self, request, obj=None):
        return self._member(request) and self._can_edit(request)

    def has_delete_permission(self, request, obj=None):
        return self._member(request) and self._can_edit(request)


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


@admin.register(Facility)
class FacilityAdmin(OrganizationScopedAdmin):
    manager_only = True
    list_display = ["name", "time_zone", "sms_sender_number", "organization"]
    search_fields = ["name", "address"]


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
    """Whenever a record has numbers, exactly one is primary."""

    def clean(self):
        super().clean()
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        primaries = sum(1 for f in kept if f.cleaned_data.get("is_primary"))
        if kept and primaries != 1:
            raise ValidationError("Mark exactly one number as primary.")


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


@admin.register(Lead)
class LeadAdmin(OrganizationScopedAdmin):
    list_display = ["full_name", "facility", "status", "source", "created_at"]
    # RelatedOnlyFieldListFilter: the plain one would list every organization's facilities.
    list_filter = ["status", ("facility", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["first_name", "last_name", "email", "phone_numbers__number"]
    inlines = [PhoneNumberInline, HistoryInline]
    list_select_related = ["facility"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # The same rules as the API and the PMS import: new leads join the default follow-up.
        if not change or "status" in form.changed_data:
            enrollments_sync_lead(lead=obj, created=not change)


@admin.register(Customer)
class CustomerAdmin(OrganizationScopedAdmin):
    list_display = ["full_name", "pms_id", "facility", "unit", "balance_due"]
    list_filter = [("facility", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["first_name", "last_name", "pms_id", "phone_numbers__number"]
    inlines = [PhoneNumberInline, HistoryInline]
    list_select_related = ["facility"]

    def save_model(self, request, obj, form, change):
        previous = form.initial.get("balance_due") if change else None
        super().save_model(request, obj, form, change)
        # A balance that falls due joins the default collection workflow; a paid one leaves it.
        if not change or "balance_due" in form.changed_data:
            enrollments_sync_customer(customer=obj, previous_balance=previous)


class ReadOnlyScopedAdmin(OrganizationScopedAdmin):
    """The consent ledger is append-only: it is written by services, never edited here."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
