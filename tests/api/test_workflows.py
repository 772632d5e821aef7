from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest

from tests.factories import (
    CustomerFactory,
    LeadFactory,
    MessageFactory,
    PhoneNumberFactory,
    WorkflowFactory,
    WorkflowStepFactory,
)
from workflows.models import Enrollment, Task, Workflow
from workflows.services import enrollment_start, task_create_for_step


@pytest.fixture
def midnight_text_follow_up(org):
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP, name="Web leads")
    WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(0, 0), action="manual_text")
    return workflow


@pytest.fixture
def task(midnight_text_follow_up, facility):
    lead = PhoneNumberFactory(lead__facility=facility).lead
    enrollment = enrollment_start(workflow=midnight_text_follow_up, owner=lead, source="agent")
    return task_create_for_step(enrollment=enrollment, step=enrollment.next_step, due_at=enrollment.next_due_at)


def test_tasks_are_listed_with_where_to_do_them(api, task):
    response = api.get("/api/v1/tasks/?status=open")

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert (row["id"], row["kind"], row["status"], row["lead"]) == (task.pk, "manual_text", "open", task.lead_id)
    assert row["workflow_name"] == "Web leads"
    assert row["card_url"].startswith(f"/leads/{task.lead_id}/?compose=1&phone=")
    assert row["card_url"].endswith(f"&task={task.pk}")


def test_tasks_filter_by_kind_and_facility(api, task, org):
    assert api.get("/api/v1/tasks/?kind=call_reminder").json()["results"] == []
    assert len(api.get(f"/api/v1/tasks/?facility={task.lead.facility_id}").json()["results"]) == 1


def test_completing_a_task_with_its_text(api, agent, task):
    message = MessageFactory(phone_number=task.lead.phone_numbers.get())

    response = api.post(f"/api/v1/tasks/{task.pk}/complete/", {"message_id": message.pk}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["message"]) == ("done", message.pk)
    assert response.json()["completed_by"] == agent.username


