"""``make bench``'s last step: the four figures read back from what each benchmark wrote."""

from __future__ import annotations

import json
import re

from bench import harness
from bench.summary import figures_read, summary_lines


def _api(plain_ratio: float, key_ratio: float, p99: float = 120.0) -> dict:
    return {
        "baseline_rps": 300.0,
        "plain": {"ratio": plain_ratio, "p99_ms": p99, "rps": 300 * plain_ratio},
        "key": {"ratio": key_ratio, "p99_ms": p99 + 10, "rps": 300 * key_ratio},
    }


FIGURES = {
    "api": {"classes": {"sync ×4": _api(0.85, 0.82), "gthread 2×8": _api(0.60, 0.55, p99=300)}, "connections": 16},
    "workers": {
        "high": {"per_second": 212.4, "limit": 1000, "worst": 19, "duplicates": 0, "not_sent": 0},
        "low": {"per_second": 38.0, "limit": 5, "worst": 5, "duplicates": 0, "not_sent": 0},
        "latency_ms": 100.0,
    },
    "webhooks": {
        "classes": {
            "sync ×4": {"status": {"p99_ms": 31.0}, "inbound": {"p99_ms": 61.0}},
            "gthread 2×8": {"status": {"p99_ms": 40.0}, "inbound": {"p99_ms": 45.0}},
        },
        "connections": 16,
    },
    "card": {"panel_open_p95_ms": 112.0, "texts": 10000, "panel_open": {"10000": {"p50_ms": 80.0, "p95_ms": 112.0}}},
}


def test_four_lines_beside_their_targets():
    api, workers, webhooks, panel = summary_lines(FIGURES)
    # the worker class with the best ratio, both with and without a key
    assert api.startswith("Send API (sync ×4): 0.85× the bare baseline, p99 120 ms; with Idempotency-Key 0.82×")
    assert "p99 < 150 ms: met" in api and "stretch" not in api
    assert workers.startswith("Workers: 212 sends/s at 100 ms provider latency, 0 duplicates")
    assert "never exceeded (busiest number-second 5)" in workers
    assert "target ≥ 250/s: MISSED by 38/s (before: 158/s)" in workers
    # the class whose worse p99 is lowest: gthread (45) rather than sync (61)
    assert webhooks.startswith("Webhooks (gthread 2×8, 16 connections): status p99 40 ms, inbound p99 45 ms")
    assert "< 50 ms: met" in webhooks
    assert panel.startswith("Text panel: click to visible with its conversation p95 112 ms, p50 80 ms at 10,000")
    assert panel.endswith("target < 150 ms: met")


def test_misses_say_by_how_much_and_a_limit_exceeded_is_a_miss():
    figures = json.loads(json.dumps(FIGURES))
    figures["api"]["classes"] = {"sync ×4": _api(0.85, 0.79)}
    figures["workers"]["high"]["per_second"] = 260
    figures["workers"]["low"]["worst"] = 6
    figures["card"]["panel_open_p95_ms"] = 171.4
    api, workers, _webhooks, panel = summary_lines(figures)
    assert "p99 < 150 ms: MISSED" in api
    assert "per-sender limit EXCEEDED (6 > 5)" in workers and ": MISSED" in workers
    assert "MISSED by 21 ms" in panel


def test_a_benchmark_that_did_not_run_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "OUT", tmp_path)
    harness.figures_write("card", FIGURES["card"])
    (tmp_path / "api.json").write_text("{not json")
    found = figures_read(tmp_path)
    assert found["api"] is None and found["workers"] is None and found["card"]["texts"] == 10000
    assert found["card"]["benchmark"] == "card" and found["card"]["date"].endswith("UTC")
    api, workers, webhooks, panel = summary_lines(found)
    assert api == "Send API: not measured (no bench/out/api.json; run make bench-api)"
    assert workers.startswith("Workers: not measured") and webhooks.startswith("Webhooks: not measured")
    assert "p95 112 ms" in panel


