"""Django admin, scoped to the signed-in user's organization (superusers see every one)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

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
from .workflows import workflow_reschedule


class OrganizationScopedAdmin(admin.ModelAdmin):
    """Shows and edits only the rows of the user's organization; fills it in on save.

    ``manager_only`` admins are read-only for agents. Another organization's row is simply
    not in the queryset, so its change page answers 404 like everywhere else.
    """

    organization_field = "organization"
    manager_only = False

    def _org(self, request: HttpRequest):
        return organization_for_user(request.user)

    def _member(self, request: HttpRequest) -> bool:
        return request.user.is_active and (request.user.is_superuser or self._org(request) is not None)

    def _can_edit(self, request: HttpRequest) -> bool:
        if request.user.is_superuser:
            return True
        membership = getattr(request.user, "membership", None)
        return membership is not None and (membership.is_manager or not self.manager_only)

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

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser and self.organization_field == "organization":
            exclude.append("organization")
        return exclude

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

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if not request.user.is_superuser and related is not None:
            org = self._org(request)
            if related is Organization:
                kwargs["queryset"] = Organization.objects.filter(pk=getattr(org, "pk", None))
            elif any(f.name == "organization" for f in related._meta.fields):
                kwargs["queryset"] = related._default_manager.filter(organization=org)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class OrganizationScopedInline(admin.TabularInline):
    extra = 0

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or []), "organization"]


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
            from django.contrib.auth import get_user_model

            org = self._org(request)
            kwargs["queryset"] = get_user_model().objects.filter(membership__organization=org) | (
                get_user_model().objects.filter(membership__isnull=True)
            )
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


@admin.register(Lead)
class LeadAdmin(OrganizationScopedAdmin):
    list_display = ["full_name", "facility", "status", "source", "created_at"]
    list_filter = ["status", "facility"]
    search_fields = ["first_name", "last_name", "email", "phone_numbers__number"]
    inlines = [PhoneNumberInline, HistoryInline]
    list_select_related = ["facility"]


@admin.register(Customer)
class CustomerAdmin(OrganizationScopedAdmin):
    list_display = ["full_name", "pms_id", "facility", "unit", "balance_due"]
    list_filter = ["facility"]
    search_fields = ["first_name", "last_name", "pms_id", "phone_numbers__number"]
    inlines = [PhoneNumberInline, HistoryInline]
    list_select_related = ["facility"]


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


# --- workflows --------------------------------------------------------------------------------


class WorkflowStepInline(admin.TabularInline):
    """Steps are part of the workflow: whoever may edit the workflow may edit its steps."""

    model = WorkflowStep
    extra = 1
    fields = ["day_offset", "time_of_day", "action", "template", "instructions"]

    def _workflow_admin(self) -> OrganizationScopedAdmin:
        return self.admin_site._registry[Workflow]

    def has_view_permission(self, request, obj=None):
        return self._workflow_admin().has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return self._workflow_admin().has_change_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._workflow_admin().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._workflow_admin().has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "template" and not request.user.is_superuser:
            org = organization_for_user(request.user)
            kwargs["queryset"] = db_field.related_model._default_manager.filter(organization=org, active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class WorkflowForm(forms.ModelForm):
    """Checks the name against the organization's other workflows (the organization is not a form field)."""

    organization: Organization | None = None

    class Meta:
        model = Workflow
        fields = ["organization", "kind", "name", "active", "is_default"]

    def clean_name(self):
        name = self.cleaned_data["name"]
        org = self.cleaned_data.get("organization") or self.organization
        if org and Workflow.objects.filter(organization=org, name__iexact=name).exclude(pk=self.instance.pk).exists():
            raise ValidationError("Another workflow already has this name.")
        return name


@admin.register(Workflow)
class WorkflowAdmin(OrganizationScopedAdmin):
    """Managers keep workflows here; steps are edited inline. Agents see them read-only."""

    manager_only = True
    form = WorkflowForm
    list_display = ["name", "kind", "active", "is_default", "step_count"]
    list_filter = ["kind", "active"]
    inlines = [WorkflowStepInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_steps=Count("steps"))

    @admin.display(description="steps", ordering="_steps")
    def step_count(self, obj):
        return obj._steps

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.organization = obj.organization if obj is not None else self._org(request)
        return form

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.organization = self._org(request)
        if obj.is_default:  # one default per kind: this one replaces the previous default
            Workflow.objects.filter(organization=obj.organization, kind=obj.kind, is_default=True).exclude(
                pk=obj.pk
            ).update(is_default=False)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        workflow_reschedule(workflow=form.instance)


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyScopedAdmin):
    list_display = ["__str__", "status", "source", "started_at", "next_due_at", "end_reason"]
    list_filter = ["status", "workflow"]
    list_select_related = ["workflow", "lead", "customer"]


@admin.register(Task)
class TaskAdmin(ReadOnlyScopedAdmin):
    list_display = ["__str__", "kind", "status", "due_at", "completed_by", "completed_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["lead", "customer", "completed_by"]
