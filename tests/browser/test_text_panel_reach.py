"""The text panel as an agent works in it (issue 27): Send and every refusal in reach, nothing sent by a
stray Enter, templates that never swallow a draft, menus above the panel, overlays off the controls,
scheduled texts that can be seen and cancelled, and words and times that agree.

The panel states are generated from the refusals the send can give: every code a ``ServiceError`` or a
compliance ``Refusal`` is raised with in the compose service, the compliance engine and the panel's view
(read from their source), so a new refusal fails ``test_every_refusal_has_a_panel_state`` until it has a
state here and is measured at both sizes.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import re
from collections.abc import Callable

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from interactions.models import Facility, PhoneNumber
from interactions.services import consent_grant, consent_revoke
from messaging.compliance import engine
from messaging.models import Message, MessageTemplate
from messaging.services import compose
from messaging.views import panel as panel_view
from tests.browser.conftest import DESKTOP, PHONE
from tests.conftest import close_texting_window
from tests.factories import MessageFactory, MessageTemplateFactory, PhoneNumberFactory, ReplyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": DESKTOP, "phone": PHONE}


def open_card_panel(page, url: str, phone: PhoneNumber) -> None:
    page.goto(f"{url}/leads/{phone.lead.pk}/")
    page.click("#text-controls .text-btn.with-label")
    expect(page.locator("#text-panel textarea")).to_be_visible()


def type_and_send(page, text: str = "Your unit is ready.") -> None:
    page.fill("#text-panel textarea", text)
    page.click("#text-panel .send-btn")


def grant(phone: PhoneNumber) -> PhoneNumber:
    consent_grant(organization=phone.organization, number=phone.number, source="web_form", evidence="quote form")
    return phone


# --- the panel's states: one builder per refusal code -----------------------------------------------


def _quiet_hours(page, url, phone, settings) -> str:
    close_texting_window(phone.organization)
    open_card_panel(page, url, phone)
    type_and_send(page)
    return "[data-refusal=quiet_hours]"


def _frequency_cap(page, url, phone, settings) -> str:
    org = phone.organization
    org.daily_text_cap = 1
    org.save(update_fields=["daily_text_cap"])
    MessageFactory(phone_number=phone, status=Message.Status.SENT, sent_at=timezone.now() - dt.timedelta(hours=1))
    open_card_panel(page, url, phone)
    type_and_send(page)
    return "[data-refusal=frequency_cap]"


def _no_texting_window(page, url, phone, settings) -> str:
    settings.TEXTING_LAW_WINDOWS_OFF_FOR_TESTS = False
    org = phone.organization
    org.quiet_hours_start, org.quiet_hours_end = dt.time(2, 0), dt.time(3, 0)  # never inside 8 AM–9 PM
    org.save(update_fields=["quiet_hours_start", "quiet_hours_end"])
    open_card_panel(page, url, phone)
    type_and_send(page)
    return "[data-refusal=no_texting_window]"


def _no_consent(page, url, phone, settings) -> str:
    open_card_panel(page, url, phone)
    consent_revoke(organization=phone.organization, number=phone.number, source="agent", evidence="asked on call")
    type_and_send(page)
    return "[data-refusal=no_consent]"


def _opted_out(page, url, phone, settings) -> str:
    open_card_panel(page, url, phone)
    consent_revoke(organization=phone.organization, number=phone.number, source="sms_keyword", evidence="STOP")
    type_and_send(page)
    return "[data-refusal=opted_out]"


def _too_long(page, url, phone, settings) -> str:
    open_card_panel(page, url, phone)
    type_and_send(page, "Your unit is ready. " * 90)
    return "[data-refusal=too_long]"


def _empty_body(page, url, phone, settings) -> str:
    open_card_panel(page, url, phone)
    page.click("#text-panel .send-btn")
    return "[data-refusal=empty_body]"


def _open_request(page, url, phone, settings) -> str:
    ReplyFactory(phone_number=phone, body="please don't text me anymore", flagged=True)
    open_card_panel(page, url, phone)
    return "[data-open-request]"  # Send is disabled: the panel says why


def _confirm_other(page, url, phone, settings) -> str:
    other = grant(PhoneNumberFactory(lead=phone.lead, number="+15125550183", is_primary=False))
    ReplyFactory(phone_number=other, body="stop texting this one", flagged=True)
    open_card_panel(page, url, phone)
    type_and_send(page)
    return "[data-refusal=confirm_other]"


def _duplicate_schedule(page, url, phone, settings) -> str:
    close_texting_window(phone.organization)
    open_card_panel(page, url, phone)
    for _ in range(2):
        type_and_send(page, "See you at 8.")
        page.locator("[data-refusal=quiet_hours]").get_by_role("button", name=re.compile("^Schedule for ")).click()
        if _ == 0:
            expect(page.locator("#card-confirmation")).to_contain_text("Text scheduled for")
    return "[data-refusal=duplicate_schedule]"


def _not_textable(page, url, phone, settings) -> str:
    open_card_panel(page, url, phone)
    PhoneNumber.objects.filter(pk=phone.pk).update(line_type=PhoneNumber.LineType.LANDLINE)
    type_and_send(page)
    return "[data-refusal=not_textable]"


def _sender_not_registered(page, url, phone, settings) -> str:
    open_card_panel(page, url, phone)
    Facility.objects.filter(pk=phone.lead.facility_id).update(sender_registration=Facility.Registration.FAILED)
    type_and_send(page)
    return "[data-refusal=sender_not_registered]"


def _archived(page, url, phone, settings) -> str:
    open_card_panel(page, url, phone)
    type(phone.lead).objects.filter(pk=phone.lead.pk).update(archived_at=timezone.now())
    type_and_send(page)
    return ".refusal[data-refusal=archived]"


STATES: dict[str, Callable[..., str]] = {
    "quiet_hours": _quiet_hours,
    "frequency_cap": _frequency_cap,
    "no_texting_window": _no_texting_window,
    "no_consent": _no_consent,
    "opted_out": _opted_out,
    "too_long": _too_long,
    "empty_body": _empty_body,
    "open_request": _open_request,
    "confirm_other": _confirm_other,
    "duplicate_schedule": _duplicate_schedule,
    "not_textable": _not_textable,
    "sender_not_registered": _sender_not_registered,
    "archived": _archived,
}
# Refusals the panel cannot meet, and why.
NOT_PANEL_STATES = {
    "not_found": "a template or text the menu never offers (a URL edited by hand answers 404)",
    "inactive_template": "a template pick's error shows in the message box (the menu offers active templates only)",
    "invalid_number": "a saved number always parses; only the API can pass a bad one",
    "invalid_send_at": "the panel schedules only the next allowed time it computed itself",
    "duplicate": "an API Idempotency-Key reused for another request",
    "not_resendable": "“Send without the picture” is under a failed text in the thread, not in the box; a second "
    "click says so on the card (tests/messaging/test_mms_failures.py)",
}


def refusal_codes() -> set[str]:
    """Every code the send's refusals are raised with, read from the source of the services and views."""
    codes: set[str] = set()
    for module in (compose, engine, panel_view):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name == "ServiceError" and node.args and isinstance(node.args[0], ast.Constant):
                codes.add(node.args[0].value)
            if name == "Refusal":
                codes |= {k.value.value for k in node.keywords if k.arg == "code" and isinstance(k.value, ast.Constant)}
    return codes


