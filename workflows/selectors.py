"""Reads for the outstanding list, the card's workflow box and the workflow API. Scoped to one organization."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from interactions.models import Customer, Lead, Organization, Owner, PhoneNumber, owner_kwargs

from .models import Enrollment, StepRun, Task, Workflow


def card_url(owner: Owner, **params: object) -> str:
    """The card of a lead or customer (``/leads/<id>/``, ``/customers/<id>/``), with query parameters."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"/{owner.kind}s/{owner.pk}/" + (f"?{query}" if query else "")


def task_card_url(task: Task) -> str:
    """Where a task is done: the person's card; for a manual text, with the text panel open and pre-filled.

    Numbers are read through ``owner.phone_numbers.all()`` so a prefetch (primary first) is used.
    """
    owner = task.owner
    if task.kind != Task.Kind.MANUAL_TEXT:
        return card_url(owner, task=task.pk)
    numbers = sorted(owner.phone_numbers.all(), key=lambda n: (not n.is_primary, n.pk))
    return card_url(
        owner,
        compose=1,
        phone=numbers[0].pk if numbers else None,
        template=task.step.template_id if task.step else None,
        task=task.pk,
    )


def tasks_outstanding(
    *, organization: Organization, facility_id: int | None = None, kind: str = "", now: datetime | None = None
) -> list[Task]:
    """Open tasks that are due, oldest first, each with ``overdue`` (due on an earlier day at its facility)."""
    now = now or timezone.now()
    qs = (
        Task.objects.filter(organization=organization, status=Task.Status.OPEN, due_at__lte=now)
        .select_related("lead__facility", "customer__facility", "step__template", "enrollment__workflow")
        .prefetch_related(
            Prefetch("lead__phone_numbers", queryset=PhoneNumber.objects.order_by("-is_primary", "id")),
            Prefetch("customer__phone_numbers", queryset=PhoneNumber.objects.order_by("-is_primary", "id")),
        )
        .order_by("due_at", "id")
    )
    if facility_id:
        qs = qs.filter(Q(lead__facility_id=facility_id) | Q(customer__facility_id=facility_id))
    if kind:
        qs = qs.filter(kind=kind)
    tasks = list(qs)
    for task in tasks:
        tz = zoneinfo.ZoneInfo(task.owner.facility.time_zone)
        task.overdue = task.due_at.astimezone(tz).date() < now.astimezone(tz).date()
        task.card_url = task_card_url(task)
    return tasks


def task_counts(*, organization: Organization, facility_id: int | None = None, now: datetime | None = None) -> dict:
    """Open, due tasks per kind (every kind present, zero included), for the outstanding list's tabs."""
    now = now or timezone.now()
    qs = Task.objects.filter(organization=organization, status=Task.Status.OPEN, due_at__lte=now)
    if facility_id:
        qs = qs.filter(Q(lead__facility_id=facility_id) | Q(customer__facility_id=facility_id))
    counts = dict.fromkeys(Task.Kind.values, 0)
    counts.update({row["kind"]: row["n"] for row in qs.values("kind").annotate(n=Count("id"))})
    return counts


def tasks_for(*, organization: Organization) -> QuerySet[Task]:
    """All tasks of an organization (API list), with what their rows show."""
    return Task.objects.filter(organization=organization).select_related(
        "lead", "customer", "step", "enrollment__workflow", "completed_by"
    )


def enrollments_for(*, organization: Organization) -> QuerySet[Enrollment]:
    return Enrollment.objects.filter(organization=organization).select_related(
        "workflow", "lead", "customer", "next_step"
    )


def workflows_for(*, organization: Organization, kind: str = "", active_only: bool = True) -> QuerySet[Workflow]:
    qs = Workflow.objects.filter(organization=organization)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.filter(active=True) if active_only else qs


@dataclass
class EnrollmentBox:
    """What the card shows about workflows: the current enrollment, its step log, open tasks, the enroll choices."""

    current: Enrollment | None
    runs: list[StepRun]
    open_tasks: list[Task]
    last_ended: Enrollment | None
    workflows: list[Workflow]


def enrollment_box_for(*, owner: Lead | Customer) -> EnrollmentBox:
    owner_filter = owner_kwargs(owner)
    enrollments = list(
        Enrollment.objects.filter(**owner_filter)
        .select_related("workflow", "next_step__template")
        .order_by("-started_at", "-id")[:2]
    )
    current = next((e for e in enrollments if e.is_active), None)
    last_ended = next((e for e in enrollments if not e.is_active), None)
    runs: list[StepRun] = []
    shown = current or last_ended
    if shown is not None:
        runs = list(shown.step_runs.select_related("step", "message").order_by("due_at", "id"))
    open_tasks = list(
        Task.objects.filter(status=Task.Status.OPEN, **owner_filter).select_related("step__template").order_by("due_at")
    )
    kind = Workflow.Kind.LEAD_FOLLOW_UP if isinstance(owner, Lead) else Workflow.Kind.COLLECTION
    workflows = [] if current else list(workflows_for(organization=owner.organization, kind=kind))
    return EnrollmentBox(current=current, runs=runs, open_tasks=open_tasks, last_ended=last_ended, workflows=workflows)
