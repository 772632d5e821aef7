"""An agent opts a number out in Chromium: from a reply that asks not to be texted, and from the phone menu."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from interactions.models import ConsentEvent
from tests.browser.conftest import PHONE
from tests.factories import MessageFactory, ReplyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPLY = "Please stop texting me, I rented somewhere else"


def test_an_agent_opts_a_number_out_from_its_flagged_reply(browse, live_server, consented_number, shot):
    lead = consented_number.lead
    MessageFactory(phone_number=consented_number, body="Hi, still looking for storage?", status="delivered")
    ReplyFactory(phone_number=consented_number, body=REPLY, flagged=True)
    card = f"{live_server.url}/leads/{lead.pk}/"

    # On a phone the flagged reply and its button fit the screen.
    phone = browse(viewport=PHONE)
    phone.goto(card)
    expect(phone.locator("#conversation .msg-flagged")).to_contain_text(REPLY)
    expect(phone.get_by_role("button", name="Opt out this number")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(phone, "optout-flagged-reply-390")

    phone.goto(f"{live_server.url}/outstanding/")
    expect(phone.locator("#inbound .inbound-flagged")).to_contain_text(REPLY)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(phone, "optout-outstanding-390")

    page = browse()
    page.goto(f"{live_server.url}/outstanding/")
    flagged_row = page.locator("#inbound .inbound-flagged tbody tr", has_text=REPLY)
    expect(flagged_row.get_by_role("button", name="Opt out this number")).to_be_visible()
    shot(page, "optout-outstanding")

    page.goto(card)
    flagged = page.locator("#conversation .msg-flagged")
    expect(flagged).to_contain_text("Reads like a request to stop texting")
    expect(page.locator("#text-controls .text-btn.with-label")).not_to_have_attribute("aria-disabled", "true")
    shot(page, "optout-flagged-reply")

    # One click: the reply is the note, and the card reloads with the number opted out.
    flagged.get_by_role("button", name="Opt out this number").click()
    expect(page.locator(".flash")).to_contain_text("Opt-out recorded for (512) 555-0142, as asked by text.")
    text = page.locator("#text-controls .text-btn.with-label")
    expect(text).to_have_attribute("aria-disabled", "true")
    text.hover()
    expect(page.locator(f"#why-{consented_number.pk}-r")).to_contain_text("Text permission for (512) 555-0142 was")
    notice = page.locator("#consent-notice")
    expect(notice).to_contain_text("Opted out by an agent.")
    expect(notice).to_contain_text(f'Asked by text: "{REPLY}"')
    expect(page.locator("#conversation .msg-flagged")).to_contain_text("the opt-out is recorded")
    expect(page.locator("#conversation .reply-optout")).to_have_count(0)
    shot(page, "optout-recorded")
    event = ConsentEvent.objects.get(action="revoke")
    assert (event.source, event.evidence) == ("agent", f'Asked by text: "{REPLY}"')

    phone.goto(card)
    expect(phone.locator("#text-controls .text-btn.with-label")).to_have_attribute("aria-disabled", "true")
    expect(phone.locator("#conversation .msg-flagged")).to_contain_text("the opt-out is recorded")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(phone, "optout-recorded-390")

    # The outstanding list no longer asks anyone to act on it.
    page.goto(f"{live_server.url}/outstanding/")
    expect(page.locator("#inbound .inbound-flagged")).to_contain_text("Nothing waiting.")
    expect(page.locator("#inbound")).not_to_contain_text(REPLY)

    # An agent's opt-out does not block permission the person gives again on a call; then the
    # phone menu offers "Record opt-out", which wants a reason.
    page.goto(card)
    page.locator("#text-controls .text-btn.with-label").click(force=True)
    page.locator(f"#consent-note-{consented_number.pk}").fill("Called us back and asked for texts again")
    page.click(f"#consent-{consented_number.pk} button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Text permission recorded for (512) 555-0142")
    expect(page.locator("#text-controls .text-btn.with-label")).not_to_have_attribute("aria-disabled", "true")

    page.click("#text-controls details.phone-menu > summary")
    optout = page.locator(f"#optout-{consented_number.pk}")
    optout.locator("summary").click()
    optout.locator("textarea").fill("   ")
    optout.get_by_role("button", name="Record opt-out").click()
    expect(page.locator(f"#optout-error-{consented_number.pk}")).to_contain_text("Say why this number must not be")
    expect(page.locator(f"#optout-note-{consented_number.pk}")).to_be_focused()
    shot(page, "optout-menu-note-required")
    assert ConsentEvent.objects.filter(action="revoke").count() == 1

    page.locator(f"#optout-note-{consented_number.pk}").fill("Asked on the phone")
    page.locator(f"#optout-{consented_number.pk}").get_by_role("button", name="Record opt-out").click()
    expect(page.locator(".flash")).to_contain_text("Opt-out recorded for (512) 555-0142.")
    expect(page.locator("#text-controls .text-btn.with-label")).to_have_attribute("aria-disabled", "true")
    assert ConsentEvent.objects.filter(action="revoke", source="agent", evidence="Asked on the phone").exists()
    assert page.js_errors == [] and phone.js_errors == []
