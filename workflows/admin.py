"""Django admin for workflows: managers keep them and their steps; enrollments and tasks are read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count

from core.admin import OrganizationScopedAdmin, OrganizationScopedInline, ReadOnlyScopedAdmin

from .models import Enrollment, Task, Workflow, WorkflowStep
from .services import workflow_reschedule


class WorkflowStepInline(OrganizationScopedInline):
    """Steps are part of the workflow: managers edit them with it, agents read them."""

    model = WorkflowStep
    manager_only = True
    extra = 1
    fields = ["day_offset", "time_of_day", "action", "template", "instructions"]
    classes = ["workflow-steps"]  # static/css/admin.css: the steps fit the page at 1366×768

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "template":
            field.queryset = field.queryset.filter(active=True)
        return field


class WorkflowForm(forms.ModelForm):
    """Ticking "default" replaces the previous default (``save_model``) instead of clashing with
    it: the tick is taken out of the values the form checks against the model's constraints and
    set on the workflow when the form saves it."""

    class Meta:
        model = Workflow
        fields = ["organization", "kind", "name", "active", "is_default"]

    make_default = False

    def clean(self):
        cleaned = super().clean()
        self.make_default = bool(cleaned.pop("is_default", False))
        return cleaned

    def save(self, commit=True):
        self.instance.is_default = self.make_default
        return super().save(commit)


@admin.register(Workflow)
class WorkflowAdmin(OrganizationScopedAdmin):
    """Managers keep workflows here; steps are edited inline. Agents see them read-only."""

    manager_only = True
    form = WorkflowForm
    list_display = ["name", "kind", "active", "is_default", "step_count"]
    list_filter = ["kind", "active"]
    inlines = [WorkflowStepInline]

    class Media:
        css = {"all": ["css/admin.css"]}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(step_total=Count("steps"))

    @admin.display(description="steps", ordering="step_total")
    def step_count(self, obj):
        return obj.step_total

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
    list_filter = ["status", ("workflow", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["workflow", "lead", "customer"]


@admin.register(Task)
class TaskAdmin(ReadOnlyScopedAdmin):
    list_display = ["__str__", "kind", "status", "due_at", "completed_by", "completed_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["lead", "customer", "completed_by"]
