"""The text panel opened in a real browser: click on the card's Text icon to the panel visible
with its conversation, newest text in view (issue 19's fourth figure; run by bench/card.py).

Chromium is Debian's /usr/bin/chromium driven by Playwright's sync API, launched as the browser
tests launch it (tests/browser/chromium.py); browsers are never downloaded. The server is gunicorn
in production settings (bench/harness.py ``production_env``) on the benchmark database.

What one open measures, inside the page (no Python round trip in the figure):

- ``t0``: ``performance.now()`` just before the Text icon's ``click()`` (htmx sends
  ``GET /text/panel/<id>/`` on it and swaps the answer into ``#text-dock``);
- ``ready``: the first moment ``#text-panel`` is visible, its ``#panel-conversation`` holds the
  person's newest text and that text lies inside the thread's visible box (the thread is
  scrolled to its end); checked on every DOM mutation, htmx event and scroll;
- ``swapped``: htmx's ``afterSwap`` of the panel (the answer is in the page; settle follows);
- ``painted``: the next frame after ``ready`` (``requestAnimationFrame`` then a task), the figure
  reported: what the agent sees.

The Resource Timing entry of the panel request splits the figure into the request (``ttfb``:
request sent to first byte, mostly the server; ``request``: the whole response in) and what the
page does after it (swap, settle, layout, paint).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS

from . import harness as h

DESKTOP = {"width": 1366, "height": 768}
TEXT_ICON = "#text-controls .text-btn.with-label"
PASSWORD = "bench-password-12345"  # bench/data.py's agent

# One open, timed in the page. Resolves {ready, painted, ttfb, request} in ms from the click.
OPEN_JS = """
([icon, newestId]) => new Promise((resolve, reject) => {
  performance.clearResourceTimings();
  let t0 = 0, swapped = null;
  const button = document.querySelector(icon);
  if (!button) { reject(new Error("no Text icon " + icon)); return; }
  let done = false;
  const check = (event) => {
    if (done) return;
    const swap = event && event.type === "htmx:afterSwap" && event.target.id === "text-dock";
    if (swapped === null && swap) swapped = performance.now() - t0;
    const panel = document.getElementById("text-panel");
    if (!panel || !panel.checkVisibility()) return;
    const thread = panel.querySelector("#panel-conversation .thread");
    // newestId 0: the thread's newest item, whatever it is (a text, or an event such as an enrollment).
    const newest = thread && (newestId ? thread.querySelector('[data-message="' + newestId + '"]')
                                       : thread.lastElementChild);
    if (!newest) return;
    const box = thread.getBoundingClientRect(), item = newest.getBoundingClientRect();
    if (item.height === 0 || item.bottom > box.bottom + 1 || item.top < box.top - 1) return;
    done = true;
    const ready = performance.now() - t0;
    observer.disconnect();
    for (const [name, fn] of listeners) document.removeEventListener(name, fn, true);
    requestAnimationFrame(() => setTimeout(() => {
      const painted = performance.now() - t0;
      const entry = performance.getEntriesByType("resource").find((e) => e.name.includes("/text/panel/"));
      resolve({
        ready, painted, swapped,
        ttfb: entry ? entry.responseStart - entry.requestStart : null,
        request: entry ? entry.responseEnd - entry.startTime : null,
        started: entry ? entry.startTime - t0 : null,
      });
    }, 0));
  };
  const observer = new MutationObserver(() => check());
  observer.observe(document.body, { childList: true, subtree: true, attributes: true });
  const listeners = [["scroll", check], ["htmx:afterSwap", check], ["htmx:load", check], ["htmx:afterSettle", check]];
  for (const [name, fn] of listeners) document.addEventListener(name, fn, true);
  setTimeout(() => { if (!done) reject(new Error("the panel did not show the newest text within 10 s")); }, 10000);
  t0 = performance.now();
  button.click();
})
"""


@dataclass
class Opens:
    painted: list[float] = field(default_factory=list)
    ready: list[float] = field(default_factory=list)
    swapped: list[float] = field(default_factory=list)  # htmx's swap of the panel done (before settle)
    ttfb: list[float] = field(default_factory=list)
    request: list[float] = field(default_factory=list)

    def add(self, sample: dict) -> None:
        self.painted.append(sample["painted"])
        self.ready.append(sample["ready"])
        if sample.get("swapped") is not None:
            self.swapped.append(sample["swapped"])
        if sample.get("ttfb") is not None:
            self.ttfb.append(sample["ttfb"])
            self.request.append(sample["request"])


def _close(page) -> None:
    """Close the panel as the agent does (its close button) and wait until it is gone."""
    if page.locator("#text-panel").count():
        page.click("#text-panel [data-close-panel]")
    page.wait_for_function("() => !document.getElementById('text-panel')")


def measure(
    base_url: str,
    people: dict[int, tuple],
    newest: dict[int, int],
    *,
    username: str,
    opens: int,
    warmup: int,
    screenshot: Path | None = None,
    password: str = PASSWORD,
) -> dict[int, Opens]:
    """Open each person's panel ``warmup`` + ``opens`` times; the timed opens, by history size.

    ``people``: size -> (lead, phone, history) as bench/card.py builds them; ``newest``: size ->
    the id of that person's newest text (which the open panel must show), or 0 for the thread's newest item.
    """
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is not installed (apt-get install chromium)")
    results: dict[int, Opens] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=DESKTOP)
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(f"{base_url}/accounts/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base_url}/")
            for size, (lead, _phone, _history) in people.items():
                page.goto(f"{base_url}/leads/{lead.pk}/")
                # The card's own conversation loads after the page (hx-trigger="load"): let it land.
                page.wait_for_selector("#conversation:not([aria-busy])")
                opened = Opens()
                for i in range(warmup + opens):
                    _close(page)
                    page.wait_for_timeout(50)  # the close's focus change and any poll in flight settle
                    sample = page.evaluate(OPEN_JS, [TEXT_ICON, newest[size]])
                    if i >= warmup:
                        opened.add(sample)
                results[size] = opened
                print(
                    f"  browser, {size:,} texts: {opens} opens, p50 {h.percentile(opened.painted, 50):.0f} ms, "
                    f"p95 {h.percentile(opened.painted, 95):.0f} ms (panel request p50 "
                    f"{h.percentile(opened.request, 50):.0f} ms)",
                    flush=True,
                )
                if screenshot is not None and size == max(people):
                    page.screenshot(path=str(screenshot))
            if errors:
                raise RuntimeError(f"JavaScript errors in the page: {errors[:3]}")
        except Exception:
            # What the page showed when it went wrong, for the log.
            h.OUT.mkdir(exist_ok=True)
            page.screenshot(path=str(h.OUT / "card-browser-failure.png"))
            (h.OUT / "card-browser-failure.html").write_text(page.content())
            print(f"  the page at the failure: {h.OUT / 'card-browser-failure.png'} and .html", flush=True)
            raise
        finally:
            browser.close()
    return results


# --- the inbox ------------------------------------------------------------------------------------

INBOX_LINK = "a.inbox-link, a[href='/inbox/']"  # the header's link (any page)
# Installed in every document before its own scripts, both in ms from the navigation's start (the click
# on the Inbox link): ``window.__benchPainted`` resolves at the first frame painted after the page has
# loaded (its HTML, styles and scripts: the inbox as the agent sees it); ``window.__benchReady`` also
# waits for every htmx request the page started (the header's unread count) to come back and be swapped in.
READY_JS = """
(() => {
  const frame = (resolve) => requestAnimationFrame(() => setTimeout(() => resolve(performance.now()), 0));
  window.__benchPainted = new Promise((resolve) => window.addEventListener("load", () => frame(resolve)));
  window.__benchReady = new Promise((resolve) => {
    let pending = 0, loaded = false, resolved = false;
    const check = () => setTimeout(() => {
      if (resolved || !loaded || pending > 0) return;
      resolved = true;
      frame(resolve);
    }, 0);
    document.addEventListener("htmx:beforeRequest", () => { pending += 1; }, true);
    document.addEventListener("htmx:afterRequest", () => { pending = Math.max(0, pending - 1); }, true);
    document.addEventListener("htmx:afterSettle", check, true);
    document.addEventListener("htmx:afterRequest", check, true);
    window.addEventListener("load", () => { loaded = true; check(); });
  });
})();
"""
NAVIGATION_JS = """
() => { const n = performance.getEntriesByType("navigation")[0]; return n ? n.responseStart : null; }
"""


def measure_inbox(base_url: str, *, username: str, password: str, opens: int, warmup: int) -> Opens:
    """Open the inbox from the header's Inbox link ``warmup`` + ``opens`` times (from the home page each time).

    One open (``painted``): the click to the first frame painted after the inbox page has loaded, timed in the
    new page from its navigation's start; ``ready``: until its htmx requests (the header's unread count) are
    in as well; ``ttfb``: the navigation's first byte, mostly the server's render.
    """
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is not installed (apt-get install chromium)")
    opened = Opens()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=DESKTOP)
        context.set_default_timeout(15_000)
        context.add_init_script(READY_JS)
        page = context.new_page()
        try:
            page.goto(f"{base_url}/accounts/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base_url}/")
            for i in range(warmup + opens):
                page.goto(f"{base_url}/")
                page.evaluate("window.__benchReady")
                page.wait_for_timeout(50)
                page.locator(INBOX_LINK).first.click()
                page.wait_for_url(f"{base_url}/inbox/**")
                ready = page.evaluate("window.__benchReady")
                painted = page.evaluate("window.__benchPainted")
                if i >= warmup:
                    opened.add({"painted": painted, "ready": ready, "ttfb": page.evaluate(NAVIGATION_JS), "request": 0})
            print(
                f"  browser, inbox: {opens} opens, p50 {h.percentile(opened.painted, 50):.0f} ms, p95 "
                f"{h.percentile(opened.painted, 95):.0f} ms (first byte p50 {h.percentile(opened.ttfb, 50):.0f} ms)",
                flush=True,
            )
        finally:
            browser.close()
    return opened
