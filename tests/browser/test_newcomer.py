"""The newcomer's path: ``make run``'s app, started exactly as ``make run`` starts it, used in Chromium.

Nothing here uses the test database or the test settings. The app gets ``make run``'s own
environment (read from ``make run-env``: SQLite file, eager tasks, console SMS, ``DEBUG=1``),
``migrate``, ``seed_demo``, the periodic runner and a real HTTP server, in a scratch folder. Then,
as ``agent``: every demo card, and every link and htmx URL on it, answers without a server error;
the panel opens, a text goes out (printed by the console backend, with its unsubscribe link), the
person opts out through that link, and the card shows it. As ``manager``: every admin changelist
and add page answers 200. Any server error in the server's output fails the test.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, watch_csp

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "demo12345"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not settings.EMBEDDED,
        reason="runs once, in the embedded pass: it starts make run's own configuration, whatever the suite's",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _make_run_env(port: int) -> dict[str, str]:
    lines = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "run-env", "HOST=127.0.0.1", f"PORT={port}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    run_env = dict(line.split("=", 1) for line in lines)
    assert run_env["SMS_BACKEND"] == "console" and run_env["DATABASE_URL"].startswith("sqlite:")
    # Only what make run's shell would have: the suite's own variables (test settings, its
    # PostgreSQL) must not leak into the app a newcomer starts.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TEXTDESK_", "DATABASE_URL", "PYTEST"))}
    return {**env, **run_env, "PYTHONUNBUFFERED": "1"}


class MakeRunApp:
    """``make run`` in ``folder``: migrate, seed_demo, the periodic runner and runserver, all logged to one file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = _make_run_env(self.port)
        self.log_path = folder / "server.log"
        self.processes: list[subprocess.Popen] = []

    def _spawn(self, *args: str) -> subprocess.Popen:
        """``manage.py <args>`` in the scratch folder with make run's environment, output to the log."""
        with self.log_path.open("a") as log:
            return subprocess.Popen(
                [sys.executable, str(ROOT / "manage.py"), *args],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _manage(self, *args: str) -> None:
        process = self._spawn(*args)
        assert process.wait(timeout=300) == 0, f"manage.py {' '.join(args)} failed:\n{self.log()}"

    def start(self) -> MakeRunApp:
        self._manage("migrate", "--noinput")
        self._manage("seed_demo")
        self.processes.append(self._spawn("run_periodic_tasks"))
        # --noreload: the autoreloader would watch every file of the tree from a second process; the app is the same.
        self.processes.append(self._spawn("runserver", f"127.0.0.1:{self.port}", "--noreload"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"runserver did not answer on {self.url}:\n{self.log()}")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def server_errors(self) -> list[str]:
        """Lines of the server's output that report a server error (runserver logs every 5xx)."""
        return [
            line
            for line in self.log().splitlines()
            if "Internal Server Error" in line or "Traceback" in line or re.search(r'" 5\d\d \d+$', line)
        ]


@pytest.fixture
def make_run_app(tmp_path):
    app = MakeRunApp(tmp_path).start()
    yield app
    app.stop()


def _sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def _card_paths(page, base_url: str) -> list[str]:
    """Every lead and customer card listed on the home page (all pages), then their History cards."""
    cards: list[str] = []
    next_url: str | None = f"{base_url}/"
    while next_url:
        assert page.goto(next_url).status == 200, next_url
        cards += _hrefs(page, "table.people tbody a")
        following = _hrefs(page, "nav.pager a[rel=next], nav.pager a:text('Next')")
        next_url = urljoin(base_url, following[0]) if following else None
    history: list[str] = []
    for path in cards:
        assert page.goto(urljoin(base_url, path)).status == 200, path
        history += _hrefs(page, "a[href^='/history/']")
    return list(dict.fromkeys(cards + history))


def _hrefs(page, selector: str, attribute: str = "href") -> list[str]:
    return page.eval_on_selector_all(selector, f"els => els.map(e => e.getAttribute('{attribute}'))")


def _urls_on(page, base_url: str) -> set[str]:
    """Every same-site link and htmx GET on the page (POSTs are left alone: they change things)."""
    found = {*_hrefs(page, "a[href]"), *_hrefs(page, "[hx-get]", "hx-get")}
    urls = set()
    for raw in found:
        if not raw or raw.startswith(("#", "mailto:", "tel:", "javascript:")):
            continue
        url = urljoin(page.url, raw)
        if urlparse(url).netloc == urlparse(base_url).netloc and not urlparse(url).path.startswith("/accounts/logout"):
            urls.add(url.split("#")[0])
    return urls


def test_a_newcomer_runs_make_run_texts_a_demo_person_and_sees_them_opt_out(make_run_app, chromium, tmp_path):
    base = make_run_app.url
    context = chromium.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    csp_violations = watch_csp(context)  # make run's pages keep the Content-Security-Policy too
    page = context.new_page()
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    _sign_in(page, base, "agent")

    # Every demo card, and every link and htmx URL on it.
    cards = _card_paths(page, base)
    assert len([p for p in cards if p.startswith(("/leads/", "/customers/"))]) == 40
    assert any(p.startswith("/history/") for p in cards)
    requested: dict[str, int] = {}
    for path in cards:
        response = page.goto(urljoin(base, path))
        assert response.status == 200, path
        for url in _urls_on(page, base) - requested.keys():
            requested[url] = context.request.get(url, max_redirects=0).status
    bad = {url: status for url, status in requested.items() if status >= 400 and status != 404}
    assert bad == {}, bad
    assert not [u for u, s in requested.items() if s == 404 and "/text/" in u], "a panel URL on a card is missing"
    assert any("/text/panel/" in url for url in requested) and any("/text/conversation/" in url for url in requested)
    print(f"newcomer: {len(cards)} cards, {len(requested)} distinct links and htmx URLs requested")

    # Someone the home list says can be texted now: open their card, the panel, send.
    page.goto(f"{base}/")
    row = page.locator("table.people tbody tr", has=page.locator('[data-texting-now="yes"]')).first
    name = row.locator("a").first.inner_text()
    row.locator("a").first.click()
    page.click("#text-controls .text-btn.with-label")
    expect(page.locator("#text-panel")).to_be_visible()
    expect(page.locator("#conversation")).to_be_visible()
    page.fill("#text-panel textarea", "Hi from the newcomer test. Your unit is ready.")
    page.click("#text-panel .send-btn")
    expect(page.locator("#card-confirmation")).to_contain_text(f"Text sent to {name}")
    card_url = page.url

    # The console backend printed it, with the unsubscribe link on PUBLIC_BASE_URL.
    deadline = time.monotonic() + 10
    while "Hi from the newcomer test." not in make_run_app.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    printed = make_run_app.log().split("Hi from the newcomer test.", 1)[1]
    link = re.search(rf"Unsubscribe: ({re.escape(base)}/u/[0-9A-Za-z]{{10,}})", printed).group(1)

    # The person opens the link (confirm page first: link scanners must not opt people out), then opts out.
    person = chromium.new_context(viewport={"width": 390, "height": 844})
    their_csp_violations = watch_csp(person)
    their_page = person.new_page()
    their_page.goto(link)
    expect(their_page.get_by_role("button", name="Unsubscribe")).to_be_visible()
    their_page.click("button[type=submit]")
    expect(their_page.get_by_role("status")).to_contain_text("You’re unsubscribed")
    person.close()

    # Back on the card: the number reads as opted out, and the Text icon is off.
    page.goto(card_url)
    expect(page.get_by_role("region", name="Information ribbon")).to_contain_text("Opted out")
    page.screenshot(path=str(tmp_path / "after-opt-out.png"))
    assert js_errors == []
    assert csp_violations + their_csp_violations == []
    context.close()

    # As manager: every admin changelist and add page.
    context = chromium.new_context(viewport=DESKTOP)
    page = context.new_page()
    _sign_in(page, base, "manager")
    page.goto(f"{base}/admin/")
    admin_pages = {
        urljoin(base, href)
        for href in _hrefs(page, "#content-main a[href^='/admin/']")
        if re.fullmatch(r"/admin/\w+/\w+/(add/)?", href)
    }
    assert len(admin_pages) >= 5, admin_pages
    statuses = {url: context.request.get(url, max_redirects=0).status for url in sorted(admin_pages)}
    assert all(status == 200 for status in statuses.values()), statuses
    context.close()

    assert make_run_app.server_errors() == [], "\n".join(make_run_app.server_errors())
