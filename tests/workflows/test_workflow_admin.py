from __future__ import annotations

import re
from datetime import time

import pytest
from django.template import Context, Template
from django.test import RequestFactory

from interactions.models import Lead
from tests.factories import (
    CustomerFactory,
    LeadFactory,
    MessageTemplateFactory,
    WorkflowFactory,
    WorkflowStepFactory,
)
from workflows.models import Workflow, WorkflowStep
from workflows.services import enrollment_start


def _workflow_post(**overrides) -> dict:
    data = {
        "name": "Web lead follow-up",
        "kind": "lead_follow_up",
        "active": "on",
        "is_default": "on",
        "steps-TOTAL_FORMS": "2",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-day_offset": "0",
        "steps-0-time_of_day": "09:00",
        "steps-0-action": "manual_text",
        "steps-1-day_offset": "2",
        "steps-1-time_of_day": "15:00",
        "steps-1-action": "call_reminder",
        "steps-1-instructions": "Offer the move-in special",
    }
    data.update(overrides)
    return data


@pytest.fixture
def welcome(org):
    return MessageTemplateFactory(organization=org, name="Welcome", category="lead_follow_up")


def test_a_manager_creates_a_workflow_with_steps_in_admin(manager_client, org, welcome):
    previous = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP, is_default=True)

    response = manager_client.post("/admin/workflows/workflow/add/", _workflow_post(**{"steps-0-template": welcome.pk}))

    assert response.status_code == 302, response.content.decode()[:2000]
    workflow = Workflow.objects.get(name="Web lead follow-up")
    assert workflow.organization == org
    assert [(s.day_offset, s.action) for s in workflow.steps.all()] == [(0, "manual_text"), (2, "call_reminder")]
    assert {s.organization_id for s in workflow.steps.all()} == {org.pk}  # the workflow's, set by the admin
    previous.refresh_from_db()
    assert workflow.is_default and not previous.is_default  # the new default replaces the old one


def test_a_text_step_without_a_template_is_refused(manager_client):
    response = manager_client.post("/admin/workflows/workflow/add/", _workflow_post())

    assert response.status_code == 200
    assert "Pick the template this text sends." in response.content.decode()
    assert not Workflow.objects.exists()


def test_a_duplicate_workflow_name_is_a_form_error(manager_client, org, welcome):
    WorkflowFactory(organization=org, name="Web lead follow-up")

    response = manager_client.post("/admin/workflows/workflow/add/", _workflow_post(**{"steps-0-template": welcome.pk}))

    assert response.status_code == 200
    assert "Workflow with this Organization and Name already exists." in response.content.decode()


def test_another_organizations_template_cannot_be_picked(manager_client, other_org):
    theirs = MessageTemplateFactory(organization=other_org, name="Rival template")

    form = manager_client.get("/admin/workflows/workflow/add/").content.decode()
    response = manager_client.post("/admin/workflows/workflow/add/", _workflow_post(**{"steps-0-template": theirs.pk}))

    assert "Rival template" not in form
    assert response.status_code == 200
    assert not Workflow.objects.exists()


def test_agents_see_workflows_but_cannot_change_them(agent_client, org):
    workflow = WorkflowFactory(organization=org, name="Past due")

    listing = agent_client.get("/admin/workflows/workflow/")
    add = agent_client.get("/admin/workflows/workflow/add/")
    edit = agent_client.post(f"/admin/workflows/workflow/{workflow.pk}/change/", {"name": "Hacked"})

    assert listing.status_code == 200 and "Past due" in listing.content.decode()
    assert add.status_code == 403
    workflow.refresh_from_db()
    assert edit.status_code == 403 and workflow.name == "Past due"


def test_editing_steps_in_admin_moves_the_next_step_of_enrolled_people(manager_client, org, facility, welcome):
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP, name="Follow-up")
    step = WorkflowStepFactory(workflow=workflow, day_offset=3, time_of_day=time(9, 0), template=welcome)
    enrollment = enrollment_start(workflow=workflow, owner=LeadFactory(facility=facility), source="agent")
    data = _workflow_post(name="Follow-up", is_default="")
    data.update(
        {
            "steps-TOTAL_FORMS": "1",
            "steps-INITIAL_FORMS": "1",
            "steps-0-id": step.pk,
            "steps-0-workflow": workflow.pk,
            "steps-0-day_offset": "1",
            "steps-0-time_of_day": "09:00",
            "steps-0-action": "manual_text",
            "steps-0-template": welcome.pk,
        }
    )

    response = manager_client.post(f"/admin/workflows/workflow/{workflow.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()[:2000]
    before = enrollment.next_due_at
    enrollment.refresh_from_db()
    assert (before - enrollment.next_due_at).days == 2


def test_the_card_box_shows_the_workflow_and_its_next_step(agent, facility, org, welcome):
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP, name="Web leads")
    WorkflowStepFactory(
        workflow=workflow, day_offset=1, time_of_day=time(9, 0), action=WorkflowStep.Action.AUTOMATIC_TEXT
    )
    lead = LeadFactory(facility=facility)
    request = RequestFactory().get(f"/leads/{lead.pk}/")
    request.user = agent
    box = Template("{% load workflow_tags %}{% enrollment_box person %}")

    before = box.render(Context({"person": lead, "request": request}))
    enrollment_start(workflow=workflow, owner=lead, source="agent")
    after = box.render(Context({"person": lead, "request": request}))

    assert f'<option value="{workflow.pk}">Web leads</option>' in before
    assert f'action="/leads/{lead.pk}/enroll/"' in before
    assert "<strong>Web leads</strong>" in after
    assert "Next: <strong>Automatic text</strong>" in after
    assert re.search(r"on \w{3} \w{3} \d+, \d+:\d\d [AP]M [A-Z]{3,5}</p>", after)  # the time names its zone
    assert "Stop workflow" in after


def test_a_lead_added_in_admin_joins_the_default_follow_up(manager_client, facility):
    workflow = WorkflowFactory(organization=facility.organization, kind=Workflow.Kind.LEAD_FOLLOW_UP, is_default=True)
    WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(9, 0), action="call_reminder")
    data = {
        "facility": facility.pk,
        "first_name": "Ada",
        "last_name": "Admin",
        "status": "new",
        "phone_numbers-TOTAL_FORMS": "0",
        "phone_numbers-INITIAL_FORMS": "0",
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
    }

    response = manager_client.post("/admin/interactions/lead/add/", data)

    assert response.status_code == 302, response.content.decode()[:2000]
    lead = Lead.objects.get(first_name="Ada")
    assert [e.workflow for e in lead.enrollments.all()] == [workflow]


def test_a_customer_whose_balance_falls_due_in_admin_joins_the_collection(manager_client, facility):
    workflow = WorkflowFactory(organization=facility.organization, kind=Workflow.Kind.COLLECTION, is_default=True)
    WorkflowStepFactory(workflow=workflow, day_offset=1, time_of_day=time(10, 0), action="call_reminder")
    customer = CustomerFactory(facility=facility, balance_due=0)
    data = {
        "facility": facility.pk,
        "pms_id": customer.pms_id,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "unit": customer.unit,
        "balance_due": "129.00",
        "phone_numbers-TOTAL_FORMS": "0",
        "phone_numbers-INITIAL_FORMS": "0",
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
    }

    response = manager_client.post(f"/admin/interactions/customer/{customer.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert [e.workflow for e in customer.enrollments.all()] == [workflow]
