"""The last step of ``make bench``: issue 19's four figures beside their targets and baselines.

    python -m bench.summary [--no-write]

Reads what each benchmark wrote to bench/out/<name>.json (``harness.figures_write``: api,
workers, webhooks, card), prints four lines and writes them as the Summary section of
bench/RESULTS.md. A benchmark that has not run says so on its line; nothing is measured here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import harness as h

# Issue 19's targets, and where it started (its first paragraph) as the baseline to beat.
API_RATIO, API_STRETCH, API_P99_MS = 0.8, 1.0, 150.0
API_BEFORE = "0.42–0.51×, p99 173–395 ms; with a key 0.37–0.43×"
WORKERS_PER_SECOND, WORKERS_BEFORE = 250, 158
WEBHOOK_P99_MS, WEBHOOK_BEFORE = 50.0, "status 44 ms, inbound 102 ms"
PANEL_P95_MS = 150.0

NAMES = ("api", "workers", "webhooks", "card")


def figures_read(directory: Path = h.OUT) -> dict[str, dict | None]:
    """Each benchmark's figures (``None`` where its file is missing or unreadable)."""
    found: dict[str, dict | None] = {}
    for name in NAMES:
        try:
            found[name] = json.loads((directory / f"{name}.json").read_text())
        except (OSError, ValueError):
            found[name] = None
    return found


def _verdict(met: bool, miss: str = "") -> str:
    return "met" if met else "MISSED" + (f" by {miss}" if miss else "")


def _missing(title: str, name: str) -> str:
    return f"{title}: not measured (no bench/out/{name}.json; run make bench-{name})"


def api_line(figures: dict | None) -> str:
    """The Send API: the worker class with the best ratio, with and without an Idempotency-Key."""
    title = "Send API"
    classes = {label: c for label, c in ((figures or {}).get("classes") or {}).items() if "plain" in c and "key" in c}
    if not classes:
        return _missing(title, "api")
    label, best = max(classes.items(), key=lambda item: min(item[1]["plain"]["ratio"], item[1]["key"]["ratio"]))
    plain, key = best["plain"], best["key"]
    met = all(f["ratio"] >= API_RATIO and f["p99_ms"] < API_P99_MS for f in (plain, key))
    stretch = " (stretch ≥ 1.0× met)" if met and min(plain["ratio"], key["ratio"]) >= API_STRETCH else ""
    return (
        f"{title} ({label}): {plain['ratio']:.2f}× the bare baseline, p99 {plain['p99_ms']:.0f} ms; "
        f"with Idempotency-Key {key['ratio']:.2f}×, p99 {key['p99_ms']:.0f} ms — target ≥ {API_RATIO}×, "
        f"p99 < {API_P99_MS:.0f} ms: {_verdict(met)}{stretch} (before: {API_BEFORE})"
    )


def workers_line(figures: dict | None) -> str:
    title = "Workers"
    high = (figures or {}).get("high")
    if not high:
        return _missing(title, "workers")
    per_second = high["per_second"]
    low = figures.get("low") or {}
    limit = (
        f"; per-sender limit {low['limit']:g}/s never exceeded (busiest number-second {low['worst']})"
        if low and low["worst"] <= low["limit"]
        else (f"; per-sender limit EXCEEDED ({low['worst']} > {low['limit']:g})" if low else "")
    )
    duplicates = high.get("duplicates", 0) + low.get("duplicates", 0)
    met = per_second >= WORKERS_PER_SECOND and duplicates == 0 and (not low or low["worst"] <= low["limit"])
    gap = f"{WORKERS_PER_SECOND - per_second:.0f}/s" if per_second < WORKERS_PER_SECOND else ""
    return (
        f"{title}: {per_second:.0f} sends/s at {figures.get('latency_ms', 100):.0f} ms provider latency, "
        f"{duplicates} duplicates{limit} — target ≥ {WORKERS_PER_SECOND}/s: {_verdict(met, gap)} "
        f"(before: {WORKERS_BEFORE}/s)"
    )


def webhooks_line(figures: dict | None) -> str:
    """Webhooks at saturation: the worker class whose worse p99 of the two is lowest."""
    title = "Webhooks"
    classes = {
        label: c for label, c in ((figures or {}).get("classes") or {}).items() if "status" in c and "inbound" in c
    }
    if not classes:
        return _missing(title, "webhooks")
    # A run in which nothing was answered has no latency to speak of (wrk then reports p99 0 ms).
    classes = {label: c for label, c in classes.items() if c["status"].get("rps", 1) and c["inbound"].get("rps", 1)}
    if not classes:
        return f"{title}: no request was answered in the run (0 req/s): not a measurement — target < 50 ms: MISSED"
    label, best = min(classes.items(), key=lambda item: max(item[1]["status"]["p99_ms"], item[1]["inbound"]["p99_ms"]))
    worst = max(best["status"]["p99_ms"], best["inbound"]["p99_ms"])
    met = worst < WEBHOOK_P99_MS
    return (
        f"{title} ({label}, {figures.get('connections', 16)} connections): status p99 "
        f"{best['status']['p99_ms']:.0f} ms, inbound p99 {best['inbound']['p99_ms']:.0f} ms — target "
        f"< {WEBHOOK_P99_MS:.0f} ms: {_verdict(met, f'{worst - WEBHOOK_P99_MS:.0f} ms')} (before: {WEBHOOK_BEFORE})"
    )


def panel_line(figures: dict | None) -> str:
    title = "Text panel"
    if not figures or figures.get("panel_open_p95_ms") is None:
        return _missing(title, "card")
    p95, texts = figures["panel_open_p95_ms"], figures.get("texts", 10_000)
    p50 = (figures.get("panel_open") or {}).get(str(texts), {}).get("p50_ms")
    median = f", p50 {p50:.0f} ms" if p50 is not None else ""
    return (
        f"{title}: click to visible with its conversation p95 {p95:.0f} ms{median} at {texts:,} texts, "
        f"Chromium — target < {PANEL_P95_MS:.0f} ms: {_verdict(p95 < PANEL_P95_MS, f'{p95 - PANEL_P95_MS:.0f} ms')}"
    )


def summary_lines(found: dict[str, dict | None]) -> list[str]:
    return [
        api_line(found.get("api")),
        workers_line(found.get("workers")),
        webhooks_line(found.get("webhooks")),
        panel_line(found.get("card")),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args(argv)
    found = figures_read()
    lines = summary_lines(found)
    print()
    print("Issue 19, the four figures:")
    for line in lines:
        print(f"  {line}")
    if not args.no_write:
        dates = ", ".join(f"{name} {f['date']}" for name, f in found.items() if f and f.get("date"))
        body = "\n".join(
            [*(f"- {line}" for line in lines), "", f"Read from bench/out/<name>.json, measured: {dates or 'none'}."]
        )
        h.results_write(
            "summary", title="Summary", command="make bench  # its last step, bench/summary.py", body=body,
            started=h.machine(),
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
