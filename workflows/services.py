"""Follow-up workflows: enrolling leads and customers, scheduling their steps, agents' tasks.

Running due steps (automatic texts through ``message_queue``) is ``materialise.py``.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber

from core.errors import ServiceError
from core.parsing import strict_id
from interactions.models import Consent, Customer, History, Lead, Organization, Owner, PhoneNumber, owner_kwargs
from interactions.services import history_record, phone_number_parse
from interactions.signals import announce_on_commit
from messaging.models import Message

from .models import Enrollment, StepRun, Task, Workflow, WorkflowStep
from .signals import task_changed

STEP_TASK_KINDS: dict[str, str] = {
    WorkflowStep.Action.MANUAL_TEXT: Task.Kind.MANUAL_TEXT,
    WorkflowStep.Action.CALL_REMINDER: Task.Kind.CALL_REMINDER,
}


def _user(user: User | None) -> User | None:
    return user if user is not None and user.is_authenticated else None


# --- scheduling -----------------------------------------------------------------------------


def step_due_at(*, step: WorkflowStep, started_at: datetime, time_zone: str) -> datetime:
    """When ``step`` is due for an enrollment started at ``started_at``: the facility's local day and time."""
    tz = zoneinfo.ZoneInfo(time_zone)
    day = started_at.astimezone(tz).date() + timedelta(days=step.day_offset)
    return datetime.combine(day, step.time_of_day, tzinfo=tz)


def enrollment_advance(*, enrollment: Enrollment, now: datetime | None = None) -> Enrollment:
    """Point ``next_step``/``next_due_at`` at the earliest step not yet run; complete the enrollment if none is left.

    Steps added to the workflow later are picked up; steps already run are never run again.
    """
    if not enrollment.is_active:
        return enrollment
    now = now or timezone.now()
    ran = set(StepRun.objects.filter(enrollment=enrollment).values_list("step_id", flat=True))
    time_zone = enrollment.owner.facility.time_zone
    pending = [
        (step_due_at(step=step, started_at=enrollment.started_at, time_zone=time_zone), step)
        for step in WorkflowStep.objects.filter(workflow_id=enrollment.workflow_id)
        if step.pk not in ran
    ]
    if pending:
        due_at, step = min(pending, key=lambda pair: (pair[0], pair[1].pk))
        enrollment.next_step, enrollment.next_due_at = step, due_at
        enrollment.save(update_fields=["next_step", "next_due_at", "updated_at"])
    else:
        enrollment.next_step, enrollment.next_due_at = None, None
        enrollment.status, enrollment.ended_at = Enrollment.Status.COMPLETED, now
        enrollment.end_reason = Enrollment.EndReason.COMPLETED
        enrollment.save(update_fields=["next_step", "next_due_at", "status", "ended_at", "end_reason", "updated_at"])
    return enrollment


@transaction.atomic
def workflow_reschedule(*, workflow: Workflow) -> int:
    """Recompute the next step of every active enrollment after a manager changed the steps."""
    enrollments = list(
        Enrollment.objects.select_for_update(of=("self",))
        .filter(workflow=workflow, status=Enrollment.Status.ACTIVE)
        .select_related("lead__facility", "customer__facility")
    )
    for enrollment in enrollments:
        enrollment_advance(enrollment=enrollment)
    return len(enrollments)


# --- enrolling and stopping -----------------------------------------------------------------


@transaction.atomic
def enrollment_start(
    *,
    workflow: Workflow,
    owner: Owner,
    source: str,
    user: User | None = None,
    started_at: datetime | None = None,
) -> Enrollment:
    """Enroll a lead (lead follow-up) or a customer (collection) in ``workflow``.

    Refused when the workflow is switched off or of the other kind, the person is already in a
    workflow, the lead is converted or lost, or the customer owes nothing.
    """
    _check_workflow_takes(workflow, owner)
    _check_worth_following_up(owner)
    # Lock the person so two enrollments started at once cannot both pass the check below.
    type(owner).objects.select_for_update().filter(pk=owner.pk).first()
    current = (
        Enrollment.objects.filter(status=Enrollment.Status.ACTIVE, **owner_kwargs(owner))
        .select_related("workflow")
        .first()
    )
    if current is not None:
        raise ServiceError(
            "already_enrolled",
            f"{owner.full_name} is already in “{current.workflow.name}”. Stop that first.",
            field="workflow",
            status=409,
            enrollment=current.pk,
        )
    if source not in Enrollment.Source.values:
        raise ServiceError("invalid_source", f"Unknown enrollment source “{source}”.", field="source")
    now = timezone.now()
    try:
        with transaction.atomic():
            enrollment = Enrollment.objects.create(
                organization_id=owner.organization_id,
                workflow=workflow,
                status=Enrollment.Status.ACTIVE,
                source=source,
                started_at=started_at or now,
                enrolled_by=_user(user),
                **owner_kwargs(owner),
            )
    except IntegrityError as exc:  # a concurrent enrollment won
        raise ServiceError(
            "already_enrolled", f"{owner.full_name} is already in a workflow.", field="workflow", status=409
        ) from exc
    enrollment_advance(enrollment=enrollment, now=now)
    history_record(
        owner=owner,
        kind=History.Kind.NOTE,
        agent=user,
        summary=f"Enrolled in “{workflow.name}” {_enrolled_by_whom(user, source)}.",
    )
    return enrollment


