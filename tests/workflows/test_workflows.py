from __future__ import annotations

import io
from datetime import UTC, datetime, time
from decimal import Decimal

import pytest
from freezegun import freeze_time

from core.errors import ServiceError
from interactions.models import History, Lead
from interactions.pms import import_pms_customers
from interactions.services import consent_grant, consent_revoke
from tests.factories import (
    CustomerFactory,
    LeadFactory,
    MessageFactory,
    PhoneNumberFactory,
    WorkflowFactory,
    WorkflowStepFactory,
)
from workflows.models import Enrollment, StepRun, Task, Workflow, WorkflowStep
from workflows.services import (
    enrollment_start,
    enrollment_stop,
    enrollments_sync_lead,
    task_complete,
    task_create_for_step,
    task_skip,
)


@pytest.fixture
def text_then_call_follow_up(org):
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP, name="New lead follow-up")
    WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(9, 0), action="manual_text")
    WorkflowStepFactory(workflow=workflow, day_offset=2, time_of_day=time(14, 30), action="call_reminder")
    return workflow


@pytest.fixture
def collection(org):
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.COLLECTION, name="Past due")
    WorkflowStepFactory(workflow=workflow, day_offset=1, time_of_day=time(10, 0), action="automatic_text")
    return workflow


@freeze_time("2026-03-02 20:00:00")  # Monday 2 pm in Austin
def test_next_step_is_due_on_the_facility_day_and_time(text_then_call_follow_up, facility, agent):
    lead = LeadFactory(facility=facility)

    enrollment = enrollment_start(workflow=text_then_call_follow_up, owner=lead, source="agent", user=agent)

    assert enrollment.status == Enrollment.Status.ACTIVE
    assert enrollment.next_step.action == WorkflowStep.Action.MANUAL_TEXT
    # Day 0 at 9:00 in Chicago (CST, UTC-6) is already past: due at once.
    assert enrollment.next_due_at == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert lead.history.filter(kind=History.Kind.NOTE, summary__contains="Enrolled in “New lead follow-up”").exists()


def test_a_lead_is_not_enrolled_twice(text_then_call_follow_up, facility):
    lead = LeadFactory(facility=facility)
    enrollment_start(workflow=text_then_call_follow_up, owner=lead, source="agent")

    with pytest.raises(ServiceError) as exc:
        enrollment_start(workflow=text_then_call_follow_up, owner=lead, source="agent")

    assert exc.value.code == "already_enrolled"
    assert exc.value.status == 409
    assert "already in “New lead follow-up”" in exc.value.message


def test_a_customer_cannot_join_a_lead_follow_up(text_then_call_follow_up, facility):
    customer = CustomerFactory(facility=facility, balance_due=Decimal("50"))

    with pytest.raises(ServiceError) as exc:
        enrollment_start(workflow=text_then_call_follow_up, owner=customer, source="agent")

    assert exc.value.code == "wrong_kind"


def test_a_customer_who_owes_nothing_cannot_join_collection(collection, facility):
    customer = CustomerFactory(facility=facility, balance_due=Decimal("0"))

    with pytest.raises(ServiceError) as exc:
        enrollment_start(workflow=collection, owner=customer, source="agent")

    assert exc.value.code == "no_balance"


def test_another_organizations_workflow_is_not_found(text_then_call_follow_up, other_org):
    stranger = LeadFactory(facility__organization=other_org)

    with pytest.raises(ServiceError) as exc:
        enrollment_start(workflow=text_then_call_follow_up, owner=stranger, source="api")

    assert exc.value.status == 404
    assert not Enrollment.objects.exists()


def test_a_switched_off_workflow_takes_no_enrollments(text_then_call_follow_up, facility):
    text_then_call_follow_up.active = False
    text_then_call_follow_up.save()

    with pytest.raises(ServiceError) as exc:
        enrollment_start(workflow=text_then_call_follow_up, owner=LeadFactory(facility=facility), source="agent")

    assert exc.value.code == "inactive_workflow"


def test_a_new_lead_joins_the_default_follow_up(text_then_call_follow_up, facility):
    text_then_call_follow_up.is_default = True
    text_then_call_follow_up.save()
    lead = LeadFactory(facility=facility)

    enrollment = enrollments_sync_lead(lead=lead, created=True)

    assert enrollment.workflow == text_then_call_follow_up
    assert enrollment.source == Enrollment.Source.AUTOMATIC


def test_without_a_default_workflow_a_new_lead_is_not_enrolled(text_then_call_follow_up, facility):
    assert enrollments_sync_lead(lead=LeadFactory(facility=facility), created=True) is None
    assert not Enrollment.objects.exists()


def test_a_converted_lead_leaves_its_workflow_and_its_tasks_close(text_then_call_follow_up, facility):
    lead = LeadFactory(facility=facility)
    enrollment = enrollment_start(workflow=text_then_call_follow_up, owner=lead, source="agent")
    task = task_create_for_step(enrollment=enrollment, step=enrollment.next_step, due_at=enrollment.next_due_at)

    lead.status = Lead.Status.CONVERTED
    lead.save()
    enrollments_sync_lead(lead=lead)

    enrollment.refresh_from_db()
    task.refresh_from_db()
    assert enrollment.status == Enrollment.Status.STOPPED
    assert enrollment.end_reason == Enrollment.EndReason.CONVERTED
    assert enrollment.next_due_at is None
    assert task.status == Task.Status.SKIPPED
    assert task.skip_reason == "Workflow ended: lead converted"