def test_a_webhook_run_that_answered_nothing_is_not_a_pass():
    figures = json.loads(json.dumps(FIGURES))
    for kind in ("status", "inbound"):
        figures["webhooks"]["classes"]["gthread 2×8"][kind] |= {"p99_ms": 0.0, "rps": 0.0}
    assert summary_lines(figures)[2].startswith("Webhooks (sync ×4, 16 connections): status p99 31 ms")
    figures["webhooks"]["classes"]["sync ×4"]["status"]["rps"] = 0.0
    assert summary_lines(figures)[2].endswith("not a measurement — target < 50 ms: MISSED")


# --- the README's figures come from bench/RESULTS.md, one source -------------------------------

# A benchmark figure as the README would quote one: a ratio (0.97×, not a screen size 1366×768), a rate, a percentile.
FIGURE = re.compile(r"\d+(?:\.\d+)?×(?!\d)|\d+ (?:sends|texts|req)/s|\bp(?:50|95|99) \d+(?:\.\d+)? ?ms")


def _readme_block(text: str) -> tuple[str, str]:
    """The README's marked block of benchmark figures, and the README without it."""
    begin, end = text.index(harness.README_BEGIN), text.index(harness.README_END) + len(harness.README_END)
    return text[begin:end], text[:begin] + text[end:]


def test_the_readme_quotes_the_figures_of_bench_results_word_for_word():
    block, _rest = _readme_block(harness.README.read_text())
    results = harness.RESULTS.read_text()

    assert block == harness.readme_numbers(results), (
        "run `python -c 'import bench.harness as h; h.readme_numbers_write()'`"
    )
    summary = harness.results_sections(results)["summary"]
    assert "- Send API" in summary and "- Send API" in block  # the figures themselves, not only the frame
    assert all(line in summary for line in block.splitlines() if line.startswith(("- Send API", "- Workers")))


def test_the_readme_quotes_no_benchmark_figure_outside_that_block():
    _block, rest = _readme_block(harness.README.read_text())

    assert FIGURE.findall("reaches 0.42× (sync), 158 sends/s, p99 173 ms; screens 1366×768") == [
        "0.42×",
        "158 sends/s",
        "p99 173 ms",
    ]
    assert FIGURE.findall(rest) == []


def test_a_benchmark_writing_its_results_rewrites_the_readme_block(tmp_path, monkeypatch):
    readme, results = tmp_path / "README.md", tmp_path / "RESULTS.md"
    readme.write_text(
        f"# Textdesk\n\nWhere the numbers stand:\n\n{harness.README_BEGIN}\n- old\n{harness.README_END}\n\nEnd.\n"
    )
    results.write_text(harness.RESULTS.read_text())
    monkeypatch.setattr(harness, "README", readme)
    monkeypatch.setattr(harness, "RESULTS", results)
    monkeypatch.setattr(harness, "ROOT", tmp_path)

    harness.results_write(
        "summary", title="Summary", command="make bench", body="- Workers: 251 sends/s — target ≥ 250/s: met",
        started="a test machine",
    )  # fmt: skip

    text = readme.read_text()
    assert "- old" not in text and "- Workers: 251 sends/s — target ≥ 250/s: met" in text
    assert text.startswith("# Textdesk\n") and text.endswith("\n\nEnd.\n")
    assert "- Fault injection (`make chaos`): zero duplicates, zero lost" in text  # the other section, kept


def test_notes_written_by_hand_outlive_a_benchmark_rewriting_their_section(tmp_path, monkeypatch):
    readme, results = tmp_path / "README.md", tmp_path / "RESULTS.md"
    readme.write_text(f"{harness.README_BEGIN}\n- old\n{harness.README_END}\n")
    note = "<!-- notes:chaos -->\n### Chaos: read by hand\n\nA miss and its plan.\n<!-- /notes:chaos -->\n"
    results.write_text(
        harness.RESULTS.read_text().replace("<!-- /bench:chaos -->\n", "<!-- /bench:chaos -->\n\n" + note)
    )
    monkeypatch.setattr(harness, "README", readme)
    monkeypatch.setattr(harness, "RESULTS", results)
    monkeypatch.setattr(harness, "ROOT", tmp_path)

    harness.results_write("chaos", title="Fault injection", command="make chaos", body="- rerun", started="a machine")

    text = results.read_text()
    assert "- rerun" in text
    assert text.count("A miss and its plan.") == 1
    assert text.index("<!-- /bench:chaos -->") < text.index("<!-- notes:chaos -->")
