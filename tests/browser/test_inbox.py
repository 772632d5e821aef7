"""The inbox as a place to work, in Chromium at 1366×768 and 390×844: the conversation beside the list
(one column on a phone), a reply on the number that wrote, new replies without a reload, done, snooze
and unread, a note that is never texted, a warning when another agent has the conversation open, and
the keyboard. axe-core finds no critical, serious or moderate violation on the opened inbox.
"""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from messaging.backends import locmem
from messaging.models import Conversation, ConversationNote, Message
from tests.browser.conftest import DESKTOP, PHONE, _sign_in
from tests.browser.test_workspace import AXE, grant
from tests.factories import MembershipFactory, MessageFactory, PhoneNumberFactory, ReplyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def axe_findings(page) -> list[str]:
    """Critical, serious and moderate axe-core violations, as "rule (impact): target" lines."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {node['target']}"
        for v in result["violations"]
        if v["impact"] in ("critical", "serious", "moderate")
        for node in v["nodes"]
    ]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366", "390"])
def test_a_reply_arrives_live_and_is_answered_from_the_inbox_on_the_number_that_wrote(
    browse, live_server, consented_number, viewport, shot
):
    lead = consented_number.lead
    home = grant(PhoneNumberFactory(lead=lead, number="+15125550181", is_primary=False, label="home"))
    MessageFactory(phone_number=consented_number, body="Your quote is ready.", status="delivered")
    size = "1366" if viewport == DESKTOP else "390"
    page = browse(viewport=viewport)
    page.goto(f"{live_server.url}/inbox/")
    expect(page.locator(".inbox-row")).to_have_count(1)
    expect(page.locator(".inbox-row").first).not_to_contain_text("Unread reply")

    # A reply from the home number, while the inbox is open: it shows up without a reload.
    ReplyFactory(phone_number=home, body="use this one please")
    row = page.locator(".inbox-row", has_text=lead.full_name)
    expect(row).to_contain_text("Unread reply", timeout=10_000)
    expect(row).to_contain_text("use this one please")

    row.get_by_role("link", name=lead.full_name).click()
    panel = page.locator(".inbox-dock #text-panel")
    expect(panel).to_be_visible(timeout=15_000)
    expect(panel.locator(".panel-titles")).to_contain_text("(512) 555-0181")  # the number that wrote
    expect(panel.locator("#panel-conversation")).to_contain_text("use this one please")
    if viewport == PHONE:
        expect(page.locator(".inbox-side")).to_be_hidden()
        expect(page.get_by_role("link", name="← Back to the list")).to_be_visible()
    else:
        expect(page.locator(".inbox-side")).to_be_visible()  # side by side
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    send = panel.locator("#send-btn").bounding_box()
    assert send is not None and send["y"] + send["height"] <= viewport["height"], send
    page.wait_for_load_state("networkidle")
    assert axe_findings(page) == []
    shot(page, f"inbox-open-{size}")

    panel.locator("textarea").fill("Got it, I'll text this number from now on.")
    panel.locator("#send-btn").click()
    expect(page.locator("#card-confirmation")).to_contain_text("Text sent")
    sent = Message.objects.get(direction="outbound", body__startswith="Got it")
    assert sent.to_number == home.number and sent.phone_number_id == home.pk

    # Another reply while the thread is open: it appears in the open thread, no reload.
    ReplyFactory(phone_number=home, body="Thanks! See you Friday")
    expect(panel.locator("#panel-conversation")).to_contain_text("See you Friday", timeout=10_000)
    shot(page, f"inbox-answered-{size}")


def test_done_snooze_and_unread_move_a_conversation_between_the_views(browse, live_server, consented_number, shot):
    lead = consented_number.lead
    ReplyFactory(phone_number=consented_number, body="Can I move in on Saturday?")
    page = browse()
    page.goto(f"{live_server.url}/inbox/?open=lead-{lead.pk}")
    expect(page.locator(".inbox-dock #text-panel")).to_be_visible(timeout=15_000)

    page.get_by_role("button", name="Done").click()
    expect(page.locator(".flash")).to_contain_text("is done")
    page.goto(f"{live_server.url}/inbox/")
    expect(page.locator(".inbox-row")).to_have_count(0)
    page.get_by_role("link", name="Done").click()
    expect(page.locator(".inbox-row", has_text=lead.full_name)).to_have_count(1)

    page.goto(f"{live_server.url}/inbox/?open=lead-{lead.pk}")
    page.get_by_role("button", name="Reopen").click()
    page.locator(".snooze-menu > summary").click()
    page.get_by_role("button", name="Tomorrow").click()
    expect(page.locator(".flash")).to_contain_text("snoozed until")
    page.goto(f"{live_server.url}/inbox/")
    expect(page.locator(".inbox-row")).to_have_count(0)
    page.get_by_role("link", name="Snoozed").click()
    expect(page.locator(".inbox-row")).to_contain_text("Snoozed until")
    shot(page, "inbox-snoozed-1366")

    # The snooze ran out: back in the list without anyone touching it.
    Conversation.objects.filter(lead=lead).update(snoozed_until=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    page.goto(f"{live_server.url}/inbox/")
    expect(page.locator(".inbox-row", has_text=lead.full_name)).to_have_count(1)

    page.goto(f"{live_server.url}/inbox/?open=lead-{lead.pk}")
    expect(page.locator(".inbox-dock #text-panel")).to_be_visible(timeout=15_000)  # opening it read it
    page.get_by_role("button", name="Mark unread").click()
    expect(page.locator(".inbox-row", has_text=lead.full_name)).to_contain_text("Unread reply")
    assert Conversation.objects.get(lead=lead).unread


def test_a_note_is_shown_in_the_thread_and_never_texted(browse, live_server, consented_number, shot):
    lead = consented_number.lead
    ReplyFactory(phone_number=consented_number, body="Is the gate code still 1234?")
    locmem.outbox.clear()
    page = browse()
    page.goto(f"{live_server.url}/inbox/?open=lead-{lead.pk}")
    page.get_by_text("Add a note for the team").click()
    page.get_by_label("Note (only your team sees it)").fill("Gate code changed last week, check with the manager")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".flash")).to_contain_text("never texted")
    note = page.locator(".inbox-dock .event-internal")
    expect(note).to_contain_text("Gate code changed last week")
    expect(note).to_contain_text("not texted")
    assert ConversationNote.objects.filter(lead=lead).count() == 1
    assert not Message.objects.filter(direction="outbound").exists() and locmem.outbox == []
    shot(page, "inbox-note-1366")


def test_another_agent_viewing_or_typing_is_announced(browse, live_server, consented_number, chromium, org, shot):
    lead = consented_number.lead
    ReplyFactory(phone_number=consented_number, body="Hello, anyone?")
    MembershipFactory(organization=org, user__username="agent2", user__first_name="Robin")
    page = browse()
    other = chromium.new_context(viewport=DESKTOP).new_page()
    _sign_in(other, live_server.url, "agent2", "pw-12345!")
    page.goto(f"{live_server.url}/inbox/?open=lead-{lead.pk}")
    other.goto(f"{live_server.url}/inbox/?open=lead-{lead.pk}")
    expect(page.locator("#inbox-presence")).to_contain_text("is viewing this conversation", timeout=10_000)
    other.locator(".inbox-dock textarea").type("On it")
    expect(page.locator("#inbox-presence")).to_contain_text("is typing a reply", timeout=10_000)
    expect(other.locator("#inbox-presence")).to_contain_text("is viewing this conversation", timeout=10_000)
    shot(page, "inbox-presence-1366")
    other.context.close()


def test_the_keyboard_moves_opens_replies_and_marks_done_but_never_while_typing(
    browse, live_server, consented_number, facility, shot
):
    lead = consented_number.lead
    ReplyFactory(phone_number=consented_number, body="First question")
    second = grant(PhoneNumberFactory(lead__facility=facility, number="+15125550190"))
    ReplyFactory(phone_number=second, body="Second question")  # newest: first in the list
    page = browse()
    page.goto(f"{live_server.url}/inbox/")
    expect(page.locator(".inbox-row")).to_have_count(2)

    page.locator("#inbox-q").fill("jjk e")  # typing in the search: no key acts, and Enter only searches
    page.locator("#inbox-q").press("Enter")
    expect(page.locator(".inbox-row")).to_have_count(0)
    assert not Message.objects.filter(direction="outbound").exists()
    page.goto(f"{live_server.url}/inbox/")

    page.locator("body").press("j")
    page.keyboard.press("j")
    expect(page.locator(".inbox-row.is-cursor")).to_contain_text(lead.full_name)
    page.keyboard.press("k")
    expect(page.locator(".inbox-row.is-cursor")).to_contain_text(second.lead.full_name)
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_url(f"**open=lead-{lead.pk}**")
    expect(page.locator(".inbox-dock #text-panel")).to_be_visible(timeout=15_000)
    page.locator("body").press("r")
    expect(page.locator(".inbox-dock textarea")).to_be_focused()
    page.keyboard.type("e")  # typing in the reply: "e" is a letter, not Done
    expect(page.locator(".inbox-dock textarea")).to_have_value("e")
    assert Conversation.objects.get(lead=lead).done_at is None
    page.keyboard.press("Escape")  # leaves the reply box; the conversation stays open
    expect(page.locator(".inbox-dock #text-panel")).to_be_visible(timeout=15_000)
    page.keyboard.press("e")
    expect(page.locator(".flash")).to_contain_text("is done")
    assert Conversation.objects.get(lead=lead).done_at is not None
    expect(page.get_by_text("Keyboard")).to_be_visible()
    shot(page, "inbox-keyboard-1366")