@pytest.mark.django_db
def test_every_refusal_has_a_panel_state():
    codes = refusal_codes()
    assert {"quiet_hours", "frequency_cap", "no_consent", "too_long"} <= codes  # the reader finds them
    missing = codes - set(STATES) - set(NOT_PANEL_STATES)
    assert not missing, f"refusals without a panel state in this file: {sorted(missing)}"
    assert not (set(STATES) | set(NOT_PANEL_STATES)) - codes, "states for refusals that no longer exist"


def _inside_window(page, selector: str) -> None:
    """The element is fully inside the window and what is drawn at its centre is the element itself
    (not clipped by a scrolling part, not under anything)."""
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not shown"
    assert box["x"] >= 0 and box["y"] >= 0, (selector, box)
    assert box["x"] + box["width"] <= width + 0.5 and box["y"] + box["height"] <= height + 0.5, (selector, box)
    hit = page.evaluate(
        "([sel, x, y]) => { const el = document.elementFromPoint(x, y); return !!el && !!el.closest(sel); }",
        [selector, box["x"] + box["width"] / 2, box["y"] + min(box["height"] / 2, 20)],
    )
    assert hit, f"{selector} is covered or clipped at its centre"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("code", sorted(STATES))
def test_send_and_the_refusal_are_in_the_window_in_every_panel_state(
    browse, live_server, consented_number, settings, code, size, shot
):
    page = browse(viewport=SIZES[size])
    notice = STATES[code](page, live_server.url, consented_number, settings)
    expect(page.locator(notice).first).to_be_visible()
    page.wait_for_timeout(150)  # the refusal is scrolled into view after htmx settles
    _inside_window(page, "#text-panel .send-btn")
    _inside_window(page, notice)
    _inside_window(page, "#text-panel .panel-head")
    shot(page, f"panel-state-{code}-{size}")
    assert page.js_errors == []


