"""gunicorn shapes compared in one run: the webhooks and the send API on each, the best one named.

    python -m bench.gunicorn [--shapes sync:4,sync:5,gthread:2x8,gthread:3x4,gthread:4x2] [--runs 2]

Every shape runs production's own configuration (``-c config/gunicorn.conf.py``: its JSON access
log, the start checks, Prometheus multiprocess mode, ``DB_POOL_MAX_SIZE`` = threads as compose sets
it), on the same machine, in the same run, taking turns round by round, so they share the machine's noise.
On each: signed Twilio status callbacks and inbound texts (``bench/webhooks.py``'s signed files),
``POST /api/v1/messages/`` and the bare baseline endpoint (``bench/api.py``), ``--connections``
each (16: issue 26's figure), ``--runs`` rounds, medians.

The pick: for each figure (inbound p99, status p99, send API p99, send API ÷ baseline) a shape's
distance from the best shape of the run (its p99 ÷ the best p99; the best ratio ÷ its ratio), added
up; the lowest sum wins. ``config/gunicorn.conf.py`` ships the winner.
"""

from __future__ import annotations

import argparse
import os
import time

from . import harness as h
from .api import ENDPOINTS
from .webhooks import ACCOUNT_SID, AUTH_TOKEN, _inbound_file, _status_file, _write

DEFAULT_SHAPES = "sync:4,sync:5,gthread:2x8,gthread:3x4,gthread:4x2"


def _shape(text: str) -> tuple[str, int, int]:
    worker_class, _, size = text.partition(":")
    workers, _, threads = size.partition("x")
    return worker_class, int(workers), int(threads or 1)


def _label(worker_class: str, workers: int, threads: int) -> str:
    return f"sync ×{workers}" if worker_class == "sync" else f"gthread {workers}×{threads}"


def _webhook(base: str, org, *, make, tag: str, args) -> h.WrkResult:
    lines = make(org, base=base, count=args.lines, tag=tag)
    return h.wrk(base + "/", script="post_signed.lua", args=[_write(lines, f"{tag}.tsv")],
                 duration=args.duration, connections=args.connections)  # fmt: skip


def _api(base: str, org, *, endpoint: int, run: str, args, duration: float | None = None) -> h.WrkResult:
    _name, path, lua = ENDPOINTS[endpoint]
    return h.wrk(base + path, script="post_json.lua", args=lua(org, run), duration=duration or args.duration,
                 connections=args.connections)  # fmt: skip


def _measure_once(base: str, org, *, short: str, args) -> dict[str, h.WrkResult]:
    """A short warm-up, then the four requests back to back."""
    stamp = str(int(time.time()))
    for make in (_status_file, _inbound_file):
        lines = make(org, base=base, count=200, tag=f"w{short}")
        h.wrk(base + "/", script="post_signed.lua", args=[_write(lines, "warmup.tsv")], duration=args.warmup,
              connections=args.connections)  # fmt: skip
    for endpoint in (0, 1):
        _api(base, org, endpoint=endpoint, run=stamp + short + "w", args=args, duration=args.warmup)
    h.vacuum_as_autovacuum_would()  # every shape meets the tables as production's autovacuum keeps them
    return {
        "status": _webhook(base, org, make=_status_file, tag=f"{short}s", args=args),
        "inbound": _webhook(base, org, make=_inbound_file, tag=f"{short}i", args=args),
        "baseline": _api(base, org, endpoint=0, run=stamp + short, args=args),
        "send": _api(base, org, endpoint=1, run=stamp + short, args=args),
    }


def _figures(results: dict[str, list[h.WrkResult]]) -> dict[str, float]:
    ratios = [s.rps / b.rps for s, b in zip(results["send"], results["baseline"], strict=True)]
    figures = {f"{k}_p99": h.median(r.p99_ms for r in v) for k, v in results.items()}
    figures.update({f"{k}_rps": h.median(r.rps for r in v) for k, v in results.items()})
    figures["ratio"] = h.median(ratios)
    figures["errors"] = sum(r.errors for v in results.values() for r in v)
    return figures


