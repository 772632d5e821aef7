"""REST API (``/api/v1/``) for follow-up workflows: tasks (list, complete, skip), enrollments (create, stop).

The same services as the outstanding list and the card; every queryset is scoped to the
caller's organization, so another organization's id answers 404.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import (
    IdFilter,
    ModelSerializer,
    OrganizationAPIMixin,
    OrganizationScopedField,
    SinceFilter,
    StrictCharField,
)
from core.api_errors import error_responses
from interactions.models import Customer, Lead

from .models import Enrollment, Task, Workflow, WorkflowStep
from .selectors import enrollments_for, task_card_url, tasks_for, workflows_for
from .services import enrollment_start, enrollment_stop, task_complete, task_skip

# --- serializers ----------------------------------------------------------------------------


@extend_schema_field({"type": "string", "pattern": r"^\d\d:\d\d$", "example": "09:30"})
class LocalTimeField(serializers.TimeField):
    """A wall-clock time without an offset (``format: time`` would demand one)."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", **kwargs)


class WorkflowStepSerializer(ModelSerializer):
    time_of_day = LocalTimeField(read_only=True, help_text="In the facility's time zone, 24-hour clock.")

    class Meta:
        model = WorkflowStep
        fields = ["id", "day_offset", "time_of_day", "action", "template", "instructions"]
        read_only_fields = fields


class WorkflowSerializer(ModelSerializer):
    steps = WorkflowStepSerializer(many=True, read_only=True)

    class Meta:
        model = Workflow
        fields = ["id", "name", "kind", "active", "is_default", "steps", "updated_at"]
        read_only_fields = fields


class TaskSerializer(ModelSerializer):
    workflow = serializers.IntegerField(source="enrollment.workflow_id", read_only=True)
    workflow_name = StrictCharField(source="enrollment.workflow.name", read_only=True)
    step = WorkflowStepSerializer(read_only=True, allow_null=True, help_text="Empty if the step was deleted since.")
    person_name = StrictCharField(source="owner.full_name", read_only=True)
    completed_by = StrictCharField(
        source="completed_by.username", read_only=True, default=None, allow_null=True, help_text="Username."
    )
    card_url = serializers.SerializerMethodField(help_text="Where an agent does it: the person's card.")

    class Meta:
        model = Task
        fields = [
            "id",
            "kind",
            "status",
            "due_at",
            "lead",
            "customer",
            "person_name",
            "enrollment",
            "workflow",
            "workflow_name",
            "step",
            "skip_reason",
            "completed_by",
            "completed_at",
            "message",
            "card_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_card_url(self, obj: Task) -> str:
        return task_card_url(obj)


class TaskCompleteSerializer(serializers.Serializer):
    message_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="The text that did it (same person), if any."
    )


class TaskSkipSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=300, help_text="Why the task is not done; kept on the task.")


class BlankAsNullChoiceField(serializers.ChoiceField):
    def to_representation(self, value):
        return super().to_representation(value) if value else None


class EnrollmentSerializer(ModelSerializer):
    workflow_name = StrictCharField(source="workflow.name", read_only=True)
    end_reason = BlankAsNullChoiceField(
        choices=Enrollment.EndReason.choices, allow_null=True, read_only=True, help_text="Null while active."
    )
    next_step = WorkflowStepSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Enrollment
        fields = [
            "id",
            "workflow",
            "workflow_name",
            "lead",
            "customer",
            "status",
            "source",
            "started_at",
            "next_step",
            "next_due_at",
            "ended_at",
            "end_reason",
            "updated_at",
        ]
        read_only_fields = fields


class EnrollmentCreateSerializer(serializers.Serializer):
    workflow = OrganizationScopedField(
        Workflow, help_text="A lead follow-up workflow for a lead, collection for a customer."
    )
    lead = OrganizationScopedField(Lead, required=False, select_related=["facility"])
    customer = OrganizationScopedField(Customer, required=False, select_related=["facility"])

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("lead")) == bool(attrs.get("customer")):
            raise serializers.ValidationError({"lead": ["Give either lead or customer (one of them)."]})
        return attrs


STOP_REASONS = [(value, label) for value, label in Enrollment.EndReason.choices if value != "completed"]


class EnrollmentStopSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=STOP_REASONS, default=Enrollment.EndReason.STOPPED)


# --- views ------------------------------------------------------------------------------------


class TaskFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=Task.Status.choices, help_text="`open` for the outstanding list.")
    kind = filters.ChoiceFilter(choices=Task.Kind.choices)
    facility = IdFilter(method="filter_facility", help_text="Only tasks about this facility's people.")
    lead = IdFilter(field_name="lead_id")
    customer = IdFilter(field_name="customer_id")
    due_before = SinceFilter(field_name="due_at", lookup_expr="lte", help_text="Due at or before this time (ISO 8601).")
    updated_since = SinceFilter()

    class Meta:
        model = Task
        fields = ["status", "kind", "facility", "lead", "customer", "due_before", "updated_since"]

    def filter_facility(self, queryset: QuerySet[Task], name: str, value: int) -> QuerySet[Task]:
        return queryset.filter(Q(lead__facility_id=value) | Q(customer__facility_id=value))


