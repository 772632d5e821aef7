"""The text panel and the inbox opened in Chromium on ``make run``'s configuration (issue 27's "Done when").

    python -m bench.card_run [--opens 30] [--warmup-opens 5] [--json PATH]

``make run`` as a newcomer has it, in a scratch folder (bench/out/card-run): the environment comes from
``make run-env`` (SQLite, eager tasks, console SMS, ``DEBUG=1``), then ``migrate``, ``seed_demo``, the periodic
runner and ``runserver``, as tests/browser/test_newcomer.py starts it.
Signed in as the demo's ``agent``:

- **panel open**: on the card of the demo lead with the longest conversation, the Text icon clicked to the
  first frame painted with the panel visible and its newest text in view (bench/card_browser.py ``measure``,
  the same measure as bench/card.py's production table);
- **inbox open**: the header's Inbox link clicked (from the home page) to the first frame painted after the
  inbox has loaded; also until the header's unread count (an htmx request after load) is in (``measure_inbox``).

Run by ``make bench-card`` (bench/card.py), which prints and records the figures; alone it prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from pathlib import Path

from . import harness as h

TARGET_PANEL_P95_MS = 150.0
TARGET_INBOX_P95_MS = 200.0
DEMO_PASSWORD = "demo12345"


def make_run_env(port: int, folder: Path) -> dict[str, str]:
    """``make run``'s environment (``make run-env``), its SQLite file in ``folder``; none of this process's Django."""
    lines = subprocess.run(
        ["make", "-s", "-C", str(h.ROOT), "run-env", "HOST=127.0.0.1", f"PORT={port}"],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    run_env = dict(line.split("=", 1) for line in lines)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TEXTDESK_", "DATABASE_URL", "PYTEST"))}
    return {**env, **run_env, "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}", "PYTHONUNBUFFERED": "1"}


def make_run_start(folder: Path) -> tuple[str, dict[str, str], list[h.Process]]:
    """``make run`` in ``folder``: migrate, seed_demo, the periodic runner and runserver (its URL, env, processes)."""
    port = h.free_port()
    env = make_run_env(port, folder)
    manage = [h.PYTHON, str(h.ROOT / "manage.py")]
    for name in ("make-run-periodic", "make-run-server"):  # this run's output only: the server errors are read there
        (h.OUT / f"{name}.log").unlink(missing_ok=True)
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        subprocess.run([*manage, *command], env=env, cwd=folder, check=True, capture_output=True)
    # --noreload: the autoreloader would watch every file of the tree from a second process; the app is the same.
    processes = [
        h.Process("make-run-periodic", [*manage, "run_periodic_tasks"], env=env).start(),
        h.Process("make-run-server", [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"], env=env).start(),
    ]
    h.wait_for_port(port, timeout=60, process=processes[-1])
    return f"http://127.0.0.1:{port}", env, processes


def _server_errors(log: Path) -> list[str]:
    text = log.read_text(errors="replace") if log.exists() else ""
    return [line for line in text.splitlines() if "Internal Server Error" in line or "Traceback" in line]


def _demo_person() -> tuple:
    """The demo lead with the longest conversation: (lead, its primary number, None)."""
    from django.db.models import Count

    from interactions.models import Lead

    lead = Lead.objects.annotate(texts=Count("messages")).order_by("-texts", "pk").first()
    assert lead is not None, "seed_demo left no leads"
    return lead, lead.phone_numbers.get(is_primary=True), None


def measure(*, opens: int, warmup: int) -> dict:
    """Start ``make run`` in a scratch folder, open the panel and the inbox; the samples and their p50/p95."""
    from . import card_browser

    folder = h.OUT / "card-run"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with h.step("make run's app: migrate, seed_demo, the periodic runner, runserver"):
        url, env, processes = make_run_start(folder)
    try:
        h.django_setup({**env, "DJANGO_SETTINGS_MODULE": "config.settings"})
        person = _demo_person()
        size = person[0].messages.count()
        newest = 0  # the thread's newest item: the demo's threads end with an event (an enrollment)
        with h.step(f"Chromium against make run: {warmup} + {opens} panel opens, then as many inbox opens"):
            panel = card_browser.measure(
                url, {size: person}, {size: newest}, username="agent", password=DEMO_PASSWORD,
                opens=opens, warmup=warmup, screenshot=h.OUT / "card-run-panel-open.png",
            )[size]  # fmt: skip
            inbox = card_browser.measure_inbox(
                url, username="agent", password=DEMO_PASSWORD, opens=opens, warmup=warmup
            )
        errors = _server_errors(processes[-1].log)
    finally:
        for process in reversed(processes):
            process.stop()
    if errors:
        raise RuntimeError(f"server errors on make run: {errors[:3]}")
    return {
        "texts": size,
        "opens": opens,
        "panel_open": {"p50_ms": h.percentile(panel.painted, 50), "p95_ms": h.percentile(panel.painted, 95),
                       "request_p50_ms": h.percentile(panel.request, 50), "samples_ms": panel.painted},
        "inbox_open": {"p50_ms": h.percentile(inbox.painted, 50), "p95_ms": h.percentile(inbox.painted, 95),
                       "first_byte_p50_ms": h.percentile(inbox.ttfb, 50), "samples_ms": inbox.painted,
                       "with_unread_count_p50_ms": h.percentile(inbox.ready, 50),
                       "with_unread_count_p95_ms": h.percentile(inbox.ready, 95)},
        "target_panel_p95_ms": TARGET_PANEL_P95_MS,
        "target_inbox_p95_ms": TARGET_INBOX_P95_MS,
    }  # fmt: skip


def lines(figures: dict) -> list[str]:
    """The README/RESULTS lines for ``measure``'s figures."""
    panel, inbox = figures["panel_open"], figures["inbox_open"]

    def verdict(p95: float, target: float) -> str:
        return "meets" if p95 < target else f"misses by {p95 - target:.0f} ms"

    return [
        "",
        f"On `make run`'s configuration (runserver, SQLite, eager tasks, console SMS, DEBUG=1, the demo data; "
        f"bench/card_run.py), {figures['opens']} opens each after a warm-up, as the demo's agent in Chromium:",
        "",
        h.table(
            ["open", "p50 ms", "p95 ms", "target p95", "server part p50 ms"],
            [
                ["text panel (click to newest text painted)", f"{panel['p50_ms']:.0f}", f"{panel['p95_ms']:.0f}",
                 f"< {figures['target_panel_p95_ms']:.0f}", f"{panel['request_p50_ms']:.0f} (panel request)"],
                ["inbox (Inbox link to page painted)", f"{inbox['p50_ms']:.0f}", f"{inbox['p95_ms']:.0f}",
                 f"< {figures['target_inbox_p95_ms']:.0f}", f"{inbox['first_byte_p50_ms']:.0f} (to first byte)"],
                ["inbox, with the header's unread count in", f"{inbox['with_unread_count_p50_ms']:.0f}",
                 f"{inbox['with_unread_count_p95_ms']:.0f}", "—", "the count's own request after load"],
            ],
        ),
        "",
        "- Panel: click to the first frame with the panel visible and its newest item in view. Inbox: click on the "
        "header's Inbox link to the first frame painted after the page's load event (its HTML, styles and scripts); "
        "the last row adds the header's unread count, an htmx request every page starts after load.",
        f"- make run, panel open: p95 {panel['p95_ms']:.0f} ms — "
        f"{verdict(panel['p95_ms'], figures['target_panel_p95_ms'])} the target.",
        f"- make run, inbox open: p95 {inbox['p95_ms']:.0f} ms — "
        f"{verdict(inbox['p95_ms'], figures['target_inbox_p95_ms'])} the target.",
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--opens", type=int, default=30)
    parser.add_argument("--warmup-opens", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the figures here (bench/card.py reads them)")
    args = parser.parse_args(argv)
    figures = measure(opens=args.opens, warmup=args.warmup_opens)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print("\n".join(lines(figures)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
