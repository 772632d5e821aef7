"""Playwright (sync API) driving Debian's /usr/bin/chromium against pytest-django's live_server.

Browsers are never downloaded: the tests use the system Chromium, and skip with a clear
reason where it is missing (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS

# Playwright's sync API runs an event loop in this thread; Django would otherwise refuse the
# test's own ORM calls as "async unsafe".
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Every Content-Security-Policy violation of a page, reported to the test through a binding (the page's own
# policy does not apply to what the browser's test hooks inject).
_CSP_WATCH = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.reportCspViolation(e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
    " at " + (e.sourceFile || document.location.pathname) + ":" + e.lineNumber + " " + (e.sample || ""));
});
"""


def watch_csp(context) -> list[str]:
    """The list every CSP violation (event or console error) of ``context``'s pages is added to."""
    violations: list[str] = []

    def report(source, text: str) -> None:
        violations.append(f"{source['page'].url}: {text}")

    context.expose_binding("reportCspViolation", report)
    context.add_init_script(_CSP_WATCH)

    def console(message) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            violations.append(f"console: {message.text}")

    context.on("console", console)
    return violations


def _sign_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


@pytest.fixture
def browse(chromium, live_server, agent, open_all_day):
    """``browse(viewport=DESKTOP)`` → a page signed in as the agent; closed after the test.
    ``browse(signed_in=False)``: a stranger's browser (a texted person opening their link).

    The agent's organization texts around the clock (``open_all_day``), so a send clicked at
    any hour of a CI run goes out; quiet-hours tests close the window themselves. Any
    Content-Security-Policy violation on any page of the test fails it.
    """
    contexts = []
    violations: list[str] = []

    def open_page(viewport: dict | None = None, signed_in: bool = True):
        context = chromium.new_context(viewport=viewport or DESKTOP)
        context.set_default_timeout(10_000)
        contexts.append(context)
        context.csp_violations = watch_csp(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        if signed_in:
            _sign_in(page, live_server.url, agent.username, "pw-12345!")
        return page

    yield open_page
    for context in contexts:
        violations += context.csp_violations
        context.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


@pytest.fixture
def shot():
    """``shot(page, "name")`` saves ``screenshots/<name>.png`` (git-ignored) for review."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def save(page, name: str, full_page: bool = False) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)

    return save
