from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from freezegun import freeze_time

from interactions.pms import import_pms_customers
from interactions.services import consent_grant, consent_revoke
from messaging.models import Message
from messaging.services import message_queue, messages_release_scheduled
from tests.factories import (
    CustomerFactory,
    FacilityFactory,
    MessageTemplateFactory,
    OrganizationFactory,
    PhoneNumberFactory,
    WorkflowFactory,
    WorkflowStepFactory,
)
from workflows.materialise import workflows_materialise
from workflows.models import Enrollment, StepRun, Task, Workflow
from workflows.services import enrollment_start, task_complete

# Monday March 2, 2026. Austin is on CST (UTC-6) until March 8.
MONDAY_9AM = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Materialise at a moment, running the sends queued on commit as the worker would."""

    def _run(at: datetime):
        with freeze_time(at), django_capture_on_commit_callbacks(execute=True):
            return workflows_materialise()

    return _run


def _at(days: int, hour: int, minute: int = 0) -> datetime:
    """Local Austin time on Monday + ``days``, as UTC (CST all along these tests)."""
    return MONDAY_9AM + timedelta(days=days, hours=hour - 9, minutes=minute)


def _csv(facility, balance: str) -> io.StringIO:
    return io.StringIO(
        "facility,pms_id,first_name,last_name,balance_due,phone\n"
        f"{facility.name},P-77,Dana,Diaz,{balance},+15125550190\n"
    )


@pytest.fixture
def collection(org):
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.COLLECTION, name="Past due", is_default=True)
    reminder = MessageTemplateFactory(
        organization=org,
        name="Balance reminder",
        body="Hi {{ first_name }}, your balance of {{ balance_due }} at {{ facility_name }} is due.",
    )
    final = MessageTemplateFactory(organization=org, name="Final notice", body="{{ first_name }}: final notice.")
    WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(10, 0), template=reminder)
    WorkflowStepFactory(workflow=workflow, day_offset=3, time_of_day=time(10, 0), action="manual_text")
    WorkflowStepFactory(workflow=workflow, day_offset=5, time_of_day=time(15, 0), action="call_reminder")
    WorkflowStepFactory(workflow=workflow, day_offset=8, time_of_day=time(10, 0), template=final)
    return workflow


def test_a_whole_collection_workflow_from_balance_due_to_paid(org, facility, collection, agent, outbox, run):
    with freeze_time(MONDAY_9AM):
        import_pms_customers(organization=org, stream=_csv(facility, "0.00"))
        consent_grant(organization=org, number="+15125550190", source="pms_import", evidence="rental agreement")
        import_pms_customers(organization=org, stream=_csv(facility, "129.00"))
    enrollment = Enrollment.objects.get()
    assert enrollment.next_due_at == _at(0, 10)

    assert run(_at(0, 9, 30)).steps == 0
    assert outbox == []

    # Day 0, 10:00 Austin: the automatic reminder goes out, with the balance and the unsubscribe link.
    report = run(_at(0, 10, 0))
    assert report.texts_queued == 1
    assert len(outbox) == 1
    assert outbox[0]["to"] == "+15125550190"
    assert outbox[0]["body"].startswith("Hi Dana, your balance of $129.00 at Lakeside Austin is due.")
    assert "Unsubscribe: https://textdesk.test/u/" in outbox[0]["body"]
    assert run(_at(0, 10, 1)).steps == 0  # nothing twice

    # Day 3: a manual text for an agent, who sends it from the card and completes the task.
    assert run(_at(3, 10, 0)).tasks_created == 1
    task = Task.objects.get()
    assert (task.kind, task.status, task.due_at) == ("manual_text", "open", _at(3, 10))
    with freeze_time(_at(3, 11)):
        message = message_queue(
            phone_number=task.customer.phone_numbers.get(), sent_by=agent, template=task.step.template
        )
        task_complete(task=task, user=agent, message_id=message.pk)

    # Day 5, 3 pm: a call reminder.
    assert run(_at(5, 15, 0)).tasks_created == 1
    assert Task.objects.filter(kind="call_reminder", status="open").count() == 1

    # Day 6: the balance is paid; the workflow ends and its open call reminder closes.
    with freeze_time(_at(6, 9)):
        import_pms_customers(organization=org, stream=_csv(facility, "0.00"))
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.end_reason) == ("stopped", "paid")
    assert Task.objects.get(kind="call_reminder").status == Task.Status.SKIPPED

    # Day 8: the final notice is not sent.
    assert run(_at(8, 10, 0)).steps == 0
    assert [m["body"][:4] for m in outbox] == ["Hi D"]
    assert Message.objects.filter(direction="outbound").count() == 2  # the reminder and the agent's text


@pytest.fixture
def daily_texts(org):
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP, name="Daily")
    for day in range(3):
        WorkflowStepFactory(workflow=workflow, day_offset=day, time_of_day=time(10, 0))
    return workflow


def test_an_opt_out_mid_workflow_stops_further_texts(org, consented_number, daily_texts, outbox, run):
    with freeze_time(MONDAY_9AM):
        enrollment = enrollment_start(workflow=daily_texts, owner=consented_number.lead, source="agent")
    run(_at(0, 10))
    run(_at(1, 10))
    assert len(outbox) == 2

    with freeze_time(_at(1, 12)):
        consent_revoke(organization=org, number=consented_number.number, source="sms_keyword", evidence="STOP")
    report = run(_at(2, 10))

    assert report.steps == 0
    assert len(outbox) == 2
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.end_reason) == ("stopped", "opted_out")


def test_quiet_hours_hold_an_automatic_text_until_morning(
    org, consented_number, outbox, run, django_capture_on_commit_callbacks
):
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP)
    WorkflowStepFactory(workflow=workflow, day_offset=1, time_of_day=time(6, 30))
    with freeze_time(MONDAY_9AM):
        enrollment_start(workflow=workflow, owner=consented_number.lead, source="agent")

    report = run(_at(1, 6, 31))

    assert report.texts_scheduled == 1
    step_run = StepRun.objects.get()
    assert (step_run.outcome, step_run.refusal_code) == ("text_scheduled", "quiet_hours")
    assert "outside texting hours" in step_run.refusal_detail
    assert step_run.message.status == Message.Status.SCHEDULED
    assert step_run.message.send_at == _at(1, 9)  # Texas law: 9 a.m. on weekdays
    assert outbox == []

    with freeze_time(_at(1, 9, 1)), django_capture_on_commit_callbacks(execute=True):
        messages_release_scheduled()
    assert len(outbox) == 1


def test_a_refused_automatic_text_is_recorded_and_the_workflow_goes_on(org, facility, outbox, run):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550191")  # no permission on record
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP)
    WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(10, 0))
    WorkflowStepFactory(workflow=workflow, day_offset=1, time_of_day=time(10, 0), action="call_reminder")
    with freeze_time(MONDAY_9AM):
        enrollment = enrollment_start(workflow=workflow, owner=phone.lead, source="agent")

    report = run(_at(1, 10, 5))  # both steps are due by now: they run in order

    assert (report.texts_refused, report.tasks_created) == (1, 1)
    refused = StepRun.objects.get(outcome="text_refused")
    assert refused.refusal_code == "no_consent"
    assert "no text permission on record" in refused.refusal_detail
    assert outbox == []
    assert Task.objects.get().kind == "call_reminder"
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.COMPLETED


def test_materialising_twice_creates_nothing_twice(org, consented_number, outbox, run):
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP)
    WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(10, 0))
    WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(10, 0), action="manual_text")
    with freeze_time(MONDAY_9AM):
        enrollment_start(workflow=workflow, owner=consented_number.lead, source="agent")

    first = run(_at(0, 11))
    second = run(_at(0, 11))

    assert first.steps == 2
    assert second.steps == 0
    assert StepRun.objects.count() == 2
    assert set(StepRun.objects.values_list("organization", flat=True)) == {org.pk}  # the enrollment's
    assert Task.objects.count() == 1
    assert len(outbox) == 1


def test_a_switched_off_workflow_waits(org, consented_number, daily_texts, outbox, run):
    with freeze_time(MONDAY_9AM):
        enrollment_start(workflow=daily_texts, owner=consented_number.lead, source="agent")
    daily_texts.active = False
    daily_texts.save()

    assert run(_at(0, 11)).steps == 0

    daily_texts.active = True
    daily_texts.save()
    assert run(_at(0, 11)).texts_queued == 1


@pytest.mark.postgres(reason="two materialisers racing with SELECT … FOR UPDATE SKIP LOCKED")
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_create_nothing_twice(outbox, settings):
    settings.TEXTING_LAW_WINDOWS_OFF_FOR_TESTS = True
    # Texting hours around the clock: the race is about the materialiser, not the hour the suite runs at.
    org = OrganizationFactory(slug="busy", quiet_hours_start=time(0, 0), quiet_hours_end=time(23, 59, 59, 999999))
    facility = FacilityFactory(organization=org, name="Busy Austin")
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.COLLECTION)
    WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(10, 0))
    WorkflowStepFactory(workflow=workflow, day_offset=1, time_of_day=time(10, 0), action="manual_text")
    WorkflowStepFactory(workflow=workflow, day_offset=2, time_of_day=time(10, 0), action="call_reminder")
    started = datetime.now(UTC) - timedelta(days=5)
    people = 30
    for i in range(people):
        customer = CustomerFactory(facility=facility, balance_due=Decimal("50"))
        phone = PhoneNumberFactory(lead=None, customer=customer, number=f"+1512555{3000 + i:04d}")
        consent_grant(organization=org, number=phone.number, source="pms_import")
        enrollment_start(workflow=workflow, owner=phone.customer, source="api", started_at=started)

    barrier = threading.Barrier(2)
    reports, errors = [], []

    def worker():
        try:
            barrier.wait()
            reports.append(workflows_materialise())
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sum(r.enrollments for r in reports) == people
    assert sum(r.steps for r in reports) == people * 3
    assert StepRun.objects.count() == people * 3
    assert Task.objects.count() == people * 2
    assert Message.objects.count() == people
    assert len(outbox) == people


def test_a_step_deleted_after_it_ran_keeps_its_task_and_the_workflow_goes_on(org, consented_number, outbox, run):
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP)
    call = WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(10, 0), action="call_reminder")
    doomed = WorkflowStepFactory(workflow=workflow, day_offset=1, time_of_day=time(10, 0), action="manual_text")
    WorkflowStepFactory(workflow=workflow, day_offset=2, time_of_day=time(10, 0))
    with freeze_time(MONDAY_9AM):
        enrollment = enrollment_start(workflow=workflow, owner=consented_number.lead, source="agent")
    run(_at(0, 10))
    enrollment.refresh_from_db()
    assert enrollment.next_step == doomed

    call.delete()
    doomed.delete()
    report = run(_at(2, 10))

    assert report.texts_queued == 1
    task = Task.objects.get()
    assert (task.kind, task.step) == ("call_reminder", None)
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.COMPLETED


def test_a_workflow_texts_the_records_mobile_rather_than_its_landline(org, facility, collection, outbox, run):
    with freeze_time(MONDAY_9AM):
        customer = CustomerFactory(facility=facility, first_name="Dana", balance_due=Decimal("129.00"))
        landline = PhoneNumberFactory(lead=None, customer=customer, number="+15125550191", line_type="landline")
        PhoneNumberFactory(lead=None, customer=customer, number="+15125550192", is_primary=False)
        for number in ("+15125550191", "+15125550192"):
            consent_grant(organization=org, number=number, source="pms_import", evidence="rental agreement")
        enrollment_start(workflow=collection, owner=customer, source="agent")
    assert landline.is_primary

    assert run(_at(0, 10, 0)).texts_queued == 1

    assert [sent["to"] for sent in outbox] == ["+15125550192"]
