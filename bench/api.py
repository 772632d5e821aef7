"""Send API benchmark: POST /api/v1/messages/ against the bare baseline, under gunicorn.

    python -m bench.api [--runs 3] [--duration 10] [--classes sync,gthread]

Production settings (DEBUG=0, PostgreSQL, Redis broker, tasks not eager, CONN_MAX_AGE=60); no
worker runs, so each queued text stays in the broker. For each gunicorn worker class: a warm-up,
then ``--runs`` rounds, each round measuring the baseline, the real endpoint, and the real
endpoint with an Idempotency-Key back to back (so they share the machine's noise); the table
gives medians, and the ratio is the median of each round's real/baseline ratio.
"""

from __future__ import annotations

import argparse
import time

from . import harness as h

ENDPOINTS = [
    # name, path, Lua args builder
    ("baseline (bare)", "/bench/baseline/", lambda org, run: [org.token, "baseline", ",".join(org.numbers)]),
    (
        "POST /api/v1/messages/",
        "/api/v1/messages/",
        lambda org, run: [org.token, "message", ",".join(map(str, org.phone_ids))],
    ),
    (
        "… with Idempotency-Key",
        "/api/v1/messages/",
        lambda org, run: [org.token, "message", ",".join(map(str, org.phone_ids)), "key", run],
    ),
]
TARGET_RATIO, STRETCH_RATIO, TARGET_P99_MS = 0.8, 1.0, 150.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--classes", default="sync,gthread", help="gunicorn worker classes to try")
    parser.add_argument("--sync-workers", type=int, default=4)
    parser.add_argument("--gthread-workers", type=int, default=2)
    parser.add_argument("--gthread-threads", type=int, default=8)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args(argv)

    started = h.machine()
    redis_port, web_port = h.free_port(), h.free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    base = f"http://127.0.0.1:{web_port}"
    env = h.production_env(redis_url=redis_url, public_base_url=base)
    h.django_setup(env)
    from .data import bench_org_create

    with h.step("preparing the benchmark database"):
        h.database_prepare()
        org = bench_org_create(people=500)
        vacuum_note = h.vacuum_as_autovacuum_would()
    h.ensure_wrk()

    rows, notes, raw = [], [], []
    figures: dict[str, dict] = {}  # bench/out/api.json, for bench/summary.py
    with h.redis_start(redis_port, name="redis-broker"):
        for worker_class in args.classes.split(","):
            if worker_class == "sync":
                shape = dict(workers=args.sync_workers)
                label = f"sync ×{args.sync_workers}"
            else:
                shape = dict(workers=args.gthread_workers, threads=args.gthread_threads)
                label = f"gthread {args.gthread_workers}×{args.gthread_threads}"
            with h.step(f"gunicorn {label}"):
                server = h.gunicorn_start(web_port, env=env, worker_class=worker_class, **shape)
                try:
                    results = _measure(base, org, args)
                finally:
                    server.stop()
            baseline = results[ENDPOINTS[0][0]]
            for name, _, _ in ENDPOINTS:
                runs = results[name]
                ratios = [r.rps / b.rps for r, b in zip(runs, baseline, strict=True)]
                rows.append(
                    [
                        label,
                        name,
                        f"{h.median(r.rps for r in runs):.0f}",
                        f"{h.median(r.p50_ms for r in runs):.1f}",
                        f"{h.median(r.p99_ms for r in runs):.1f}",
                        sum(r.errors for r in runs),
                        f"{h.median(ratios):.2f}×",
                    ]
                )
                samples = "; ".join(s for r in runs for s in r.samples)[:300]
                raw.append(
                    f"- {label}, {name}: "
                    + ", ".join(f"{r.rps:.0f} req/s p99 {r.p99_ms:.0f} ms" for r in runs)
                    + (f" (errors: {samples})" if samples else "")
                )
                if name != ENDPOINTS[0][0]:
                    ratio, p99 = h.median(ratios), h.median(r.p99_ms for r in runs)
                    figures.setdefault(label, {"baseline_rps": h.median(r.rps for r in baseline)})[
                        "key" if "Idempotency" in name else "plain"
                    ] = {"ratio": ratio, "p99_ms": p99, "rps": h.median(r.rps for r in runs)}
                    verdict = "meets" if ratio >= TARGET_RATIO and p99 < TARGET_P99_MS else "misses"
                    stretch = " and the 1.0× stretch" if ratio >= STRETCH_RATIO and verdict == "meets" else ""
                    notes.append(
                        f"- {label}, {name}: {ratio:.2f}× the baseline, p99 {p99:.0f} ms — {verdict} the target "
                        f"(≥ {TARGET_RATIO}×, p99 < {TARGET_P99_MS:.0f} ms){stretch}."
                    )

    headers = ["gunicorn", "endpoint", "req/s", "p50 ms", "p99 ms", "errors", "vs baseline"]
    command = (
        f"make bench-api  # wrk -t2 -c{args.connections} -d{args.duration:g}s --latency, "
        f"{args.runs} runs after a {args.warmup:g}s warm-up; medians"
    )
    body = "\n".join(
        [
            h.table(headers, rows),
            "",
            *notes,
            f"- Dead rows: {vacuum_note}.",
            "",
            "Each run (req/s, p99):",
            *raw,
        ]
    )
    print()
    print(body)
    h.figures_write("api", {"classes": figures, "connections": args.connections, "runs": args.runs})
    if not args.no_write:
        h.results_write("api", title="Send API", command=command, body=body, started=started)
    return 0


def _measure(base: str, org, args) -> dict[str, list[h.WrkResult]]:
    run = str(int(time.time()))
    for _name, path, lua in ENDPOINTS:  # warm-up: connections, imports, caches
        h.wrk(base + path, script="post_json.lua", args=lua(org, run + "w"), duration=args.warmup,
              connections=args.connections)  # fmt: skip
    results: dict[str, list[h.WrkResult]] = {name: [] for name, _, _ in ENDPOINTS}
    for i in range(args.runs):
        for name, path, lua in ENDPOINTS:
            vacuumed = h.vacuum_as_autovacuum_would()
            result = h.wrk(
                base + path,
                script="post_json.lua",
                args=lua(org, f"{run}r{i}"),
                duration=args.duration,
                connections=args.connections,
            )
            results[name].append(result)
            print(f"  run {i + 1} {name}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, "
                  f"p99 {result.p99_ms:.1f} ms, errors {result.errors} ({vacuumed})", flush=True)  # fmt: skip
    return results


if __name__ == "__main__":
    raise SystemExit(main())
