from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from freezegun import freeze_time

from messaging.models import Message
from tests.factories import (
    CustomerFactory,
    FacilityFactory,
    LeadFactory,
    MessageFactory,
    PhoneNumberFactory,
    WorkflowFactory,
    WorkflowStepFactory,
)
from workflows.models import Enrollment, Task, Workflow
from workflows.services import enrollment_start, task_create_for_step

NOW = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)  # Wednesday noon in Austin


@pytest.fixture(autouse=True)
def _wednesday_noon():
    """Fixtures (sign-in included) and tests all run at ``NOW``."""
    with freeze_time(NOW):
        yield


def _task_for(owner, workflow, *, days_ago: int) -> Task:
    enrollment = enrollment_start(
        workflow=workflow, owner=owner, source="agent", started_at=NOW - timedelta(days=days_ago)
    )
    return task_create_for_step(enrollment=enrollment, step=enrollment.next_step, due_at=enrollment.next_due_at)


@pytest.fixture
def morning_text_follow_up(org):
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP, name="Lead follow-up")
    WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(9, 0), action="manual_text")
    return workflow


@pytest.fixture
def collection(org):
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.COLLECTION, name="Past due")
    WorkflowStepFactory(
        workflow=workflow, day_offset=0, time_of_day=time(9, 0), action="call_reminder", instructions="Ask for card"
    )
    return workflow


@pytest.fixture
def tasks(org, facility, morning_text_follow_up, collection):
    other_facility = FacilityFactory(organization=org, name="Lakeside Round Rock")
    older = _task_for(PhoneNumberFactory(lead__facility=facility).lead, morning_text_follow_up, days_ago=2)
    today = _task_for(LeadFactory(facility=other_facility, first_name="Tara"), morning_text_follow_up, days_ago=0)
    call = _task_for(CustomerFactory(facility=facility, balance_due=Decimal("80")), collection, days_ago=1)
    return {"older": older, "today": today, "call": call, "other_facility": other_facility}


def test_the_outstanding_list_shows_due_tasks_oldest_first_with_counts(agent_client, tasks):
    response = agent_client.get("/outstanding/")

    html = response.content.decode()
    assert response.status_code == 200
    rows = [html.index(f'id="task-{tasks[k].pk}"') for k in ("older", "call", "today")]
    assert rows == sorted(rows)
    assert "Manual texts: <strong>2</strong>" in html
    assert "Call reminders: <strong>1</strong>" in html
    assert html.count("Overdue") == 2
    assert "Due today" in html
    assert "Ask for card" in html


def test_a_manual_text_task_opens_the_card_with_the_panel_prefilled(agent_client, tasks):
    task = tasks["older"]
    phone = task.lead.phone_numbers.get()

    html = agent_client.get("/outstanding/").content.decode()

    expected = (
        f"/leads/{task.lead_id}/?compose=1&amp;phone={phone.pk}&amp;template={task.step.template_id}&amp;task={task.pk}"
    )
    assert expected in html


def test_the_list_filters_by_facility_and_kind(agent_client, tasks):
    by_facility = agent_client.get(f"/outstanding/?facility={tasks['other_facility'].pk}").content.decode()
    by_kind = agent_client.get("/outstanding/?kind=call_reminder").content.decode()

    assert f'id="task-{tasks["today"].pk}"' in by_facility
    assert f'id="task-{tasks["older"].pk}"' not in by_facility
    assert "Manual texts: <strong>1</strong>" in by_facility
    assert f'id="task-{tasks["call"].pk}"' in by_kind
    assert f'id="task-{tasks["older"].pk}"' not in by_kind


