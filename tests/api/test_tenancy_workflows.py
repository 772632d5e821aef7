"""Cross-organization 404 for the workflow API (tasks, enrollments, workflows): every object route,
and lists that never show another organization's rows (complements tests/api/test_workflows.py)."""

from __future__ import annotations

from datetime import time

import pytest

from tests.api.test_workflows import midnight_text_follow_up, task  # noqa: F401  (fixtures)
from tests.factories import PhoneNumberFactory, WorkflowFactory, WorkflowStepFactory
from workflows.models import Enrollment, Task, Workflow
from workflows.services import enrollment_start, task_create_for_step

pytestmark = pytest.mark.django_db

WORKFLOW_OBJECT_ENDPOINTS = [
    ("get", "/api/v1/tasks/{task}/", None),
    ("post", "/api/v1/tasks/{task}/complete/", {}),
    ("post", "/api/v1/tasks/{task}/skip/", {"reason": "Already rented"}),
    ("get", "/api/v1/enrollments/{enrollment}/", None),
    ("post", "/api/v1/enrollments/{enrollment}/stop/", {"reason": "converted"}),
    ("get", "/api/v1/workflows/{workflow}/", None),
]


@pytest.mark.parametrize("method, path, payload", WORKFLOW_OBJECT_ENDPOINTS)
def test_another_organizations_workflow_objects_answer_404(other_api, task, method, path, payload):  # noqa: F811
    ids = {"task": task.pk, "enrollment": task.enrollment_id, "workflow": task.enrollment.workflow_id}

    response = getattr(other_api, method)(path.format(**ids), payload, format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "Web leads" not in response.content.decode()
    task.refresh_from_db()
    assert task.status == Task.Status.OPEN
    assert Enrollment.objects.get(pk=task.enrollment_id).status == Enrollment.Status.ACTIVE


@pytest.mark.parametrize("path", ["/api/v1/tasks/", "/api/v1/enrollments/", "/api/v1/workflows/"])
def test_workflow_lists_never_include_another_organizations_rows(api, other_api, other_org, task, path):  # noqa: F811
    # The other organization has a workflow, an enrollment and a task of its own, which it does see.
    theirs_flow = WorkflowFactory(organization=other_org, kind=Workflow.Kind.LEAD_FOLLOW_UP, name="Rival flow")
    WorkflowStepFactory(workflow=theirs_flow, day_offset=0, time_of_day=time(0, 0), action="manual_text")
    lead = PhoneNumberFactory(lead__facility__organization=other_org).lead
    enrollment = enrollment_start(workflow=theirs_flow, owner=lead, source="agent")
    task_create_for_step(enrollment=enrollment, step=enrollment.next_step, due_at=enrollment.next_due_at)

    mine = {row["id"] for row in api.get(path).json()["results"]}
    theirs = {row["id"] for row in other_api.get(path).json()["results"]}

    assert mine and theirs
    assert not mine & theirs