def test_completing_a_closed_task_is_a_conflict(api, task):
    api.post(f"/api/v1/tasks/{task.pk}/complete/", {}, format="json")

    response = api.post(f"/api/v1/tasks/{task.pk}/complete/", {}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "task_closed"


def test_skipping_needs_a_reason(api, task):
    missing = api.post(f"/api/v1/tasks/{task.pk}/skip/", {}, format="json")
    blank = api.post(f"/api/v1/tasks/{task.pk}/skip/", {"reason": "  "}, format="json")
    done = api.post(f"/api/v1/tasks/{task.pk}/skip/", {"reason": "Already rented"}, format="json")

    assert (missing.status_code, missing.json()["field"]) == (400, "reason")
    assert blank.status_code == 400
    assert (done.status_code, done.json()["skip_reason"]) == (200, "Already rented")


def test_another_organizations_task_answers_404(other_api, task):
    assert other_api.get(f"/api/v1/tasks/{task.pk}/").status_code == 404
    assert other_api.post(f"/api/v1/tasks/{task.pk}/skip/", {"reason": "x"}, format="json").status_code == 404
    assert other_api.get("/api/v1/tasks/").json()["results"] == []
    task.refresh_from_db()
    assert task.status == Task.Status.OPEN


def test_enrolling_a_lead_through_the_api(api, midnight_text_follow_up, facility):
    lead = LeadFactory(facility=facility)

    response = api.post(
        "/api/v1/enrollments/", {"workflow": midnight_text_follow_up.pk, "lead": lead.pk}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["lead"], body["status"], body["source"]) == (lead.pk, "active", "api")
    assert body["next_step"]["action"] == "manual_text"
    again = api.post("/api/v1/enrollments/", {"workflow": midnight_text_follow_up.pk, "lead": lead.pk}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "already_enrolled")


def test_enrolling_needs_exactly_one_person(api, midnight_text_follow_up, facility):
    lead = LeadFactory(facility=facility)
    customer = CustomerFactory(facility=facility, balance_due=Decimal("10"))

    neither = api.post("/api/v1/enrollments/", {"workflow": midnight_text_follow_up.pk}, format="json")
    both = api.post(
        "/api/v1/enrollments/",
        {"workflow": midnight_text_follow_up.pk, "lead": lead.pk, "customer": customer.pk},
        format="json",
    )

    assert neither.status_code == both.status_code == 400
    assert not Enrollment.objects.exists()


def test_a_customer_cannot_join_a_lead_workflow_through_the_api(api, midnight_text_follow_up, facility):
    customer = CustomerFactory(facility=facility, balance_due=Decimal("10"))

    response = api.post(
        "/api/v1/enrollments/", {"workflow": midnight_text_follow_up.pk, "customer": customer.pk}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (400, "wrong_kind")


def test_another_organizations_lead_cannot_be_enrolled(api, midnight_text_follow_up, other_org):
    stranger = LeadFactory(facility__organization=other_org)

    response = api.post(
        "/api/v1/enrollments/", {"workflow": midnight_text_follow_up.pk, "lead": stranger.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["field"] == "lead"
    assert not Enrollment.objects.exists()


def test_stopping_an_enrollment_through_the_api(api, task, other_api):
    enrollment = task.enrollment

    assert other_api.post(f"/api/v1/enrollments/{enrollment.pk}/stop/", {}, format="json").status_code == 404
    response = api.post(f"/api/v1/enrollments/{enrollment.pk}/stop/", {"reason": "converted"}, format="json")
    again = api.post(f"/api/v1/enrollments/{enrollment.pk}/stop/", {}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["end_reason"]) == ("stopped", "converted")
    task.refresh_from_db()
    assert task.status == Task.Status.SKIPPED
    assert (again.status_code, again.json()["code"]) == (409, "not_active")


def test_workflows_are_listed_with_their_steps(api, midnight_text_follow_up, other_org):
    WorkflowFactory(organization=other_org, name="Rival flow")

    body = api.get("/api/v1/workflows/").json()

    assert [w["name"] for w in body["results"]] == ["Web leads"]
    assert body["results"][0]["steps"][0]["action"] == "manual_text"


def test_a_lead_created_through_the_api_joins_the_default_follow_up(api, midnight_text_follow_up, facility):
    midnight_text_follow_up.is_default = True
    midnight_text_follow_up.save()

    created = api.post("/api/v1/leads/", {"facility": facility.pk, "first_name": "Ana"}, format="json")
    converted = api.patch(f"/api/v1/leads/{created.json()['id']}/", {"status": "converted"}, format="json")

    assert (created.status_code, converted.status_code) == (201, 200)
    enrollment = Enrollment.objects.get(lead_id=created.json()["id"])
    assert (enrollment.workflow, enrollment.source, enrollment.status) == (
        midnight_text_follow_up,
        "automatic",
        "stopped",
    )
    assert enrollment.end_reason == Enrollment.EndReason.CONVERTED


def test_a_customer_balance_changed_through_the_api_starts_and_ends_collection(api, org, facility):
    collection = WorkflowFactory(organization=org, kind=Workflow.Kind.COLLECTION, is_default=True)
    WorkflowStepFactory(workflow=collection, action="call_reminder")
    created = api.post(
        "/api/v1/customers/",
        {"facility": facility.pk, "first_name": "Bo", "pms_id": "T-9", "balance_due": "0.00"},
        format="json",
    )
    customer_id = created.json()["id"]
    assert not Enrollment.objects.exists()

    api.patch(f"/api/v1/customers/{customer_id}/", {"balance_due": "75.00"}, format="json")
    enrollment = Enrollment.objects.get(customer_id=customer_id)
    assert (enrollment.workflow, enrollment.status) == (collection, "active")

    api.patch(f"/api/v1/customers/{customer_id}/", {"balance_due": "0.00"}, format="json")
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.end_reason) == ("stopped", "paid")