def test_filtering_through_htmx_returns_only_the_rows(agent_client, tasks):
    response = agent_client.get("/outstanding/?kind=manual_text", HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert "<html" not in html
    assert f'id="task-{tasks["older"].pk}"' in html


def test_another_organizations_tasks_are_neither_listed_nor_reachable(agent_client, other_org, tasks):
    workflow = WorkflowFactory(organization=other_org, kind=Workflow.Kind.LEAD_FOLLOW_UP)
    WorkflowStepFactory(workflow=workflow, action="call_reminder", time_of_day=time(9, 0))
    theirs = _task_for(LeadFactory(facility__organization=other_org, first_name="Rivalry"), workflow, days_ago=1)

    html = agent_client.get("/outstanding/").content.decode()
    skip = agent_client.post(f"/tasks/{theirs.pk}/skip/", {"reason": "nosy"})
    done = agent_client.post(f"/tasks/{theirs.pk}/done/")

    assert "Rivalry" not in html
    assert (skip.status_code, done.status_code) == (404, 404)
    theirs.refresh_from_db()
    assert theirs.status == Task.Status.OPEN


def test_skipping_from_the_list_needs_a_reason(agent_client, tasks):
    task = tasks["older"]

    refused = agent_client.post(f"/tasks/{task.pk}/skip/", {"reason": "", "next": "/outstanding/"}, follow=True)
    task.refresh_from_db()
    assert task.status == Task.Status.OPEN
    assert "Say why the task is skipped." in refused.content.decode()

    skipped = agent_client.post(
        f"/tasks/{task.pk}/skip/", {"reason": "Moved in already", "next": "/outstanding/?kind=manual_text"}, follow=True
    )
    task.refresh_from_db()
    assert (task.status, task.skip_reason) == (Task.Status.SKIPPED, "Moved in already")
    assert skipped.redirect_chain[-1][0] == "/outstanding/?kind=manual_text"
    assert f'id="task-{task.pk}"' not in skipped.content.decode()


def test_a_call_reminder_is_marked_done_from_the_list(agent_client, agent, tasks):
    task = tasks["call"]

    response = agent_client.post(f"/tasks/{task.pk}/done/", follow=True)

    task.refresh_from_db()
    assert (task.status, task.completed_by) == (Task.Status.DONE, agent)
    assert "Call reminder for" in response.content.decode()


def test_an_agent_enrolls_a_lead_from_the_card_and_stops_it(agent_client, agent, facility, morning_text_follow_up):
    lead = LeadFactory(facility=facility)

    agent_client.post(f"/leads/{lead.pk}/enroll/", {"workflow": morning_text_follow_up.pk})
    enrollment = Enrollment.objects.get(lead=lead)
    assert (enrollment.source, enrollment.enrolled_by) == ("agent", agent)

    response = agent_client.post(f"/enrollments/{enrollment.pk}/stop/")
    enrollment.refresh_from_db()
    assert response.url == f"/leads/{lead.pk}/"
    assert (enrollment.status, enrollment.ended_by) == ("stopped", agent)


def test_enrolling_a_customer_who_owes_nothing_says_why(agent_client, facility, collection):
    customer = CustomerFactory(facility=facility, balance_due=Decimal("0"))

    response = agent_client.post(
        f"/customers/{customer.pk}/enroll/", {"workflow": collection.pk, "next": "/outstanding/"}, follow=True
    )

    assert "has no balance due" in response.content.decode()
    assert not Enrollment.objects.exists()


def test_a_workflow_of_another_organization_cannot_be_used(agent_client, facility, other_org):
    theirs = WorkflowFactory(organization=other_org, kind=Workflow.Kind.LEAD_FOLLOW_UP)
    lead = LeadFactory(facility=facility)

    agent_client.post(f"/leads/{lead.pk}/enroll/", {"workflow": theirs.pk})

    assert not Enrollment.objects.exists()


def test_the_inbound_section_lists_plain_words_opt_outs_and_unknown_numbers(agent_client, org, facility, other_org):
    phone = PhoneNumberFactory(lead__facility=facility, lead__first_name="Nora", lead__last_name="Quinn")
    MessageFactory(
        phone_number=phone,
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        from_number=phone.number,
        to_number="+15125550199",
        body="please don't text me anymore",
        flagged_opt_out_request=True,
    )
    MessageFactory(
        phone_number=None,
        organization=org,
        lead=None,
        customer=None,
        to_number="+15125550199",
        from_number="+15125550777",
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        body="Who is this?",
    )
    MessageFactory(
        phone_number=None,
        organization=other_org,
        lead=None,
        customer=None,
        to_number="+15125550198",
        from_number="+15125550778",
        direction=Message.Direction.INBOUND,
        body="rival secret",
    )

    html = agent_client.get("/outstanding/inbound/").content.decode()

    assert "please don&#x27;t text me anymore" in html
    assert f'href="/leads/{phone.lead_id}/">Nora Quinn</a>' in html
    assert "Who is this?" in html
    assert "(512) 555-0777" in html
    assert "rival secret" not in html
    assert html.count("please don&#x27;t text me anymore") == 1  # a known number is not "unknown"


def test_the_outstanding_list_needs_sign_in(client):
    assert client.get("/outstanding/").status_code == 302


def test_a_task_not_yet_due_is_not_listed(agent_client, facility, morning_text_follow_up):
    lead = LeadFactory(facility=facility)
    task = _task_for(lead, morning_text_follow_up, days_ago=0)
    Task.objects.filter(pk=task.pk).update(due_at=timezone.now() + timedelta(hours=2))

    assert f'id="task-{task.pk}"' not in agent_client.get("/outstanding/").content.decode()


def test_inbound_times_read_in_the_receiving_facilitys_time_zone(agent_client, org, facility):
    received = datetime(2026, 3, 2, 21, 15, tzinfo=UTC)  # 3:15 PM in Austin
    message = MessageFactory(
        phone_number=None,
        organization=org,
        lead=None,
        customer=None,
        facility=facility,
        to_number="+15125550199",
        from_number="+15125550777",
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        body="Who is this?",
    )
    Message.objects.filter(pk=message.pk).update(created_at=received)

    html = agent_client.get("/outstanding/inbound/").content.decode()

    assert "Mar 2, 3:15 PM CST" in html