def _check_workflow_takes(workflow: Workflow, owner: Owner) -> None:
    """The workflow is the organization's, switched on and of the person's kind (leads or customers)."""
    if workflow.organization_id != owner.organization_id:
        raise ServiceError("not_found", "That workflow does not exist.", field="workflow", status=404)
    if not workflow.active:
        raise ServiceError(
            "inactive_workflow", f"The workflow “{workflow.name}” is switched off; pick another one.", field="workflow"
        )
    if workflow.owner_kind != owner.kind:
        raise ServiceError(
            "wrong_kind",
            f"“{workflow.name}” is a {workflow.get_kind_display().lower()} workflow; it takes "
            f"{workflow.owner_kind}s, and {owner.full_name} is a {owner.kind}.",
            field="workflow",
        )


def _check_worth_following_up(owner: Owner) -> None:
    """An open lead, or a customer who owes; and not opted out of texts on every number."""
    if isinstance(owner, Lead) and owner.status in (Lead.Status.CONVERTED, Lead.Status.LOST):
        raise ServiceError(
            "lead_closed", f"{owner.full_name} is {owner.get_status_display().lower()}; there is nothing to follow up."
        )
    if isinstance(owner, Customer) and owner.balance_due <= 0:
        raise ServiceError("no_balance", f"{owner.full_name} has no balance due.")
    if owner_opted_out(owner=owner):
        raise ServiceError(
            "opted_out",
            f"{owner.full_name} opted out of texts; a follow-up workflow would text them.",
            field="workflow",
        )


def _enrolled_by_whom(user: User | None, source: str) -> str:
    if actor := _user(user):
        return f"by {actor.get_full_name() or actor.get_username()}"
    sources: dict[str, str] = {
        Enrollment.Source.AUTOMATIC: "automatically",
        Enrollment.Source.API: "through the API",
    }
    return sources.get(source, "by an agent")


def owner_opted_out(*, owner: Owner) -> bool:
    """Every number of the person is opted out (a person without numbers is not)."""
    numbers = [p.number for p in owner.phone_numbers.all()]
    if not numbers:
        return False
    revoked = Consent.objects.filter(
        organization_id=owner.organization_id, number__in=numbers, status=Consent.Status.REVOKED
    ).count()
    return revoked >= len(set(str(n) for n in numbers))


def enrollment_end_opted_out(*, enrollment: Enrollment) -> None:
    """The person opted out while enrolled: the workflow ends, its open tasks skip themselves saying why."""
    _end(enrollment=enrollment, reason=Enrollment.EndReason.OPTED_OUT, user=None, now=timezone.now())


def _end(*, enrollment: Enrollment, reason: str, user: User | None, now: datetime) -> None:
    enrollment.status = Enrollment.Status.STOPPED
    enrollment.end_reason, enrollment.ended_at, enrollment.ended_by = reason, now, _user(user)
    enrollment.next_step, enrollment.next_due_at = None, None
    enrollment.save(
        update_fields=["status", "end_reason", "ended_at", "ended_by", "next_step", "next_due_at", "updated_at"]
    )
    label = Enrollment.EndReason(reason).label
    # Work left from the workflow is moot once it ends early (a paid balance needs no reminder).
    Task.objects.filter(enrollment=enrollment, status=Task.Status.OPEN).update(
        status=Task.Status.SKIPPED, skip_reason=f"Workflow ended: {label.lower()}", completed_at=now, updated_at=now
    )
    history_record(
        owner=enrollment.owner,
        kind=History.Kind.NOTE,
        agent=user,
        summary=f"Left “{enrollment.workflow.name}”: {label.lower()}.",
    )


