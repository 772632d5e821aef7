"""Running workflow steps that came due: automatic texts through ``message_queue``, the rest as tasks.

Safe to run twice and in several workers at once: each enrollment is locked with
``SKIP LOCKED`` while its due steps run, and a step runs at most once per enrollment (a unique
constraint on the step run and on the task backs that up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.errors import ServiceError
from interactions.models import Customer, Lead, PhoneNumber
from interactions.selectors import consents_by_number
from messaging.models import Message
from messaging.services import message_queue

from .models import Enrollment, StepRun, WorkflowStep
from .services import (
    STEP_TASK_KINDS,
    enrollment_advance,
    enrollment_end_opted_out,
    owner_opted_out,
    step_run_record,
    task_create_for_step,
)


@dataclass
class MaterialiseReport:
    enrollments: int = 0
    texts_queued: int = 0
    texts_scheduled: int = 0
    texts_refused: int = 0
    tasks_created: int = 0

    @property
    def steps(self) -> int:
        return self.texts_queued + self.texts_scheduled + self.texts_refused + self.tasks_created


def _number_to_text(owner: Lead | Customer) -> PhoneNumber | None:
    """The primary number if it may be texted, else the first other number that may, else the primary.

    "May be texted": permission on record, and not a number that cannot get texts (a landline, or
    the carrier said so).
    """
    numbers = list(owner.phone_numbers.order_by("-is_primary", "id"))
    if not numbers:
        return None
    consents = consents_by_number(organization=owner.organization, numbers=numbers)
    granted = [n for n in numbers if (c := consents.get(n.e164)) is not None and c.is_granted and not n.not_textable]
    return granted[0] if granted else numbers[0]


_COUNTED_AS: dict[str, str] = {
    StepRun.Outcome.TEXT_QUEUED: "texts_queued",
    StepRun.Outcome.TEXT_SCHEDULED: "texts_scheduled",
    StepRun.Outcome.TEXT_REFUSED: "texts_refused",
}


def _send_automatic_text(
    *, enrollment: Enrollment, step: WorkflowStep, due_at: datetime, now: datetime, report: MaterialiseReport
) -> None:
    outcome, message, refusal = _queue_or_hold(enrollment=enrollment, step=step, now=now)
    recorded = step_run_record(
        enrollment=enrollment,
        step=step,
        due_at=due_at,
        outcome=outcome,
        now=now,
        message_id=message.pk if message is not None else None,
        refusal=refusal,
    )
    if recorded:
        counter = _COUNTED_AS[outcome]
        setattr(report, counter, getattr(report, counter) + 1)


def _queue_or_hold(
    *, enrollment: Enrollment, step: WorkflowStep, now: datetime
) -> tuple[str, Message | None, ServiceError | None]:
    """The step's text queued now, or held for the first moment it may go (outside texting hours, or a
    state's 24-hour cap is full: never dropped), or the refusal: the outcome, the text, the refusal."""
    owner = enrollment.owner
    phone = _number_to_text(owner)
    if step.template is None:
        return StepRun.Outcome.TEXT_REFUSED, None, ServiceError("no_template", "The step has no template to send.")
    if phone is None:
        refusal = ServiceError("no_number", f"{owner.full_name} has no phone number on record.")
        return StepRun.Outcome.TEXT_REFUSED, None, refusal
    try:
        message = message_queue(phone_number=phone, sent_by=None, template=step.template, now=now)
    except ServiceError as exc:
        if exc.code not in ("quiet_hours", "frequency_cap") or exc.extra.get("next_allowed_at") is None:
            return StepRun.Outcome.TEXT_REFUSED, None, exc
        held = message_queue(
            phone_number=phone, sent_by=None, template=step.template, send_at=exc.extra["next_allowed_at"], now=now
        )
        return StepRun.Outcome.TEXT_SCHEDULED, held, exc
    return StepRun.Outcome.TEXT_QUEUED, message, None


def _run_step(
    *, enrollment: Enrollment, step: WorkflowStep, due_at: datetime, now: datetime, report: MaterialiseReport
) -> None:
    if step.action == WorkflowStep.Action.AUTOMATIC_TEXT:
        _send_automatic_text(enrollment=enrollment, step=step, due_at=due_at, now=now, report=report)
        return
    if step.action in STEP_TASK_KINDS:
        task = task_create_for_step(enrollment=enrollment, step=step, due_at=due_at)
        run = step_run_record(
            enrollment=enrollment, step=step, due_at=due_at, outcome=StepRun.Outcome.TASK_CREATED, now=now
        )
        if task and run:
            report.tasks_created += 1


def workflows_materialise(*, now: datetime | None = None, limit: int = 500) -> MaterialiseReport:
    """Run every workflow step due by ``now``, one transaction per enrollment.

    Automatic texts are queued through ``message_queue``; a refusal (no consent, opted out…) is
    recorded on the step run; texting hours and caps schedule the text for the next allowed time.
    Manual texts and call reminders become open tasks on the outstanding list.
    """
    now = now or timezone.now()
    report = MaterialiseReport()
    due = Enrollment.objects.filter(status=Enrollment.Status.ACTIVE, next_due_at__lte=now, workflow__active=True)
    for pk in list(due.order_by("next_due_at", "pk").values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            # Another worker holding this enrollment has it in hand: skip, don't wait. The filter is
            # applied again under the lock, so an enrollment it just finished is not run twice.
            enrollment = (
                Enrollment.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("workflow", "lead__facility", "customer__facility")
                .filter(pk=pk, status=Enrollment.Status.ACTIVE, next_due_at__lte=now, workflow__active=True)
                .first()
            )
            if enrollment is None:
                continue
            report.enrollments += 1
            if owner_opted_out(owner=enrollment.owner):
                # Opted out before the workflow could hear of it (a number saved after its STOP).
                enrollment_end_opted_out(enrollment=enrollment)
                continue
            while enrollment.is_active and enrollment.next_due_at and enrollment.next_due_at <= now:
                step = (
                    WorkflowStep.objects.select_related("template").filter(pk=enrollment.next_step_id).first()
                    if enrollment.next_step_id
                    else None
                )
                if step is None:  # the step was deleted since: look again at what is left
                    enrollment_advance(enrollment=enrollment, now=now)
                    continue
                _run_step(enrollment=enrollment, step=step, due_at=enrollment.next_due_at, now=now, report=report)
                enrollment_advance(enrollment=enrollment, now=now)
    return report
