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