@transaction.atomic
def enrollment_stop(
    *, enrollment: Enrollment, user: User | None = None, reason: str = Enrollment.EndReason.STOPPED
) -> Enrollment:
    """End an active enrollment early; its open tasks are skipped and no further step runs."""
    locked = Enrollment.objects.select_for_update(of=("self",)).select_related("workflow").get(pk=enrollment.pk)
    if not locked.is_active:
        raise ServiceError(
            "not_active",
            f"This enrollment already ended ({locked.get_end_reason_display().lower() or locked.status}).",
            status=409,
        )
    if reason not in Enrollment.EndReason.values or reason == Enrollment.EndReason.COMPLETED:
        raise ServiceError("invalid_reason", f"Unknown reason “{reason}”.", field="reason")
    _end(enrollment=locked, reason=reason, user=user, now=timezone.now())
    return locked


def _end_active(*, owner: Owner, reason: str, kind: str | None = None) -> int:
    active = Enrollment.objects.select_for_update(of=("self",)).select_related("workflow")
    active = active.filter(status=Enrollment.Status.ACTIVE, **owner_kwargs(owner))
    if kind:
        active = active.filter(workflow__kind=kind)
    ended = 0
    now = timezone.now()
    for enrollment in active:
        _end(enrollment=enrollment, reason=reason, user=None, now=now)
        ended += 1
    return ended


def _default_workflow(*, organization_id: int, kind: str) -> Workflow | None:
    return Workflow.objects.filter(organization_id=organization_id, kind=kind, is_default=True, active=True).first()


@transaction.atomic
def enrollments_sync_lead(*, lead: Lead, created: bool = False) -> Enrollment | None:
    """Call after a lead is created or its status changes.

    A new lead joins the organization's default lead follow-up workflow (if there is one); a
    converted or lost lead leaves its workflow.
    """
    if lead.status in (Lead.Status.CONVERTED, Lead.Status.LOST):
        reason = Enrollment.EndReason.CONVERTED if lead.status == Lead.Status.CONVERTED else Enrollment.EndReason.LOST
        _end_active(owner=lead, reason=reason)
        return None
    if not created:
        return None
    workflow = _default_workflow(organization_id=lead.organization_id, kind=Workflow.Kind.LEAD_FOLLOW_UP)
    if workflow is None or owner_opted_out(owner=lead):
        return None
    return enrollment_start(workflow=workflow, owner=lead, source=Enrollment.Source.AUTOMATIC)


@transaction.atomic
def enrollments_sync_customer(*, customer: Customer, previous_balance: Decimal | None) -> Enrollment | None:
    """Call after a customer's balance changed (``previous_balance`` is ``None`` for a new customer).

    A balance that falls due joins the default collection workflow; a paid balance ends it.
    """
    before = previous_balance or Decimal("0")
    if customer.balance_due <= 0:
        if before > 0:
            _end_active(owner=customer, reason=Enrollment.EndReason.PAID, kind=Workflow.Kind.COLLECTION)
        return None
    if before > 0:
        return None
    workflow = _default_workflow(organization_id=customer.organization_id, kind=Workflow.Kind.COLLECTION)
    if workflow is None or Enrollment.objects.filter(customer=customer, status=Enrollment.Status.ACTIVE).exists():
        return None
    if owner_opted_out(owner=customer):
        return None
    return enrollment_start(workflow=workflow, owner=customer, source=Enrollment.Source.AUTOMATIC)


@transaction.atomic
def enrollments_stop_for_number(*, organization: Organization, number: str | ParsedNumber) -> int:
    """End the workflows of everyone this number belongs to: they asked not to be texted."""
    parsed = phone_number_parse(number, field="phone_number")
    ended = 0
    for phone in PhoneNumber.objects.filter(organization=organization, number=parsed).select_related(
        "lead", "customer"
    ):
        ended += _end_active(owner=phone.owner, reason=Enrollment.EndReason.OPTED_OUT)
    return ended


# --- step runs and tasks (called by the materialiser) -----------------------------------------


def step_run_record(
    *,
    enrollment: Enrollment,
    step: WorkflowStep,
    due_at: datetime,
    outcome: str,
    now: datetime,
    message_id: int | None = None,
    refusal: ServiceError | None = None,
) -> StepRun | None:
    """Record that ``step`` ran for ``enrollment``; ``None`` if it had already run (nothing is written twice)."""
    try:
        with transaction.atomic():
            return StepRun.objects.create(
                organization_id=enrollment.organization_id,
                enrollment=enrollment,
                step=step,
                due_at=due_at,
                ran_at=now,
                outcome=outcome,
                message_id=message_id,
                refusal_code=refusal.code if refusal else "",
                refusal_detail=refusal.message[:500] if refusal else "",
            )
    except IntegrityError:
        return None


