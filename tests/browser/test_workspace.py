"""The agent's workspace in Chromium: the panel is the conversation, state stays current and safe,
replies reach agents on any page, drafts survive, and every screen fits a phone and passes axe-core.

Each test names the defect it covers (issue: "The agent's workspace…").
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from interactions.models import ConsentEvent, PhoneNumber
from interactions.services import consent_grant, consent_revoke
from messaging.models import Conversation, Message, MessageTemplate
from messaging.services import unsubscribe_link_get_or_create
from tests.browser.conftest import DESKTOP, PHONE
from tests.factories import CustomerFactory, MessageFactory, MessageTemplateFactory, PhoneNumberFactory, ReplyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).with_name("vendor") / "axe.min.js"
REQUEST = "please stop texting me about this"


def grant(phone: PhoneNumber) -> PhoneNumber:
    consent_grant(organization=phone.organization, number=phone.number, source="web_form", evidence="quote form")
    return phone


def open_panel(page, button: str = "#text-controls .text-btn.with-label"):
    page.click(button)
    panel = page.locator("#text-panel")
    expect(panel).to_be_visible()
    return panel


def axe_violations(page) -> list[str]:
    """Serious and critical axe-core violations on the page, as "rule: target" lines.

    axe is evaluated by the test's hook, not added as an inline <script> the page's Content-Security-Policy refuses.
    """
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {node['target']}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
        for node in v["nodes"]
    ]


# --- stale and unsafe states ------------------------------------------------------------------------


def test_a_flagged_request_blocks_sending_to_that_number_until_an_agent_says_it_is_not_a_request(
    browse, live_server, consented_number, shot
):
    lead = consented_number.lead
    flagged = ReplyFactory(phone_number=consented_number, body=REQUEST, flagged=True)
    page = browse()
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    panel = open_panel(page)
    expect(panel.locator("#panel-state")).to_contain_text("Asked not to be texted")
    expect(panel.locator("#send-btn")).to_be_disabled()
    expect(panel.locator("[data-open-request]")).to_contain_text(REQUEST)
    shot(page, "workspace-flagged-blocks-send")

    panel.get_by_text("Not a request…").click()
    panel.locator(f"#not-request-{flagged.pk}").fill("Meant the other facility's ads, confirmed on the phone")
    panel.get_by_role("button", name="Mark not a request").click()
    expect(page.locator(".flash")).to_contain_text("Marked as not a request")
    flagged.refresh_from_db()
    assert flagged.flag_dismissed_note.startswith("Meant the other facility")
    panel = open_panel(page)
    expect(panel.locator("#send-btn")).to_be_enabled()
    expect(panel.locator("#panel-conversation")).to_contain_text("Not a request to stop")


def test_sending_to_another_number_of_a_person_with_an_open_request_asks_first(
    browse, live_server, consented_number, outbox
):
    lead = consented_number.lead
    other = grant(PhoneNumberFactory(lead=lead, number="+15125550181", is_primary=False, label="home"))
    ReplyFactory(phone_number=consented_number, body=REQUEST, flagged=True)
    page = browse()
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.click("#text-controls details.phone-menu > summary")
    page.locator(".phone-menu-panel").get_by_role("button", name="Text (512) 555-0181").click()
    panel = page.locator("#text-panel")
    expect(panel.locator("[data-other-request]")).to_contain_text("(512) 555-0142")
    panel.locator("textarea").fill("Your unit is ready.")
    panel.locator("#send-btn").click()
    expect(panel.locator("[data-refusal=confirm_other]")).to_contain_text("Send to this number anyway?")
    assert not Message.objects.filter(direction="outbound").exists()
    panel.get_by_role("button", name="Send anyway").click()
    expect(page.locator("#card-confirmation")).to_contain_text("Text sent")
    assert Message.objects.get(direction="outbound").to_number == other.number


def test_a_link_opt_out_while_the_card_is_open_disables_text_and_shows_in_the_thread(
    browse, live_server, consented_number, shot
):
    lead = consented_number.lead
    page = browse()
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    text = page.locator("#text-controls .text-btn.with-label")
    expect(text).not_to_have_attribute("aria-disabled", "true")
    expect(page.locator("#conversation")).not_to_contain_text("Loading")

    token = unsubscribe_link_get_or_create(organization=consented_number.organization, number=consented_number.number)
    person = browse(viewport=PHONE, signed_in=False)  # the texted person's own phone, not the agent's session
    person.goto(f"{live_server.url}/u/{token.token}")
    person.get_by_role("button").first.click()
    expect(person.get_by_role("status")).to_contain_text("unsubscribed")

    # No reload: the poll swaps the ribbon's Text controls and the notice.
    expect(text).to_have_attribute("aria-disabled", "true", timeout=10_000)
    expect(page.locator("#consent-notice")).to_contain_text("Opted out of texts")
    expect(page.locator("#conversation .event-consent-out")).to_contain_text("opted out through the unsubscribe link")
    shot(page, "workspace-live-opt-out")
    page.reload()
    history = page.locator(".history-list")
    expect(history).to_contain_text("Opted out for (512) 555-0142 through the unsubscribe link")
    expect(history).to_contain_text("Text permission recorded for (512) 555-0142 on a web form")


def test_the_opt_out_date_is_the_same_on_the_card_and_in_the_panel(browse, live_server, consented_number):
    # 11:30 PM in Austin on Nov 29 is Nov 30 in UTC.
    late = dt.datetime(2026, 11, 30, 5, 30, tzinfo=dt.UTC)
    consent_revoke(organization=consented_number.organization, number=consented_number.number, source="sms_keyword")
    ConsentEvent.objects.filter(number=consented_number.number, action="revoke").update(created_at=late)
    from interactions.models import Consent

    Consent.objects.filter(number=consented_number.number).update(person_opted_out_at=late)
    page = browse()
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    expect(page.locator("#consent-notice")).to_contain_text("opted out on Nov 29, 2026")
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/?compose=1")
    panel = page.locator("#text-panel")
    expect(panel).to_contain_text("opted out on Nov 29, 2026")
    # Only the opt-out's own date: the thread also shows today's opt-out confirmation text, dated now.
    expect(panel).not_to_contain_text("opted out on Nov 30")


def test_a_stopped_leads_open_and_text_task_opens_no_sendable_panel(browse, live_server, consented_number, org):
    from workflows.models import Enrollment, Task, Workflow, WorkflowStep
    from workflows.services import enrollment_start

    lead = consented_number.lead
    workflow = Workflow.objects.create(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP, name="Follow-up")
    template = MessageTemplateFactory(organization=org, name="Checking in", body="Hi {{ first_name }}, still looking?")
    step = WorkflowStep.objects.create(
        organization=org,
        workflow=workflow,
        day_offset=0,
        time_of_day=dt.time(10, 0),
        action="manual_text",
        template=template,
    )
    enrollment = enrollment_start(workflow=workflow, owner=lead, source=Enrollment.Source.AGENT)
    task = Task.objects.create(
        organization=org, kind=Task.Kind.MANUAL_TEXT, due_at=timezone.now(), enrollment=enrollment, step=step, lead=lead
    )
    consent_revoke(organization=org, number=consented_number.number, source="sms_keyword")
    task.refresh_from_db()
    assert task.status == Task.Status.SKIPPED and "opted out" in task.skip_reason

    page = browse()
    page.goto(f"{live_server.url}/leads/{lead.pk}/?compose=1&template={template.pk}&task={task.pk}")
    panel = page.locator("#text-panel")
    expect(panel.locator("#send-btn")).to_be_disabled()
    expect(panel.locator("textarea")).to_have_value("")
    expect(panel.locator("#panel-state")).to_contain_text("Opted out")

    # And an opted-out person is never enrolled again.
    with pytest.raises(Exception, match="opted out"):
        enrollment_start(workflow=workflow, owner=lead, source=Enrollment.Source.AGENT)


# --- layout --------------------------------------------------------------------------------------------


def test_opening_the_panel_does_not_reflow_the_card_and_the_confirmation_floats(
    browse, live_server, consented_number, outbox, shot
):
    page = browse(viewport=DESKTOP)
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    card = page.locator(".interaction-card")
    ribbon_name = page.locator(".ribbon-name")
    text = page.locator("#text-controls .text-btn.with-label")
    before = card.bounding_box()
    panel = open_panel(page)
    after = card.bounding_box()
    assert abs(before["width"] - after["width"]) < 1 and abs(before["x"] - after["x"]) < 1
    # the Text button stays on the ribbon's row
    assert abs(text.bounding_box()["y"] - ribbon_name.bounding_box()["y"]) < 30
    ribbon_y = page.locator(".ribbon").bounding_box()["y"]
    panel.locator("textarea").fill("Gate code is 4412.")
    panel.locator("#send-btn").click()
    expect(page.locator("#card-confirmation")).to_contain_text("Text sent")
    assert page.locator(".ribbon").bounding_box()["y"] == ribbon_y  # the confirmation does not push the card
    shot(page, "workspace-desktop-panel-sent")


def test_on_a_phone_the_panel_is_a_full_height_sheet_with_the_thread_above_the_composer(
    browse, live_server, consented_number, shot
):
    MessageFactory(phone_number=consented_number, body="Your quote is ready.", status="delivered")
    ReplyFactory(phone_number=consented_number, body="Thanks, what about a 10x10?")
    page = browse(viewport=PHONE)
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    panel = open_panel(page)
    box = panel.bounding_box()
    assert box["y"] <= 1 and box["height"] >= PHONE["height"] - 2 and abs(box["width"] - PHONE["width"]) <= 1
    thread = panel.locator("#panel-conversation .thread")
    expect(thread).to_contain_text("what about a 10x10?")
    assert thread.bounding_box()["y"] < panel.locator("textarea").bounding_box()["y"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "workspace-phone-panel")


def test_the_resize_grip_is_readable_and_resizes_with_the_keyboard(browse, live_server, consented_number):
    page = browse()
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    panel = open_panel(page)
    grip = panel.locator("[data-resize]")
    expect(grip).to_have_attribute("aria-valuenow", "440")
    width = panel.bounding_box()["width"]
    grip.focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert panel.bounding_box()["width"] == pytest.approx(width + 48, abs=1)
    expect(grip).to_have_attribute("aria-valuenow", str(int(width + 48)))


def test_the_outstanding_list_and_the_header_fit_a_phone(browse, live_server, consented_number, shot):
    ReplyFactory(phone_number=consented_number, body=REQUEST, flagged=True)
    page = browse(viewport=PHONE)
    page.goto(f"{live_server.url}/outstanding/")
    expect(page.locator("#inbound .inbound-flagged")).to_contain_text(REQUEST)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.locator(".topbar").bounding_box()["height"] < 70  # one line: brand, inbox, menu
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("link", name="Outstanding")).to_be_visible()
    shot(page, "workspace-phone-outstanding")


# --- the conversation across numbers ------------------------------------------------------------------


def test_the_thread_spans_every_number_with_labels_and_events(browse, live_server, consented_number):
    lead = consented_number.lead
    home = grant(PhoneNumberFactory(lead=lead, number="+15125550181", is_primary=False, label="home"))
    ReplyFactory(phone_number=consented_number, body=REQUEST, flagged=True)
    MessageFactory(phone_number=home, body="Hi from the office", status="delivered")
    page = browse()
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.click("#text-controls details.phone-menu > summary")
    page.locator(".phone-menu-panel").get_by_role("button", name="Text (512) 555-0181").click()
    thread = page.locator("#panel-conversation")
    expect(thread).to_contain_text(REQUEST)  # the other number's flagged reply stays in view
    expect(thread.locator(".msg-inbound .msg-number")).to_contain_text("From (512) 555-0142 · Mobile")
    expect(thread.locator(".msg-outbound .msg-number")).to_contain_text("To (512) 555-0181 · Home")
    expect(thread.locator(".event").first).to_contain_text("Text permission for (512) 555-0142")


# --- drafts and speed ----------------------------------------------------------------------------------


def test_a_draft_survives_close_and_reload_and_ctrl_enter_sends_it(browse, live_server, consented_number, outbox):
    page = browse()
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    panel = open_panel(page)
    expect(panel.locator(".counter")).to_contain_text("The unsubscribe link uses")
    panel.locator("textarea").fill("Half-written thought")
    page.keyboard.press("Escape")
    expect(page.locator("#text-panel")).to_have_count(0)
    panel = open_panel(page)
    expect(panel.locator("textarea")).to_have_value("Half-written thought")
    page.reload()
    panel = open_panel(page)
    expect(panel.locator("textarea")).to_have_value("Half-written thought")
    panel.locator("textarea").press("Control+Enter")
    expect(page.locator("#card-confirmation")).to_contain_text("Text sent")
    assert Message.objects.get(direction="outbound").body.startswith("Half-written thought")
    panel = open_panel(page)
    expect(panel.locator("textarea")).to_have_value("")  # sent: the draft is gone


def test_templates_are_searchable_and_offered_only_when_the_person_has_their_fields(
    browse, live_server, consented_number, org, facility
):
    MessageTemplateFactory(organization=org, name="Quote ready", body="Hi {{ first_name }}, your quote is ready.")
    MessageTemplateFactory(
        organization=org,
        name="Balance reminder",
        category=MessageTemplate.Category.COLLECTIONS,
        body="Your balance for unit {{ unit }} is {{ balance_due }}.",
    )
    page = browse()
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    panel = open_panel(page)
    panel.locator(".template-menu > summary").click()
    balance = panel.get_by_role("button", name="Balance reminder")
    expect(balance).to_be_disabled()
    expect(balance).to_contain_text("Not for leads")
    panel.locator("[data-template-search]").fill("quote")
    expect(balance).to_be_hidden()
    expect(panel.get_by_role("button", name="Quote ready")).to_be_visible()

    paid = CustomerFactory(facility=facility, balance_due=Decimal("0.00"))
    grant(PhoneNumberFactory(lead=None, customer=paid, number="+15125550177"))
    page.goto(f"{live_server.url}/customers/{paid.pk}/")
    panel = open_panel(page)
    panel.locator(".template-menu > summary").click()
    expect(panel.get_by_role("button", name="Balance reminder")).to_contain_text("owes nothing")


def test_a_too_long_error_clears_once_the_text_is_shortened(browse, live_server, consented_number):
    page = browse()
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    panel = open_panel(page)
    panel.locator("textarea").fill("x" * 1700)
    panel.locator("#send-btn").click()
    expect(panel.locator("[data-refusal=too_long]")).to_be_visible()
    panel.locator("textarea").fill("Short now")
    expect(panel.locator("[data-refusal=too_long]")).to_have_count(0)


# --- replies reach agents -----------------------------------------------------------------------------


def test_a_reply_on_another_page_is_announced_and_read_from_the_inbox_on_a_phone(
    browse, live_server, consented_number, agent, shot
):
    lead = consented_number.lead
    grant(PhoneNumberFactory(lead=lead, number="+15125550181", is_primary=False, label="home"))
    MessageFactory(phone_number=consented_number, body="Your quote is ready.", status="delivered")
    page = browse(viewport=PHONE)
    page.goto(f"{live_server.url}/outstanding/")
    expect(page.locator("#unread-badge[data-unread='0']")).to_have_count(1)  # the page has its first count
    ReplyFactory(phone_number=consented_number, body="Is the 10x10 still free on Friday?")
    expect(page.locator("#unread-badge")).to_have_text("1 unread", timeout=10_000)
    expect(page.locator("#reply-toast")).to_contain_text(f"New reply from {lead.full_name}")
    shot(page, "workspace-phone-reply-toast")

    page.goto(f"{live_server.url}/inbox/")
    row = page.locator(".inbox-row").first
    expect(row).to_contain_text(lead.full_name)
    expect(row).to_contain_text("Unread reply")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "workspace-phone-inbox")

    # Opening the card is not reading: the thread in the panel is.
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    conversation = Conversation.objects.filter(lead=lead).first()
    assert conversation is None or conversation.read_at is None
    row_link = page.get_by_role("link", name="Inbox")
    expect(row_link).to_be_visible()
    page.goto(f"{live_server.url}/leads/{lead.pk}/?compose=1")
    panel = page.locator("#text-panel")
    expect(panel.locator("#panel-conversation")).to_contain_text("Is the 10x10 still free on Friday?")
    expect(page.locator("#unread-badge")).to_have_text("", timeout=10_000)
    panel.locator("textarea").fill("Yes, it is. Want me to hold it?")
    panel.locator("#send-btn").click()
    expect(page.locator("#card-confirmation")).to_contain_text("Text sent")
    shot(page, "workspace-phone-answered")

    page.goto(f"{live_server.url}/inbox/")
    expect(page.locator(".inbox-row").first).not_to_contain_text("Unread reply")


def test_the_inbox_assigns_conversations_and_searches_text_bodies(browse, live_server, consented_number, facility):
    lead = consented_number.lead
    ReplyFactory(phone_number=consented_number, body="Do you have climate controlled units?")
    someone = CustomerFactory(facility=facility, first_name="Dana")
    MessageFactory(phone_number=PhoneNumberFactory(lead=None, customer=someone, number="+15125550177"), body="Hi")
    page = browse()
    page.goto(f"{live_server.url}/inbox/")
    expect(page.locator(".inbox-row")).to_have_count(2)
    expect(page.locator(".inbox-row").first).to_contain_text(lead.full_name)  # unread first
    page.locator(".inbox-row", has_text=lead.full_name).get_by_role("link", name=lead.full_name).click()
    pane = page.locator(".inbox-pane")  # the opened conversation holds its assignment
    pane.get_by_label("Assigned to").select_option(label="Me (agent1)")
    pane.get_by_role("button", name="Assign").click()
    expect(page.locator(".flash")).to_contain_text("assigned to")
    page.get_by_role("link", name="Mine").click()
    expect(page.locator(".inbox-row")).to_have_count(1)
    page.get_by_role("link", name="Unassigned").click()
    expect(page.locator(".inbox-row")).to_have_count(1)
    expect(page.locator(".inbox-row")).to_contain_text("Dana")
    page.get_by_role("link", name="All").click()
    page.fill("#inbox-q", "climate")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".inbox-row")).to_have_count(1)
    expect(page.locator(".inbox-row")).to_contain_text(lead.full_name)
    page.fill("#inbox-q", "0177")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".inbox-row")).to_contain_text("Dana")


# --- every screen at both sizes: no sideways scroll, axe-core clean ---------------------------------------


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366", "390"])
def test_every_screen_fits_and_has_no_serious_accessibility_violations(
    browse, live_server, consented_number, viewport, chromium, shot
):
    lead = consented_number.lead
    ReplyFactory(phone_number=consented_number, body="Is the 10x10 still free?")
    token = unsubscribe_link_get_or_create(organization=consented_number.organization, number=consented_number.number)
    size = "1366" if viewport == DESKTOP else "390"

    # Signed out first: the login page and the unsubscribe page.
    context = chromium.new_context(viewport=viewport)
    public = context.new_page()
    for name, url in (("login", "/accounts/login/"), ("unsubscribe", f"/u/{token.token}")):
        public.goto(f"{live_server.url}{url}")
        assert public.evaluate("document.documentElement.scrollWidth") <= viewport["width"], name
        assert axe_violations(public) == [], name
        shot(public, f"a11y-{name}-{size}")
    context.close()

    page = browse(viewport=viewport)
    screens = {
        "home": "/",
        "card": f"/leads/{lead.pk}/",
        "outstanding": "/outstanding/",
        "inbox": "/inbox/",
    }
    for name, url in screens.items():
        page.goto(f"{live_server.url}{url}")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], name
        assert axe_violations(page) == [], name
        shot(page, f"a11y-{name}-{size}")
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.click("#text-controls details.phone-menu > summary")  # the phone menu's headings, in order
    assert axe_violations(page) == [], "phone menu"
    page.keyboard.press("Escape")
    open_panel(page)
    expect(page.locator("#panel-conversation")).to_contain_text("still free")
    assert axe_violations(page) == [], "panel"
    shot(page, f"a11y-panel-{size}")
    if viewport == PHONE:
        page.goto(f"{live_server.url}/")
        page.get_by_role("button", name="Menu").click()
        assert axe_violations(page) == [], "navigation menu"
        shot(page, f"a11y-nav-menu-{size}")
