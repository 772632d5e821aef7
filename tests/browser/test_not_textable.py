"""A landline added in the card is shown not textable before any text is sent (issue: know the number)."""

from __future__ import annotations

from playwright.sync_api import expect

from interactions.models import PhoneNumber
from interactions.services import consent_grant
from tests.factories import LeadFactory, PhoneNumberFactory


def test_a_landline_added_in_the_card_has_its_text_icon_disabled_with_the_reason(
    browse, live_server, facility, twilio_server, shot
):
    twilio_server.set_line_type("+15125550188", "landline", carrier="Acme Telephone")
    lead = LeadFactory(facility=facility, first_name="Dana")
    mobile = PhoneNumberFactory(lead=lead, number="+15125550142")
    consent_grant(organization=lead.organization, number=mobile.number, source="web_form", evidence="quote form")
    page = browse()
    page.goto(f"{live_server.url}/leads/{lead.pk}/")

    page.click("#text-controls details.phone-menu > summary")
    page.click("details.add-new > summary")
    page.fill("#new-number", "(512) 555-0188")
    page.select_option("#new-label", "home")
    page.click(".add-number button[type=submit]")

    menu = page.locator(".phone-menu-panel")
    expect(page.locator(".ok-line")).to_contain_text("Added (512) 555-0188 (Home).")
    icon = menu.get_by_role("button", name="Text (512) 555-0188: not allowed")
    expect(icon).to_have_attribute("aria-disabled", "true")
    icon.hover()
    tip = menu.locator(".tooltip", has_text="(512) 555-0188 is a landline")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("can’t receive texts. Call it, or text another number on the record.")
    shot(page, "card-landline-not-textable")
    # Looked up once, when added, and nothing was sent.
    assert len(twilio_server.lookups(number="+15125550188")) == 1
    assert twilio_server.sends() == []
    assert PhoneNumber.objects.get(number="+15125550188").line_type == "landline"

    # The mobile next to it is still textable.
    expect(page.locator("#text-controls .text-btn.with-label")).not_to_have_attribute("aria-disabled", "true")
    assert page.js_errors == []