def task_create_for_step(*, enrollment: Enrollment, step: WorkflowStep, due_at: datetime) -> Task | None:
    """Turn a due manual-text or call-reminder step into a task; ``None`` if that task exists already."""
    try:
        with transaction.atomic():
            task = Task.objects.create(
                organization_id=enrollment.organization_id,
                kind=STEP_TASK_KINDS[step.action],
                due_at=due_at,
                enrollment=enrollment,
                step=step,
                lead_id=enrollment.lead_id,
                customer_id=enrollment.customer_id,
            )
    except IntegrityError:
        return None
    announce_on_commit(task_changed, Task, task=task, created=True)
    return task


def _closed_refusal(task: Task) -> ServiceError:
    if task.status == Task.Status.DONE:
        by = f" by {task.completed_by.get_full_name() or task.completed_by.get_username()}" if task.completed_by else ""
        what = f"already done{by}"
    else:
        what = f"skipped ({task.skip_reason})" if task.skip_reason else "skipped"
    return ServiceError("task_closed", f"This task was {what}.", status=409, task_status=task.status)


@transaction.atomic
def task_complete(*, task: Task, user: User | None, message_id: int | None = None) -> Task:
    """Mark a task done, optionally with the text that did it (which must be to the same person)."""
    locked = Task.objects.select_for_update(of=("self",)).select_related("completed_by").get(pk=task.pk)
    if not locked.is_open:
        raise _closed_refusal(locked)
    if message_id is not None:
        message = Message.objects.filter(pk=message_id, organization_id=locked.organization_id).first()
        if message is None:
            raise ServiceError("not_found", "That message does not exist.", field="message_id", status=404)
        if (message.lead_id, message.customer_id) != (locked.lead_id, locked.customer_id):
            raise ServiceError(
                "wrong_person", "That message was sent to someone else than this task is about.", field="message_id"
            )
    now = timezone.now()
    locked.status, locked.completed_by, locked.completed_at = Task.Status.DONE, _user(user), now
    locked.message_id = message_id
    locked.save(update_fields=["status", "completed_by", "completed_at", "message", "updated_at"])
    announce_on_commit(task_changed, Task, task=locked, created=False)
    if locked.kind == Task.Kind.CALL_REMINDER:
        history_record(
            owner=locked.owner,
            kind=History.Kind.NOTE,
            agent=user,
            summary=f"Call reminder done ({locked.enrollment.workflow.name}).",
        )
    return locked


@transaction.atomic
def task_skip(*, task: Task, user: User | None, reason: str) -> Task:
    """Close a task without doing it; the reason is required and kept on the task and in the history."""
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("reason_required", "Say why the task is skipped.", field="reason")
    if len(reason) > 300:
        raise ServiceError("too_long", "Keep the reason under 300 characters.", field="reason")
    locked = Task.objects.select_for_update(of=("self",)).select_related("completed_by").get(pk=task.pk)
    if not locked.is_open:
        raise _closed_refusal(locked)
    now = timezone.now()
    locked.status, locked.skip_reason = Task.Status.SKIPPED, reason
    locked.completed_by, locked.completed_at = _user(user), now
    locked.save(update_fields=["status", "skip_reason", "completed_by", "completed_at", "updated_at"])
    announce_on_commit(task_changed, Task, task=locked, created=False)
    history_record(
        owner=locked.owner,
        kind=History.Kind.NOTE,
        agent=user,
        summary=f"Skipped {locked.get_kind_display().lower()} ({locked.enrollment.workflow.name}): {reason}",
    )
    return locked


def task_complete_by_text(*, task_id: int | str, message: Message, user: User | None) -> Task | None:
    """Complete the open task ``task_id`` with the text just sent from the card's panel.

    ``None`` when there is nothing to complete (unknown id, another organization's, already
    closed, or a task about someone else): the text itself went out either way.
    """
    pk = strict_id(task_id)
    if pk is None:
        return None
    task = Task.objects.filter(pk=pk, organization_id=message.organization_id, status=Task.Status.OPEN).first()
    if task is None:
        return None
    try:
        return task_complete(task=task, user=user, message_id=message.pk)
    except ServiceError:
        return None