# --- 1. Enter in a menu's field never sends --------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_enter_in_the_template_search_or_the_phone_menu_never_sends_the_draft(
    browse, live_server, consented_number, org, size
):
    MessageTemplateFactory(organization=org, name="Welcome", body="Welcome, {{ first_name }}!")
    page = browse(viewport=SIZES[size])
    open_card_panel(page, live_server.url, consented_number)
    page.fill("#text-panel textarea", "Half-written thought")
    page.click(".template-menu > summary")
    page.fill("[data-template-search]", "welcome")
    page.keyboard.press("Enter")
    expect(page.locator(".template-choice", has_text="Welcome")).to_be_focused()  # Enter goes to the match
    page.wait_for_timeout(400)
    assert not Message.objects.exists()
    expect(page.locator("#card-confirmation")).not_to_contain_text("Text sent")

    # A refusal with its own button (Schedule for …) is not pressed by Enter in the search either.
    close_texting_window(org)
    page.keyboard.press("Escape")  # closes the menu
    page.click("#text-panel .send-btn")
    expect(page.locator("[data-refusal=quiet_hours]")).to_be_visible()
    page.click(".template-menu > summary")
    page.fill("[data-template-search]", "nothing matches this")
    page.keyboard.press("Enter")
    page.wait_for_timeout(400)
    assert not Message.objects.exists()

    # The phone menu's Add New: Enter adds the number (its own form), never sends the draft.
    page.keyboard.press("Escape")
    if size == "phone":  # the panel is the whole screen there: the phone menu is used from the card
        page.keyboard.press("Escape")
        expect(page.locator("#text-panel")).to_have_count(0)
    page.click("#text-controls details.phone-menu > summary")
    page.click("details.add-new > summary")
    page.fill("#new-number", "512-555-0177")
    page.keyboard.press("Enter")
    expect(page.locator(".ok-line")).to_contain_text("Added (512) 555-0177")
    assert not Message.objects.exists()
    if size == "desktop":
        expect(page.locator("#text-panel textarea")).to_have_value("Half-written thought")


# --- 4. a template goes in at the cursor, with Undo ---------------------------------------------------


def test_picking_a_template_inserts_at_the_cursor_and_undo_puts_the_draft_back(
    browse, live_server, consented_number, org
):
    MessageTemplateFactory(organization=org, name="Gate code", body="Your gate code is 4321.")
    page = browse()
    open_card_panel(page, live_server.url, consented_number)
    box = page.locator("#text-panel textarea")
    box.fill("Hi Sam. Thanks!")
    box.evaluate("el => el.setSelectionRange(7, 7)")  # after "Hi Sam."
    page.click(".template-menu > summary")
    page.click(".template-choice >> text=Gate code")
    expect(box).to_have_value("Hi Sam. Your gate code is 4321. Thanks!")
    expect(page.locator(".template-note")).to_contain_text("Inserted “Gate code” at the cursor.")
    page.locator("[data-template-undo]").click()
    expect(box).to_have_value("Hi Sam. Thanks!")
    expect(page.locator(".template-note")).to_have_count(0)
    # On an empty message the template is the message, and it is sent as the template.
    box.fill("")
    page.click(".template-menu > summary")
    page.click(".template-choice >> text=Gate code")
    expect(box).to_have_value("Your gate code is 4321.")
    page.click("#text-panel .send-btn")
    expect(page.locator("#card-confirmation")).to_contain_text("Text sent")
    assert Message.objects.get().template.name == "Gate code"
    assert page.js_errors == []


# --- 5, 8. menus above the panel and inside the screen; usable templates first ------------------------