def _csv(rows: list[str]) -> io.StringIO:
    return io.StringIO("facility,pms_id,first_name,last_name,balance_due,phone\n" + "\n".join(rows) + "\n")


def test_a_balance_falling_due_in_the_pms_import_starts_collection_and_paying_ends_it(org, facility, collection):
    collection.is_default = True
    collection.save()
    import_pms_customers(organization=org, stream=_csv([f"{facility.name},P-1,Dana,Diaz,0.00,+15125550170"]))
    assert not Enrollment.objects.exists()

    import_pms_customers(organization=org, stream=_csv([f"{facility.name},P-1,Dana,Diaz,89.00,+15125550170"]))
    enrollment = Enrollment.objects.get()
    assert (enrollment.customer.pms_id, enrollment.workflow, enrollment.status) == ("P-1", collection, "active")

    import_pms_customers(organization=org, stream=_csv([f"{facility.name},P-1,Dana,Diaz,0,+15125550170"]))
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.STOPPED
    assert enrollment.end_reason == Enrollment.EndReason.PAID


def test_a_new_customer_imported_with_a_balance_joins_collection(org, facility, collection):
    collection.is_default = True
    collection.save()

    import_pms_customers(organization=org, stream=_csv([f"{facility.name},P-9,Eli,Egan,129.00,+15125550171"]))

    assert Enrollment.objects.get().customer.pms_id == "P-9"


def test_an_opt_out_ends_the_workflow_of_the_numbers_owner(text_then_call_follow_up, facility):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550180")
    consent_grant(organization=facility.organization, number=phone.number, source="web_form")
    enrollment = enrollment_start(workflow=text_then_call_follow_up, owner=phone.lead, source="agent")

    consent_revoke(organization=facility.organization, number="+15125550180", source="sms_keyword", evidence="STOP")

    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.STOPPED
    assert enrollment.end_reason == Enrollment.EndReason.OPTED_OUT


def test_an_agent_stops_an_enrollment_once(text_then_call_follow_up, facility, agent):
    enrollment = enrollment_start(
        workflow=text_then_call_follow_up, owner=LeadFactory(facility=facility), source="agent"
    )

    enrollment_stop(enrollment=enrollment, user=agent)
    with pytest.raises(ServiceError) as exc:
        enrollment_stop(enrollment=enrollment, user=agent)

    enrollment.refresh_from_db()
    assert (enrollment.end_reason, enrollment.ended_by) == ("stopped", agent)
    assert exc.value.code == "not_active"


@pytest.fixture
def task(text_then_call_follow_up, facility):
    enrollment = enrollment_start(
        workflow=text_then_call_follow_up, owner=LeadFactory(facility=facility), source="agent"
    )
    return task_create_for_step(enrollment=enrollment, step=enrollment.next_step, due_at=enrollment.next_due_at)


def test_a_task_is_created_once_per_enrollment_and_step(task):
    again = task_create_for_step(enrollment=task.enrollment, step=task.step, due_at=task.due_at)

    assert again is None
    assert Task.objects.count() == 1


def test_completing_a_task_with_the_text_that_did_it(task, agent):
    message = MessageFactory(phone_number=PhoneNumberFactory(lead=task.lead))

    done = task_complete(task=task, user=agent, message_id=message.pk)

    assert (done.status, done.completed_by, done.message) == (Task.Status.DONE, agent, message)
    assert done.completed_at is not None


def test_a_task_cannot_be_completed_with_a_text_to_someone_else(task, agent, facility):
    message = MessageFactory(phone_number__lead__facility=facility)

    with pytest.raises(ServiceError) as exc:
        task_complete(task=task, user=agent, message_id=message.pk)

    assert exc.value.code == "wrong_person"
    task.refresh_from_db()
    assert task.status == Task.Status.OPEN


def test_a_done_task_cannot_be_done_or_skipped_again(task, agent, manager):
    task_complete(task=task, user=agent)

    with pytest.raises(ServiceError) as exc:
        task_skip(task=task, user=manager, reason="not needed")

    assert exc.value.code == "task_closed"
    assert exc.value.status == 409
    assert "already done by" in exc.value.message


def test_skipping_needs_a_reason_and_keeps_it(task, agent):
    with pytest.raises(ServiceError) as exc:
        task_skip(task=task, user=agent, reason="   ")
    assert (exc.value.code, exc.value.field) == ("reason_required", "reason")

    skipped = task_skip(task=task, user=agent, reason="Talked to her at the counter")

    assert (skipped.status, skipped.skip_reason) == (Task.Status.SKIPPED, "Talked to her at the counter")
    assert task.lead.history.filter(summary__contains="Talked to her at the counter").exists()


def test_changing_the_steps_reschedules_active_enrollments(text_then_call_follow_up, facility):
    from workflows.services import workflow_reschedule

    enrollment = enrollment_start(
        workflow=text_then_call_follow_up, owner=LeadFactory(facility=facility), source="agent"
    )
    StepRun.objects.create(
        organization=enrollment.organization,
        enrollment=enrollment,
        step=enrollment.next_step,
        due_at=enrollment.next_due_at,
        ran_at=enrollment.next_due_at,
        outcome="task_created",
    )
    text_then_call_follow_up.steps.filter(action="call_reminder").delete()

    workflow_reschedule(workflow=text_then_call_follow_up)

    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.COMPLETED
    assert enrollment.end_reason == Enrollment.EndReason.COMPLETED
