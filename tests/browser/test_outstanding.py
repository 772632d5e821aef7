"""The outstanding list in Chromium: open a due manual-text task, send it from the card, see it done."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from messaging.models import Message
from tests.factories import MessageTemplateFactory, WorkflowFactory, WorkflowStepFactory
from workflows.materialise import workflows_materialise
from workflows.models import Task, Workflow
from workflows.services import enrollment_start

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def due_tasks(org, consented_number, settings):
    """A manual text and a call reminder, both due, for one consented lead; texting allowed all day."""
    settings.TEXTING_LAW_WINDOWS_OFF_FOR_TESTS = True
    org.quiet_hours_start, org.quiet_hours_end = time(0, 0), time(23, 59, 59)
    org.save()
    template = MessageTemplateFactory(
        organization=org, name="Still looking?", body="Hi {{ first_name }}, still looking for storage?"
    )
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP, name="Web leads")
    WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(0, 0), action="call_reminder")
    WorkflowStepFactory(
        workflow=workflow, day_offset=1, time_of_day=time(0, 0), action="manual_text", template=template
    )
    enrollment_start(
        workflow=workflow,
        owner=consented_number.lead,
        source="agent",
        started_at=timezone.now() - timedelta(days=2),
    )
    workflows_materialise()
    return {kind: Task.objects.get(kind=kind) for kind in ("manual_text", "call_reminder")}


def test_an_agent_completes_a_manual_text_task_from_the_outstanding_list(
    browse, live_server, due_tasks, consented_number, shot
):
    lead = consented_number.lead
    task = due_tasks["manual_text"]
    page = browse()

    page.get_by_role("link", name="Outstanding").click()
    expect(page.locator("#task-counts")).to_contain_text("Manual texts: 1")
    expect(page.locator("#task-counts")).to_contain_text("Call reminders: 1")
    row = page.locator(f"#task-{task.pk}")
    expect(row).to_contain_text(lead.full_name)
    expect(row).to_contain_text("Overdue")
    expect(page.locator("#inbound")).to_contain_text("From unknown numbers")  # the htmx-loaded section
    shot(page, "outstanding")

    row.get_by_role("link", name="Open & text").click()
    page.wait_for_url(f"{live_server.url}/leads/{lead.pk}/*")
    textarea = page.locator("#text-panel textarea")
    expect(textarea).to_have_value(f"Hi {lead.first_name}, still looking for storage?")
    shot(page, "outstanding-task-card")

    page.click("#text-panel .send-btn")
    expect(page.locator("#card-confirmation")).to_contain_text(f"Text sent to {lead.full_name}")

    task.refresh_from_db()
    message = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert (task.status, task.message_id) == (Task.Status.DONE, message.pk)
    page.goto(f"{live_server.url}/outstanding/")
    expect(page.locator(f"#task-{task.pk}")).to_have_count(0)
    expect(page.locator("#task-counts")).to_contain_text("Manual texts: 0")


def test_an_agent_skips_a_call_reminder_with_a_reason(browse, live_server, due_tasks):
    task = due_tasks["call_reminder"]
    page = browse()
    page.goto(f"{live_server.url}/outstanding/?kind=call_reminder")
    row = page.locator(f"#task-{task.pk}")

    row.get_by_text("Skip…").click()
    row.get_by_label("Reason").fill("Spoke at the front desk")
    row.get_by_role("button", name="Skip task").click()

    expect(page.locator(".flash")).to_contain_text("skipped")
    expect(page.locator(f"#task-{task.pk}")).to_have_count(0)
    task.refresh_from_db()
    assert (task.status, task.skip_reason) == (Task.Status.SKIPPED, "Spoke at the front desk")