def _scores(figures: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each shape's distance from the run's best on the four figures (1.0 each at best; lower wins)."""
    best = {k: min(f[k] for f in figures.values()) for k in ("inbound_p99", "status_p99", "send_p99")}
    best_ratio = max(f["ratio"] for f in figures.values())
    return {
        label: sum(f[k] / best[k] for k in best) + best_ratio / f["ratio"] + (100.0 if f["errors"] else 0.0)
        for label, f in figures.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default=DEFAULT_SHAPES, help="class:workers[xthreads], comma-separated")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--lines", type=int, default=4000, help="distinct signed webhook requests per file")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    started = h.machine()
    redis_port, web_port = h.free_port(), h.free_port()
    base = f"http://127.0.0.1:{web_port}"
    env = h.production_env(
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        public_base_url=base,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        LOG_FORMAT="json",
        PROMETHEUS_MULTIPROC_DIR=str(h.OUT / "prometheus-gunicorn"),
    )
    h.django_setup(env)
    from .data import bench_org_create

    with h.step("preparing the benchmark database"):
        h.database_prepare()
        org = bench_org_create(people=500)
    h.ensure_wrk()

    shapes = [_shape(text) for text in args.shapes.split(",")]
    results: dict[str, dict[str, list[h.WrkResult]]] = {_label(*shape): {} for shape in shapes}
    loads: dict[str, list[str]] = {label: [] for label in results}
    # Round by round, every shape once per round: a machine whose load drifts during the run
    # (a shared one) weighs on every shape alike instead of on the last ones.
    with h.redis_start(redis_port, name="redis-gunicorn"):
        for i in range(args.runs):
            for n, (worker_class, workers, threads) in enumerate(shapes):
                label = _label(worker_class, workers, threads)
                server_env = {**env, "DB_POOL_MAX_SIZE": str(threads)}  # compose: the pool = --threads
                loads[label].append(f"{os.getloadavg()[0]:.1f}")
                with h.step(f"round {i + 1}: gunicorn {label}, load average {loads[label][-1]}"):
                    server = h.gunicorn_start(web_port, env=server_env, worker_class=worker_class, workers=workers,
                                              threads=threads, config="config/gunicorn.conf.py")  # fmt: skip
                    try:
                        once = _measure_once(base, org, short=f"g{i}{n}", args=args)
                    finally:
                        server.stop()
                for kind, result in once.items():
                    results[label].setdefault(kind, []).append(result)
                print("  " + ", ".join(f"{k} {r.rps:.0f} req/s p99 {r.p99_ms:.0f} ms" for k, r in once.items()),
                      flush=True)  # fmt: skip
    figures = {label: _figures(result) for label, result in results.items()}

    scores = _scores(figures)
    ranked = sorted(figures, key=lambda label: scores[label])
    headers = ["gunicorn", "inbound p99", "status p99", "send p99", "send req/s", "send ÷ baseline", "errors",
               "1-min load at each start", "score"]  # fmt: skip
    rows = [
        [label, f"{f['inbound_p99']:.0f} ms", f"{f['status_p99']:.0f} ms", f"{f['send_p99']:.0f} ms",
         f"{f['send_rps']:.0f}", f"{f['ratio']:.2f}×", int(f["errors"]), ", ".join(loads[label]),
         f"{scores[label]:.2f}"]
        for label, f in ((label, figures[label]) for label in ranked)
    ]  # fmt: skip
    body = "\n".join(
        [
            h.table(headers, rows),
            "",
            f"- Best in this run: **{ranked[0]}** (score: each p99 ÷ the run's best p99, plus the best "
            "send ÷ baseline ratio ÷ this one; 4.00 would be best at everything).",
            f"- {args.connections} connections, wrk -t2, {args.runs} rounds of {args.duration:g} s per figure, "
            "medians; the shapes take turns within each round; every shape on production's "
            "`config/gunicorn.conf.py` with `DB_POOL_MAX_SIZE` = threads.",
            "- The machine's 1-minute load at each start is in the table: on a shared machine the absolute "
            "figures are noisy; compare shapes within one run, and run it again on a quiet machine.",
        ]
    )
    print()
    print(body)
    if not args.no_write:
        h.results_write(
            "gunicorn",
            title="gunicorn shapes",
            command=f'make bench-gunicorn BENCH_ARGS="--shapes {args.shapes} --runs {args.runs} '
            f'--duration {args.duration:g} --lines {args.lines}"',
            body=body,
            started=started,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