@pytest.mark.parametrize("size", SIZES)
def test_the_phone_menu_opens_above_the_open_panel_and_inside_the_screen(
    browse, live_server, consented_number, size, shot
):
    grant(PhoneNumberFactory(lead=consented_number.lead, number="+15125550184", is_primary=False))
    page = browse(viewport=SIZES[size])
    open_card_panel(page, live_server.url, consented_number)
    if size == "phone":
        page.keyboard.press("Escape")  # on a phone the panel is the whole screen: the menu is used from the card
        expect(page.locator("#text-panel")).to_have_count(0)
    page.click("#text-controls details.phone-menu > summary")
    page.click("details.add-new > summary")
    menu = page.locator(".phone-menu-panel")
    _inside_window(page, ".phone-menu-panel")
    for control in ("details.add-new > summary", "#new-number", ".add-number button[type=submit]"):
        _inside_window(page, f".phone-menu-panel {control}")
    menu.get_by_role("button", name="Text (512) 555-0184").click()  # clickable, not under the panel
    expect(page.locator("#text-panel .panel-titles")).to_contain_text("(512) 555-0184")
    shot(page, f"phone-menu-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_the_template_menu_stays_inside_the_screen_with_usable_templates_first_for_a_lead(
    browse, live_server, consented_number, org, size, shot
):
    for i in range(6):
        MessageTemplateFactory(
            organization=org,
            name=f"Balance reminder {i}",
            category=MessageTemplate.Category.COLLECTIONS,
            body="You owe {{ balance_due }}.",
        )
    for i in range(6):
        MessageTemplateFactory(
            organization=org, name=f"Follow-up {i}", category=MessageTemplate.Category.LEAD_FOLLOW_UP
        )
    page = browse(viewport=SIZES[size])
    open_card_panel(page, live_server.url, consented_number)
    page.click(".template-menu > summary")
    menu = page.locator(".template-menu-panel")
    expect(menu).to_be_visible()
    box = menu.bounding_box()
    width, height = SIZES[size]["width"], SIZES[size]["height"]
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, box
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert menu.evaluate("el => el.scrollHeight > el.clientHeight")  # long: it scrolls inside itself
    choices = menu.locator(".template-choice")
    assert choices.first.is_enabled() and "Follow-up" in choices.first.inner_text()
    last = choices.last
    expect(last).to_be_disabled()
    expect(last).to_contain_text("Balance reminder")
    expect(last.locator(".template-preview")).not_to_be_empty()  # the reason it can't be used
    menu.evaluate("el => { el.scrollTop = el.scrollHeight; }")  # the menu scrolls, the page stays
    box = last.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, box
    shot(page, f"template-menu-{size}")


# --- 9. overlays never cover the controls ---------------------------------------------------------------


RIBBON_CONTROLS = [".ribbon", "#text-controls .text-btn.with-label", "#text-controls details.phone-menu > summary"]


