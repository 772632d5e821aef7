"""Steps (A)–(F) of the manual-texting support page, clicked through in Chromium.

(A) the Text icon in the card's information ribbon opens a blank text at the bottom right;
(B) the phone dropdown lists the other numbers; (C) Add New; (D) compose, with the
unsubscribe note and a resizable window; (E) the template icon; (F) Send and the
confirmation at the top of the card.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from interactions.models import PhoneNumber
from interactions.services import consent_grant, consent_revoke
from messaging.models import Message
from tests.browser.conftest import PHONE
from tests.conftest import close_texting_window
from tests.factories import CustomerFactory, HistoryFactory, MessageFactory, MessageTemplateFactory, PhoneNumberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def grant(phone: PhoneNumber) -> PhoneNumber:
    consent_grant(organization=phone.organization, number=phone.number, source="web_form", evidence="quote form")
    return phone


def open_panel(page, button: str = "#text-controls .text-btn.with-label"):
    page.click(button)
    panel = page.locator("#text-panel")
    expect(panel).to_be_visible()
    return panel


def send_and_expect_confirmation(page, text: str, who: str):
    page.fill("#text-panel textarea", text)
    page.click("#text-panel .send-btn")
    confirmation = page.locator("#card-confirmation")
    expect(confirmation).to_contain_text(f"Text sent to {who}")
    expect(page.locator("#text-panel textarea")).to_have_value("")  # the panel clears
    return confirmation


# --- (A)–(F) on a lead card ------------------------------------------------------------------


def test_lead_card_steps_a_to_f(browse, live_server, consented_number, org, shot):
    lead = consented_number.lead
    PhoneNumberFactory(lead=lead, number="+15125550181", is_primary=False, label=PhoneNumber.Label.HOME)
    MessageTemplateFactory(organization=org, name="Quote ready", body="Hi {{ first_name }}, your quote is ready.")
    page = browse()
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("link", name=lead.full_name)).to_be_visible()
    shot(page, "home")

    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    ribbon = page.get_by_role("region", name="Information ribbon")
    expect(ribbon).to_contain_text(lead.full_name)
    expect(ribbon).to_contain_text(lead.facility.name)
    expect(ribbon).to_contain_text("(512) 555-0142")

    # (A) a blank message, docked bottom-right, focused
    panel = open_panel(page)
    expect(page.locator("#text-panel textarea")).to_have_value("")
    expect(page.locator("#text-panel textarea")).to_be_focused()
    box = panel.bounding_box()
    assert 1366 - (box["x"] + box["width"]) < 40 and 768 - (box["y"] + box["height"]) < 40

    # (B) the phone dropdown lists the other number with its label and its own text icon
    page.click("#text-controls details.phone-menu > summary")
    menu = page.locator(".phone-menu-panel")
    expect(menu).to_contain_text("(512) 555-0181")
    expect(menu).to_contain_text("Home")
    expect(menu.get_by_role("button", name="Text (512) 555-0181: not allowed")).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()

    # (D) compose: the unsubscribe note and the live counter computed by the server
    expect(panel).to_contain_text("An unsubscribe link is added to the end of every text.")
    page.locator("#text-panel textarea").press_sequentially("Your unit is ready")
    counter = page.locator(".counter-figures")
    expect(counter).to_have_attribute("data-characters", re.compile(r"^\d+$"))
    link_only = len("\nUnsubscribe: https://textdesk.test/u/") + 16
    expect(counter).to_have_attribute("data-characters", str(len("Your unit is ready") + link_only))
    expect(counter).to_contain_text("GSM-7 · 1 segment")

    # (D) the window edge resizes it
    before = panel.bounding_box()
    grip = page.locator("[data-resize]").bounding_box()
    page.mouse.move(grip["x"] + 8, grip["y"] + 8)
    page.mouse.down()
    page.mouse.move(grip["x"] - 120, grip["y"] - 60, steps=5)
    page.mouse.up()
    after = panel.bounding_box()
    assert after["width"] > before["width"] + 100 and after["height"] > before["height"] + 40

    # (E) the template icon: choosing one fills the (empty) message with the text rendered for this person
    page.fill("#text-panel textarea", "")
    page.click(".template-menu > summary")
    expect(page.locator(".template-menu-panel")).to_contain_text(f"Hi {lead.first_name}, your quote is ready.")
    page.click(".template-choice >> text=Quote ready")
    expect(page.locator("#text-panel textarea")).to_have_value(f"Hi {lead.first_name}, your quote is ready.")
    shot(page, "lead-card-panel-open")

    # (F) send: the panel clears, a confirmation shows at the top of the card, the text joins the conversation
    page.click("#text-panel .send-btn")
    expect(page.locator("#card-confirmation")).to_contain_text(f"Text sent to {lead.full_name} at (512) 555-0142.")
    expect(page.locator("#text-panel textarea")).to_have_value("")
    expect(page.locator("#conversation .msg-outbound")).to_contain_text("your quote is ready")
    message = Message.objects.get()
    assert message.template is not None and message.status == Message.Status.SENT
    shot(page, "confirmation")

    # Escape closes the panel and gives focus back to the Text icon
    page.locator("#text-panel textarea").focus()
    page.keyboard.press("Escape")
    expect(page.locator("#text-panel")).to_have_count(0)
    expect(page.locator("#text-controls .text-btn.with-label")).to_be_focused()
    assert page.js_errors == []


def test_customer_card_add_new_then_text_a_secondary_number(browse, live_server, facility, shot):
    customer = CustomerFactory(facility=facility)
    grant(PhoneNumberFactory(lead=None, customer=customer, number="+15125550160", source=PhoneNumber.Source.PMS))
    work = grant(
        PhoneNumberFactory(
            lead=None, customer=customer, number="+15125550161", is_primary=False, label=PhoneNumber.Label.WORK
        )
    )
    page = browse()
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    page.click("#text-controls details.phone-menu > summary")
    page.click("details.add-new > summary")
    menu = page.locator(".phone-menu-panel")
    expect(menu).to_contain_text("Numbers added here stay in Textdesk and are not sent to your PMS.")

    # (C) a bad number: a specific message in place, nothing saved
    page.fill("#new-number", "555-12")
    page.click(".add-number button[type=submit]")
    expect(page.locator("#new-number-error")).to_contain_text("“555-12” can’t be texted")
    expect(page.locator("#new-number")).to_have_attribute("aria-invalid", "true")
    assert customer.phone_numbers.count() == 2

    # a number already on the record
    page.fill("#new-number", "(512) 555-0161")
    page.click(".add-number button[type=submit]")
    expect(page.locator("#new-number-error")).to_contain_text("already saved")

    # a good one: saved locally, listed with its label
    page.fill("#new-number", "512-555-0163")
    page.select_option("#new-label", "home")
    page.click(".add-number button[type=submit]")
    expect(page.locator(".ok-line")).to_contain_text("Added (512) 555-0163 (Home). It stays in Textdesk")
    expect(menu).to_contain_text("(512) 555-0163")
    assert customer.phone_numbers.get(number="+15125550163").source == PhoneNumber.Source.LOCAL
    shot(page, "customer-card-dropdown-add-new")

    # (B) the other number's own text icon opens the panel for it, and the conversation follows
    menu.get_by_role("button", name="Text (512) 555-0161").click()
    expect(page.locator("#text-panel")).to_contain_text("(512) 555-0161 · Work")
    expect(page.locator("#text-panel .panel-titles")).to_contain_text("(512) 555-0161")
    send_and_expect_confirmation(page, "Your gate code changed.", f"{customer.full_name} at (512) 555-0161")
    assert Message.objects.get().to_number == work.number


def test_history_card_texts_the_person(browse, live_server, consented_number, agent, shot):
    entry = HistoryFactory(lead=consented_number.lead, agent=agent, summary="Asked about a 10x10 unit.")
    page = browse()
    page.goto(f"{live_server.url}/history/{entry.pk}/")
    expect(page.locator(".focus-entry")).to_contain_text("Asked about a 10x10 unit.")
    open_panel(page)
    shot(page, "history-card")
    send_and_expect_confirmation(page, "Following up on your call.", consented_number.lead.full_name)


# --- permission ------------------------------------------------------------------------------


def test_without_permission_the_text_icon_is_disabled_and_permission_can_be_recorded(
    browse, live_server, facility, shot
):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550170")
    page = browse()
    page.goto(f"{live_server.url}/leads/{phone.lead.pk}/")
    text = page.locator("#text-controls .text-btn.with-label")
    expect(text).to_have_attribute("aria-disabled", "true")
    text.hover()
    expect(page.locator(f"#why-{phone.pk}-r")).to_be_visible()
    expect(page.locator(f"#why-{phone.pk}-r")).to_contain_text("no text permission on record for (512) 555-0170")
    shot(page, "refusal-no-permission-disabled")

    text.click(force=True)  # points at the "record text permission" form
    note = page.locator(f"#consent-note-{phone.pk}")
    expect(note).to_be_focused()
    note.fill("Said yes on today’s call, 3:10 pm")
    page.click(f"#consent-{phone.pk} button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Text permission recorded for (512) 555-0170")
    expect(page.locator("#text-controls .text-btn.with-label")).not_to_have_attribute("aria-disabled", "true")
    open_panel(page)


def test_after_the_persons_opt_out_only_start_can_opt_back_in(browse, live_server, org, consented_number, shot):
    consent_revoke(organization=org, number=consented_number.number, source="sms_keyword", evidence="STOP")
    page = browse()
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    notice = page.locator("#consent-notice")
    expect(notice).to_contain_text("opted out on")
    expect(notice).to_contain_text("only")
    expect(notice).to_contain_text("texting START")
    expect(notice.locator("textarea")).to_have_count(0)
    expect(page.locator("#text-controls .text-btn.with-label")).to_have_attribute("aria-disabled", "true")
    shot(page, "refusal-opted-out")


def test_send_refused_when_permission_was_withdrawn_while_the_panel_was_open(
    browse, live_server, org, consented_number, shot
):
    page = browse()
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    open_panel(page)
    consent_revoke(organization=org, number=consented_number.number, source="agent", evidence="asked on call")
    page.fill("#text-panel textarea", "Hello")
    page.click("#text-panel .send-btn")
    refusal = page.locator("[data-refusal=no_consent]")
    expect(refusal).to_contain_text("Not sent: no text permission.")
    expect(refusal).to_contain_text("withdrawn")
    expect(page.locator("#text-panel textarea")).to_have_value("Hello")
    assert not Message.objects.filter(confirms_event=None).exists()  # only the opt-out's own confirmation
    shot(page, "refusal-no-permission-panel")


# --- quiet hours, too long -----------------------------------------------------------------------


def test_quiet_hours_refusal_then_schedule_for_the_next_allowed_time(browse, live_server, org, consented_number, shot):
    close_texting_window(org)
    page = browse()
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    open_panel(page)
    page.fill("#text-panel textarea", "Your unit is ready.")
    page.click("#text-panel .send-btn")
    refusal = page.locator("[data-refusal=quiet_hours]")
    expect(refusal).to_contain_text("outside texting hours")
    expect(refusal).to_contain_text("The next allowed time is")
    schedule = refusal.get_by_role("button", name=re.compile(r"^Schedule for "))
    expect(schedule).to_be_focused()
    shot(page, "refusal-quiet-hours")
    assert not Message.objects.exists()

    schedule.click()
    expect(page.locator("#card-confirmation")).to_contain_text("Text scheduled for")
    message = Message.objects.get()
    assert message.status == Message.Status.SCHEDULED and message.send_at is not None
    expect(page.locator("#conversation")).to_contain_text("Scheduled for")


def test_too_long_text_is_flagged_by_the_counter_and_refused(browse, live_server, consented_number):
    page = browse()
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    open_panel(page)
    page.fill("#text-panel textarea", "a" * 1590)
    page.locator("#text-panel textarea").press("End")
    page.locator("#text-panel textarea").press_sequentially("bb")
    expect(page.locator(".counter")).to_contain_text("Over the 1,600-character limit")
    page.click("#text-panel .send-btn")
    expect(page.locator("[data-refusal=too_long]")).to_contain_text("the limit is 1,600")
    assert not Message.objects.exists()


# --- the conversation ----------------------------------------------------------------------------


def test_delivery_status_appears_without_a_reload(browse, live_server, consented_number, agent, shot):
    page = browse()
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    open_panel(page)
    send_and_expect_confirmation(page, "See you at 3.", consented_number.lead.full_name)
    status = page.locator("#conversation .msg-outbound .status")
    expect(status).to_have_text("Sent")
    page.evaluate("window.__notReloaded = true")

    Message.objects.update(status=Message.Status.DELIVERED)  # as the status webhook would

    expect(status).to_have_text("Delivered", timeout=10_000)
    assert page.evaluate("window.__notReloaded") is True
    shot(page, "delivery-status")


def test_failed_text_to_an_unreachable_number_suggests_the_other_numbers(browse, live_server, consented_number):
    other = grant(PhoneNumberFactory(lead=consented_number.lead, number="+15125550182", is_primary=False))
    MessageFactory(
        phone_number=consented_number,
        status=Message.Status.FAILED,
        error_code="30003",
        error_message="Unreachable destination handset.",
    )
    page = browse()
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    failure = page.locator("#conversation .failure")
    expect(failure).to_contain_text("Unreachable destination handset.")
    expect(failure).to_contain_text("Try another number on the record")
    failure.get_by_role("button", name="Text (512) 555-0182").click()
    expect(page.locator("#text-panel")).to_contain_text(other.national)


# --- small screens -------------------------------------------------------------------------------


def test_phone_width_card_and_panel_fit_the_screen(browse, live_server, consented_number, shot):
    page = browse(viewport=PHONE)
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    expect(page.get_by_role("region", name="Information ribbon")).to_be_visible()
    expect(page.locator("#conversation h2")).to_contain_text(f"Texts with {consented_number.lead.first_name}")
    expect(page.locator("#conversation")).not_to_contain_text("Loading")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "phone-390-card")
    panel = open_panel(page)
    box = panel.bounding_box()
    assert box["x"] == 0 and abs(box["width"] - PHONE["width"]) <= 1
    shot(page, "phone-390-panel")


# --- opening shows the newest text at once -----------------------------------------------------


def test_the_panel_opens_on_its_newest_text_without_waiting_for_a_timer(browse, live_server, consented_number):
    """htmx settles the opened panel at once (``settle:0ms``): the thread is scrolled to its newest
    text in the very task that swaps the panel in, so no frame shows it scrolled to the oldest."""
    for i in range(40):
        MessageFactory(phone_number=consented_number, body=f"Text {i}: your unit is ready.")
    newest = Message.objects.order_by("-created_at", "-id").first()
    page = browse()
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    page.evaluate(
        """(id) => {
          window.newestInView = null;
          document.addEventListener("htmx:afterSwap", (event) => {
            if (event.target.id !== "text-dock") return;
            queueMicrotask(() => {  // after the swap's own task, before any timer or frame
              const thread = document.querySelector("#panel-conversation .thread");
              const item = thread.querySelector('[data-message="' + id + '"]');
              const box = thread.getBoundingClientRect(), at = item.getBoundingClientRect();
              window.newestInView = thread.scrollTop > 0 && at.top >= box.top - 1 && at.bottom <= box.bottom + 1;
            });
          });
        }""",
        newest.pk,
    )
    open_panel(page)
    page.wait_for_function("() => window.newestInView !== null")
    assert page.evaluate("() => window.newestInView") is True
    expect(page.locator(f'#panel-conversation [data-message="{newest.pk}"]')).to_be_in_viewport()
    assert page.js_errors == []


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_after_send_the_thread_shows_the_text_just_sent(browse, live_server, consented_number, viewport):
    """The answer to Send swaps the whole panel: its thread must land on the new text, not the oldest."""
    for i in range(40):
        MessageFactory(phone_number=consented_number, body=f"Text {i}: your unit is ready.")
    page = browse(viewport=viewport) if viewport else browse()
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    open_panel(page)
    page.fill("#text-panel textarea", "Just sent: see you at the gate.")
    page.click("#text-panel .send-btn")
    sent = page.locator("#panel-conversation .thread [data-message]", has_text="Just sent: see you at the gate.")
    expect(sent).to_be_in_viewport()
    # The card's History has the new entry without a reload.
    expect(page.locator("#card-history .history-list li").first).to_contain_text("Just sent: see you at the gate.")
    assert page.evaluate("document.querySelector('#panel-conversation .thread').scrollTop") > 0
    assert page.js_errors == []


def test_on_a_phone_the_confirmation_shows_over_the_panel_and_goes(browse, live_server, consented_number):
    page = browse(viewport=PHONE)
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    open_panel(page)
    confirmation = send_and_expect_confirmation(page, "See you Tuesday.", consented_number.lead.full_name)
    pill = confirmation.locator(".confirm")
    box = pill.bounding_box()
    on_top = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('#card-confirmation') !== null",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top  # not hidden under the full-screen panel
    pill.click()  # dismissed at once (it also goes by itself after a few seconds)
    expect(pill).to_have_count(0)
    expect(page.locator("#text-panel")).to_be_visible()
    assert page.js_errors == []