@extend_schema_view(
    list=extend_schema(
        summary="List tasks",
        description="Manual texts and call reminders from workflows, oldest due first. "
        "`?status=open&due_before=<now>` is the outstanding list.",
    ),
    retrieve=extend_schema(summary="Read a task"),
    complete=extend_schema(
        summary="Complete a task",
        description="Marks an open task done, optionally with the id of the text that did it (sent to the "
        "same person). A task already done or skipped answers 409 `task_closed`.",
        request=TaskCompleteSerializer,
        responses={200: TaskSerializer, **error_responses(400, 409)},
    ),
    skip=extend_schema(
        summary="Skip a task",
        description="Closes an open task without doing it; `reason` is required.",
        request=TaskSkipSerializer,
        responses={200: TaskSerializer, **error_responses(400, 409)},
        examples=[OpenApiExample("Skip", value={"reason": "Paid at the counter"}, request_only=True)],
    ),
)
class TaskViewSet(OrganizationAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    ordering_fields = ["id", "due_at", "updated_at", "created_at"]
    ordering = ["due_at"]

    def get_queryset(self) -> QuerySet[Task]:
        return tasks_for(organization=self.organization).prefetch_related(
            "lead__phone_numbers", "customer__phone_numbers"
        )

    @action(detail=True, methods=["post"])
    def complete(self, request, *args, **kwargs):
        task = self.get_object()
        serializer = TaskCompleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task_complete(task=task, user=request.user, message_id=serializer.validated_data.get("message_id"))
        return Response(self.get_serializer(self.get_queryset().get(pk=task.pk)).data)

    @action(detail=True, methods=["post"])
    def skip(self, request, *args, **kwargs):
        task = self.get_object()
        serializer = TaskSkipSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task_skip(task=task, user=request.user, reason=serializer.validated_data["reason"])
        return Response(self.get_serializer(self.get_queryset().get(pk=task.pk)).data)


class EnrollmentFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=Enrollment.Status.choices)
    workflow = IdFilter(field_name="workflow_id")
    lead = IdFilter(field_name="lead_id")
    customer = IdFilter(field_name="customer_id")
    updated_since = SinceFilter()

    class Meta:
        model = Enrollment
        fields = ["status", "workflow", "lead", "customer", "updated_since"]


class WorkflowFilter(filters.FilterSet):
    updated_since = SinceFilter()

    class Meta:
        model = Workflow
        fields = ["updated_since"]


@extend_schema_view(
    list=extend_schema(summary="List enrollments"),
    retrieve=extend_schema(summary="Read an enrollment"),
    create=extend_schema(
        summary="Enroll a lead or customer in a workflow",
        description="Leads go into lead follow-up workflows, customers (with a balance due) into collection "
        "workflows. Someone already in a workflow answers 409 `already_enrolled`.",
        request=EnrollmentCreateSerializer,
        responses={201: EnrollmentSerializer, **error_responses(400, 409)},
        examples=[OpenApiExample("A lead", value={"workflow": 1, "lead": 42}, request_only=True)],
    ),
    stop=extend_schema(
        summary="Stop an enrollment",
        description="Ends it early (default reason `stopped`); its open tasks are skipped. "
        "An enrollment already ended answers 409 `not_active`.",
        request=EnrollmentStopSerializer,
        responses={200: EnrollmentSerializer, **error_responses(400, 409)},
    ),
)
class EnrollmentViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = EnrollmentSerializer
    filterset_class = EnrollmentFilter
    ordering_fields = ["id", "updated_at"]
    ordering = ["-id"]

    def get_queryset(self) -> QuerySet[Enrollment]:
        return enrollments_for(organization=self.organization)

    def create(self, request, *args, **kwargs):
        serializer = EnrollmentCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        enrollment = enrollment_start(
            workflow=data["workflow"],
            owner=data.get("lead") or data["customer"],
            source=Enrollment.Source.API,
            user=request.user,
        )
        return Response(
            self.get_serializer(self.get_queryset().get(pk=enrollment.pk)).data, status=status.HTTP_201_CREATED
        )

    @action(detail=True, methods=["post"])
    def stop(self, request, *args, **kwargs):
        enrollment = self.get_object()
        serializer = EnrollmentStopSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        enrollment_stop(enrollment=enrollment, user=request.user, reason=serializer.validated_data["reason"])
        return Response(self.get_serializer(self.get_queryset().get(pk=enrollment.pk)).data)


@extend_schema_view(
    list=extend_schema(summary="List workflows", description="Your organization's workflows with their steps."),
    retrieve=extend_schema(summary="Read a workflow"),
)
class WorkflowViewSet(OrganizationAPIMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = WorkflowSerializer
    filterset_class = WorkflowFilter
    ordering_fields = ["id", "updated_at"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[Workflow]:
        return workflows_for(organization=self.organization, active_only=False).prefetch_related("steps")
