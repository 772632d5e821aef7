"""The managers' admin in Chromium: every page fits the screen, the organization page names the organization
in its example, and a template's preview follows the body as it is typed (before saving)."""

from __future__ import annotations

import datetime

import pytest
from playwright.sync_api import expect

from interactions.models import Membership
from messaging.models import MessageTemplate
from tests.browser.conftest import DESKTOP, PHONE, watch_csp
from tests.browser.test_browser_hardening import _admin_pages
from tests.factories import (
    CustomerFactory,
    MembershipFactory,
    MessageTemplateFactory,
    PhoneNumberFactory,
    WorkflowStepFactory,
)
from workflows.models import WorkflowStep

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-12345!"


@pytest.fixture
def admin_page(chromium, live_server, org, facility):
    """``admin_page(viewport)`` → a page signed in to the admin as a manager of ``org``; CSP watched."""
    manager = MembershipFactory(organization=org, role=Membership.Role.MANAGER, user__username="admin-manager").user
    contexts = []

    def open_page(viewport: dict):
        context = chromium.new_context(viewport=viewport)
        context.set_default_timeout(10_000)
        context.csp_violations = watch_csp(context)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", manager.username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")
        return page

    yield open_page
    violations = [v for context in contexts for v in context.csp_violations]
    for context in contexts:
        context.close()
    assert not violations, violations


def _a_workflow_with_every_kind_of_step(org) -> int:
    A = WorkflowStep.Action
    first = WorkflowStepFactory(
        workflow__organization=org,
        workflow__name="New lead follow-up",
        action=A.MANUAL_TEXT,
        template=MessageTemplateFactory(organization=org, name="Follow-up: thanks for asking"),
    )
    workflow = first.workflow
    WorkflowStepFactory(
        workflow=workflow,
        day_offset=1,
        action=A.CALL_REMINDER,
        template=None,
        instructions="Call to offer a tour and the move-in special.",
    )
    WorkflowStepFactory(workflow=workflow, day_offset=2, time_of_day=datetime.time(11), action=A.AUTOMATIC_TEXT)
    return workflow.pk


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366", "390"])
def test_every_admin_page_fits_the_screen_the_workflow_page_included(admin_page, live_server, org, viewport, shot):
    workflow = _a_workflow_with_every_kind_of_step(org)
    PhoneNumberFactory(lead__facility__organization=org)
    page = admin_page(viewport)
    size = "1366" if viewport == DESKTOP else "390"
    wide = {}
    pages = [*_admin_pages(live_server.url), f"{live_server.url}/admin/workflows/workflow/add/"]
    for url in pages:
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > viewport["width"]:
            wide[url.removeprefix(live_server.url)] = width
    page.goto(f"{live_server.url}/admin/workflows/workflow/{workflow}/change/")
    shot(page, f"admin-workflow-{size}")
    assert f"/admin/workflows/workflow/{workflow}/change/" in [u.removeprefix(live_server.url) for u in pages]
    assert not wide, f"pages wider than {viewport['width']} px (they scroll sideways): {wide}"


def test_the_organization_page_gives_its_own_opt_out_confirmation_as_the_example(admin_page, live_server, org, shot):
    page = admin_page(DESKTOP)
    page.goto(f"{live_server.url}/admin/interactions/organization/{org.pk}/change/")

    help_text = page.locator(".field-opt_out_confirmation_text .help")
    expect(help_text).to_contain_text(
        "Blank: “Lakeside Storage: You're unsubscribed and won't get more texts. Reply START to resubscribe.”"
    )
    expect(help_text).not_to_contain_text("“:")
    shot(page, "admin-organization-1366")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366", "390"])
def test_the_template_preview_follows_the_body_as_it_is_typed(admin_page, live_server, org, facility, viewport, shot):
    CustomerFactory(facility=facility, first_name="Priya")  # the sample record a preview is filled in for
    template = MessageTemplateFactory(organization=org, name="Gate hours", body="Hi {{ first_name }}, gates open at 6.")
    page = admin_page(viewport)
    page.goto(f"{live_server.url}/admin/messaging/messagetemplate/{template.pk}/change/")
    preview = page.locator("[data-template-preview]")
    expect(preview).to_contain_text("Hi Priya, gates open at 6.")

    page.locator("#id_body").fill("Hi {{ first_name }}, {{ facility_name }} is open late today 👋")

    expect(preview).to_contain_text("Hi Priya, Lakeside Austin is open late today 👋")
    expect(preview).to_contain_text("UCS-2")  # the figures follow too: the emoji makes it UCS-2
    page.locator("#id_body").fill("Hi {{ first_nam }}")
    expect(preview).to_contain_text("Unknown merge field {{ first_nam }}")
    assert MessageTemplate.objects.get(pk=template.pk).body == "Hi {{ first_name }}, gates open at 6."  # not saved
    shot(page, f"admin-template-preview-{'1366' if viewport == DESKTOP else '390'}")
