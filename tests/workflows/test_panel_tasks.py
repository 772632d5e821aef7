"""Sending from the card's text panel completes the outstanding-list task it was opened for."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone

from messaging.models import Message
from tests.factories import LeadFactory, WorkflowFactory, WorkflowStepFactory
from workflows.models import Task, Workflow
from workflows.services import enrollment_start, task_create_for_step

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def texting_all_day(org, settings):
    settings.TEXTING_LAW_WINDOWS_OFF_FOR_TESTS = True
    org.quiet_hours_start, org.quiet_hours_end = time(0, 0), time(23, 59, 59)
    org.save()


def _manual_text_task(owner, org) -> Task:
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP)
    WorkflowStepFactory(workflow=workflow, action="manual_text", time_of_day=time(0, 0))
    enrollment = enrollment_start(
        workflow=workflow, owner=owner, source="agent", started_at=timezone.now() - timedelta(days=1)
    )
    return task_create_for_step(enrollment=enrollment, step=enrollment.next_step, due_at=enrollment.next_due_at)


def test_sending_from_a_task_completes_it_with_the_text(agent_client, agent, consented_number, org, texting_all_day):
    task = _manual_text_task(consented_number.lead, org)

    response = agent_client.post(
        f"/tasks/{task.pk}/text/{consented_number.pk}/", {"body": "Still looking?", "task": task.pk}, **HX
    )

    task.refresh_from_db()
    message = Message.objects.get()
    assert (task.status, task.message, task.completed_by) == (Task.Status.DONE, message, agent)
    assert "The task is done." in response.content.decode()


def test_a_task_about_someone_else_is_left_open_but_the_text_goes_out(
    agent_client, consented_number, org, facility, texting_all_day
):
    task = _manual_text_task(LeadFactory(facility=facility), org)

    response = agent_client.post(f"/tasks/{task.pk}/text/{consented_number.pk}/", {"body": "Hi", "task": task.pk}, **HX)

    task.refresh_from_db()
    assert task.status == Task.Status.OPEN
    assert Message.objects.count() == 1
    assert "Text sent to" in response.content.decode()
    assert "The task is done." not in response.content.decode()


def test_another_organizations_task_id_is_ignored(agent_client, consented_number, other_org, texting_all_day):
    theirs = _manual_text_task(LeadFactory(facility__organization=other_org), other_org)

    agent_client.post(f"/tasks/{theirs.pk}/text/{consented_number.pk}/", {"body": "Hi", "task": theirs.pk}, **HX)

    theirs.refresh_from_db()
    assert theirs.status == Task.Status.OPEN


def test_the_card_opened_from_a_task_passes_it_to_the_panel(agent_client, consented_number, org, texting_all_day):
    task = _manual_text_task(consented_number.lead, org)
    url = f"/leads/{consented_number.lead_id}/?compose=1&phone={consented_number.pk}&template=&task={task.pk}"

    card = agent_client.get(url).content.decode()
    panel = agent_client.get(f"/text/panel/{consented_number.pk}/?task={task.pk}", **HX).content.decode()

    assert f"task={task.pk}" in card
    assert f'name="task" value="{task.pk}"' in panel


def test_the_card_shows_the_workflow_its_next_step_and_open_tasks(agent_client, consented_number, org):
    task = _manual_text_task(consented_number.lead, org)

    html = agent_client.get(f"/leads/{consented_number.lead_id}/").content.decode()

    assert 'id="enrollment-box"' in html
    assert f"<strong>{task.enrollment.workflow.name}</strong>" in html
    assert "Stop workflow" in html
    assert "Open tasks:" in html and "Manual text" in html