def _not_covered(page, selectors: list[str]) -> None:
    for selector in selectors:
        for element in page.locator(selector).all():
            if not element.is_visible():
                continue
            box = element.bounding_box()
            free = page.evaluate(
                """([x, y]) => { const el = document.elementFromPoint(x, y);
                     return !el || !el.closest('#reply-toast, #card-confirmation, .flash'); }""",
                [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
            )
            assert free, f"{selector} is covered by an overlay"


@pytest.mark.parametrize("size", SIZES)
def test_the_text_sent_confirmation_and_the_reply_toast_leave_the_controls_free(
    browse, live_server, consented_number, org, size, shot
):
    other = PhoneNumberFactory(lead__facility=consented_number.lead.facility, number="+15125550185")
    page = browse(viewport=SIZES[size])
    open_card_panel(page, live_server.url, consented_number)
    type_and_send(page, "See you Tuesday.")
    expect(page.locator("#card-confirmation .confirm")).to_be_visible()
    controls = ["#text-panel .panel-head", "#text-panel .panel-head button", "#text-panel .send-btn"]
    if size == "desktop":
        controls += [".ribbon", "#text-controls .text-btn.with-label", "#text-controls details.phone-menu > summary"]
    _not_covered(page, controls)
    shot(page, f"confirmation-{size}")

    # A reply from someone else: the new-reply notice (the header's unread poll) appears off the controls.
    page.locator("#card-confirmation .confirm").click()
    expect(page.locator("#unread-badge[hx-get*='v=']")).to_have_count(1)  # the poll knows the current version
    ReplyFactory(phone_number=other, body="Is the unit still free?")
    expect(page.locator("#reply-toast.toast")).to_be_visible(timeout=15_000)
    controls = ["#text-panel .panel-head", "#text-panel .panel-head button", "#text-panel .send-btn"]
    if size == "desktop":
        controls += [".ribbon", "#text-controls .text-btn.with-label", "#text-controls details.phone-menu > summary"]
    _not_covered(page, controls)
    page.keyboard.press("Escape")
    _not_covered(
        page, [".ribbon", "#text-controls .text-btn.with-label", "#text-controls details.phone-menu > summary"]
    )
    shot(page, f"reply-toast-{size}")


# --- 3. a reply opens the panel on the number that wrote ----------------------------------------------


def test_open_on_a_new_reply_opens_the_panel_on_the_number_that_replied(browse, live_server, consented_number):
    other = grant(PhoneNumberFactory(lead=consented_number.lead, number="+15125550186", is_primary=False))
    page = browse()
    page.goto(f"{live_server.url}/")
    expect(page.locator("#unread-badge[hx-get*='v=']")).to_have_count(1)
    ReplyFactory(phone_number=other, body="use this one please")
    toast = page.locator("#reply-toast.toast")
    expect(toast).to_contain_text("use this one please", timeout=15_000)
    toast.locator("[data-open-reply]").click()
    expect(page.locator("#text-panel .panel-titles")).to_contain_text("(512) 555-0186")


# --- 6. scheduled texts: listed with Cancel ----------------------------------------------------------


def test_the_panel_lists_scheduled_texts_and_cancels_one(browse, live_server, consented_number):
    later = timezone.now() + dt.timedelta(hours=5)
    MessageFactory(phone_number=consented_number, status=Message.Status.SCHEDULED, send_at=later, body="Automated hi")
    page = browse()
    open_card_panel(page, live_server.url, consented_number)
    scheduled = page.locator("#text-panel [data-scheduled]")
    expect(scheduled).to_contain_text("Scheduled (1)")
    expect(scheduled).to_contain_text("Automated hi")
    scheduled.get_by_role("button", name=re.compile("^Cancel the text scheduled for")).click()
    expect(page.locator("#card-confirmation")).to_contain_text("Canceled the text scheduled for")
    expect(page.locator("#text-panel [data-scheduled]")).to_have_count(0)
    assert Message.objects.get().status == Message.Status.CANCELED
    assert page.js_errors == []


# --- 10. words and times agree ---------------------------------------------------------------------


def test_the_header_says_the_daily_limit_is_reached_when_send_would_refuse_it(
    browse, live_server, consented_number, org
):
    org.daily_text_cap = 2
    org.save(update_fields=["daily_text_cap"])
    for hours in range(6):
        MessageFactory(
            phone_number=consented_number,
            status=Message.Status.SENT,
            sent_at=timezone.now() - dt.timedelta(hours=hours + 1),
        )
    page = browse()
    open_card_panel(page, live_server.url, consented_number)
    header = page.locator("#panel-state [data-can-text]")
    expect(header).to_have_attribute("data-can-text", "no")
    expect(header).to_contain_text("Daily limit reached")
    type_and_send(page)
    refusal = page.locator("[data-refusal=frequency_cap]")
    expect(refusal).to_contain_text("6 already went out")
    expect(refusal).to_contain_text("Lakeside Storage's own daily limit is 2 texts")
    expect(refusal).not_to_contain_text("own texting hours allows")


def test_the_thread_writes_times_in_the_zone_the_header_uses(browse, live_server, facility):
    # A German mobile on a Chicago facility's lead: the header, the refusals and the thread all say CET.
    phone = grant(PhoneNumberFactory(lead__facility=facility, number="+4915112345678"))
    MessageFactory(phone_number=phone, status=Message.Status.SENT, body="Guten Tag")
    page = browse()
    open_card_panel(page, live_server.url, phone)
    clock = page.locator("#panel-state [data-local-time]").inner_text()
    zone = clock.split()[-1]
    assert zone in ("CET", "CEST"), clock
    meta = page.locator("#panel-conversation .msg-outbound .msg-meta").inner_text()
    assert zone in meta and "CST" not in meta and "CDT" not in meta, meta
