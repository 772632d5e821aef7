"""The browser side of security: every screen keeps the Content-Security-Policy, and a shared browser
keeps no one's text draft for the next person.

The policy (config/settings.py ``CONTENT_SECURITY_POLICY``) allows scripts and styles from our own
files only; a page that needed inline script, an inline event handler, eval or inline style would
show a ``securitypolicyviolation`` event or a console error here. Every page of every other browser
test is watched the same way (tests/browser/conftest.py ``browse``).
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.utils import timezone
from playwright.sync_api import expect

from interactions.models import History, Membership
from interactions.services import history_record
from messaging.models import Message
from messaging.services import unsubscribe_link_get_or_create
from tests.browser.conftest import DESKTOP, PHONE, watch_csp
from tests.factories import CustomerFactory, MembershipFactory, MessageFactory, PhoneNumberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-12345!"


def _sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def _sign_out(page) -> None:
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible():  # a phone's compact menu
        menu.click()
    page.locator("form[data-sign-out] button").click()
    page.wait_for_url("**/accounts/login/**")


def _admin_pages(base: str) -> list[str]:
    """Every changelist of the admin registry, and the change page of its first row."""
    from django.apps import apps

    pages = [f"{base}/admin/"]
    for model in apps.get_models():
        if not admin.site.is_registered(model):
            continue
        info = model._meta.app_label, model._meta.model_name
        pages.append(f"{base}/admin/{info[0]}/{info[1]}/")
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            pages.append(f"{base}/admin/{info[0]}/{info[1]}/{first.pk}/change/")
    return pages


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366", "390"])
def test_every_screen_keeps_the_content_security_policy(
    chromium, live_server, consented_number, open_all_day, outbox, viewport, shot
):
    org = consented_number.organization
    # A manager who is also a superuser: every admin of the registry opens for them.
    manager = MembershipFactory(
        organization=org, role=Membership.Role.MANAGER, user__username="csp-manager", user__is_superuser=True
    ).user
    lead = consented_number.lead
    MessageFactory(
        phone_number=consented_number,
        direction=Message.Direction.INBOUND,
        to_number="+15125550199",
        from_number=consented_number.number,
        body="Is the 10x10 still free?",
        status=Message.Status.RECEIVED,
        received_at=timezone.now(),
    )
    customer = PhoneNumberFactory(lead=None, customer=CustomerFactory(facility=lead.facility)).customer
    history = history_record(owner=lead, kind=History.Kind.CALL, summary="Called about a unit.", agent=manager)
    token = unsubscribe_link_get_or_create(organization=org, number=consented_number.number).token
    base = live_server.url
    size = "1366" if viewport == DESKTOP else "390"
    context = chromium.new_context(viewport=viewport)
    context.set_default_timeout(10_000)
    violations = watch_csp(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    visited = []

    def visit(url: str, name: str | None = None) -> None:
        response = page.goto(url)
        page.wait_for_load_state("networkidle")
        assert "script-src 'self'" in response.headers.get("content-security-policy", ""), url
        visited.append(url)
        if name:
            shot(page, f"csp-{name}-{size}")

    visit(f"{base}/accounts/login/", "login")
    visit(f"{base}/u/{token}", "unsubscribe")
    _sign_in(page, base, manager.username)
    for name, path in {
        "home": "/",
        "card": f"/leads/{lead.pk}/",
        "customer": f"/customers/{customer.pk}/",
        "history": f"/history/{history.pk}/",
        "outstanding": "/outstanding/",
        "inbox": "/inbox/",
        "evidence": f"/phone-numbers/{consented_number.pk}/consent-evidence/",
    }.items():
        visit(f"{base}{path}", name)
    # The card at work: the phone menu, the text panel, a send (htmx swaps), the live poll.
    visit(f"{base}/leads/{lead.pk}/")
    page.click("#text-controls .text-btn.with-label")
    expect(page.locator("#text-panel")).to_be_visible()
    if viewport == DESKTOP:  # resized: the panel carries style="width…", which a swap must not copy inline
        page.locator("#text-panel [data-resize]").press("ArrowLeft")
    page.locator("#text-panel textarea").fill("Your unit is ready")
    page.locator("#send-btn").click()
    expect(page.locator("#card-confirmation")).to_contain_text("Text sent")
    page.wait_for_timeout(3500)  # one poll of the conversation
    shot(page, f"csp-sent-{size}")
    for url in _admin_pages(base):
        visit(url)
    shot(page, f"csp-admin-change-{size}")
    visit(f"{base}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_be_visible()
    shot(page, f"csp-api-docs-{size}")
    context.close()
    # Signed out again: the unsubscribe confirmation the texted person sees.
    context = chromium.new_context(viewport=viewport)
    their_violations = watch_csp(context)
    person = context.new_page()
    person.goto(f"{base}/u/{token}")
    person.get_by_role("button", name="Unsubscribe").click()
    expect(person.locator("main")).to_contain_text("unsubscribed")
    context.close()

    assert len(visited) > 20
    assert violations + their_violations == []
    assert errors == []
    assert Message.objects.filter(direction="outbound", body__startswith="Your unit is ready").count() == 1


def test_the_policy_blocks_inline_script_and_the_watch_sees_it(chromium, live_server):
    # The net itself can fail: an inline script injected into a page is refused and reported.
    context = chromium.new_context()
    violations = watch_csp(context)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")

    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.injected = true";
            document.body.append(script);
            document.body.insertAdjacentHTML("beforeend", '<p style="color: red">styled</p>');
        }"""
    )
    page.wait_for_timeout(200)

    assert page.evaluate("window.injected") is None
    assert any("script-src" in v for v in violations), violations
    assert any("style-src" in v for v in violations), violations
    context.close()


# --- drafts on a shared browser ------------------------------------------------------------------------


def _drafts(page) -> dict[str, str]:
    return page.evaluate(
        """() => Object.fromEntries(Object.keys(localStorage)
            .filter((key) => key.startsWith("textdesk.draft."))
            .map((key) => [key, localStorage.getItem(key)]))"""
    )


def test_a_draft_is_the_signed_in_agents_own_and_gone_at_sign_out(
    chromium, live_server, consented_number, open_all_day
):
    org = consented_number.organization
    first = MembershipFactory(organization=org, role=Membership.Role.AGENT, user__username="agent-a").user
    second = MembershipFactory(organization=org, role=Membership.Role.AGENT, user__username="agent-b").user
    card = f"{live_server.url}/leads/{consented_number.lead.pk}/"
    context = chromium.new_context(viewport=DESKTOP)  # one browser, shared by both agents
    context.set_default_timeout(10_000)
    violations = watch_csp(context)
    page = context.new_page()

    _sign_in(page, live_server.url, first.username)
    page.goto(card)
    page.click("#text-controls .text-btn.with-label")
    page.locator("#text-panel textarea").fill("Hi Lee, your balance of $312 is due Friday")
    [(key, draft)] = _drafts(page).items()
    assert draft == "Hi Lee, your balance of $312 is due Friday"
    assert key.startswith(f"textdesk.draft.{first.pk}:")  # keyed by the signed-in user
    _sign_out(page)
    assert _drafts(page) == {}

    _sign_in(page, live_server.url, second.username)
    # Even a draft the sign-out could not clear (written by another user's tab) is not this agent's.
    page.goto(card)
    left_behind = f"textdesk.draft.{first.pk}:lead-{consented_number.lead.pk}-{consented_number.pk}"
    page.evaluate("key => localStorage.setItem(key, 'left behind')", left_behind)
    page.click("#text-controls .text-btn.with-label")
    expect(page.locator("#text-panel textarea")).to_have_value("")
    expect(page.locator(".draft-note")).to_have_count(0)
    _sign_out(page)

    # The first agent again: their draft went with their sign-out (README "Security": our choice).
    _sign_in(page, live_server.url, first.username)
    page.goto(card)
    page.click("#text-controls .text-btn.with-label")
    expect(page.locator("#text-panel textarea")).to_have_value("")
    assert _drafts(page) == {}
    assert violations == []
    context.close()


def test_the_card_polls_only_while_the_tab_is_seen(browse, live_server, consented_number):
    # The filter that did this in hx-trigger needed eval, which the policy refuses; app.js does it now.
    page = browse()
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "/text/conversation/" in request.url else None)
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    page.wait_for_timeout(3500)
    assert polls, "the conversation is polled every 3 s"

    page.evaluate("() => Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true})")
    polls.clear()
    page.wait_for_timeout(7000)
    assert polls == []

    page.evaluate("() => Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true})")
    page.wait_for_timeout(3500)
    assert polls
