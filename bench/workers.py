"""Workers benchmark: texts sent per second by one worker host through the Twilio-compatible
server answering every send after 100 ms, with the per-sender limit set high and then low.

    python -m bench.workers [--runs 3] [--count 2000] [--concurrency 64]

``--processes`` × ``celery -A config worker --pool threads --concurrency N`` (production settings,
a private Redis, the benchmark database). Each run queues ``--count`` texts spread over
``--senders`` sender numbers, starts the workers on an empty queue, waits until each answers a
ping, then has them all take the texts' queue (``add_consumer``) and waits until every text is
``sent``. Start-up is not measured (a worker host runs all day): worker CPU per text counts from
``add_consumer`` to the last text sent.
Sends per second = texts completed / (last ``sent_at`` − first ``sending_at``). The per-sender
check reads the provider's recorded request times per ``From`` number.
"""

from __future__ import annotations

import argparse
import time

import redis

from . import harness as h
from .rig import Rig, most_in_one_second

TARGET_PER_SECOND = 250
HOLD_QUEUE = "bench-hold"  # what the workers consume while they start: nothing is ever sent to it


def _wait_ready(nodes: list[str], *, timeout: float = 120.0) -> None:
    """Until every worker answers a ping (started, connected, consuming)."""
    from config.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answered = {name for reply in app.control.ping(destination=nodes, timeout=1.0) for name in reply}
        if answered >= set(nodes):
            return
    raise RuntimeError(f"workers not ready after {timeout:.0f} s: {sorted(set(nodes) - answered)}")


def _run(rig: Rig, org, *, rate: float, count: int, args, tag: str) -> dict:
    from django.db.models import Max, Min

    from messaging.models import Message

    rig.twilio.reset()
    client = redis.Redis.from_url(rig.redis_url)
    client.flushdb()  # the private Redis: throttle slots of the previous run
    client.close()
    rig.twilio.slow_next(args.latency, times=count * 3)  # every send: accepted, answered after 100 ms
    ids = rig.queue(org, count=count, tag=tag)
    extra = dict(item.split("=", 1) for item in args.worker_env.split(",") if item)
    # A worker host sends all day: its start-up is part of no text. The workers start on an empty
    # queue; once every one answers a ping they are told to take the queued texts, all at once.
    workers = [
        rig.worker_start(
            concurrency=args.concurrency,
            name=f"bench-{tag}-{n}",
            queues=HOLD_QUEUE,
            SMS_RATE_PER_SENDER=f"{rate:g}",
            SMS_THROTTLE_GUARD_SECONDS=f"{args.guard:g}",
            **extra,
        )
        for n in range(args.processes)
    ]
    nodes = [worker.node for worker in workers]
    _wait_ready(nodes)
    import resource

    from config.celery import app

    started_cpu = sum(worker.cpu_seconds() for worker in workers)
    own = resource.getrusage(resource.RUSAGE_SELF)
    app.control.add_consumer(app.conf.task_default_queue, destination=nodes)
    done = rig.wait_done(ids, timeout=max(120.0, count / 20))
    worker_cpu = sum(worker.cpu_seconds() for worker in workers) - started_cpu
    after = resource.getrusage(resource.RUSAGE_SELF)
    driver_cpu = (after.ru_utime + after.ru_stime) - (own.ru_utime + own.ru_stime)
    for worker in workers:
        worker.stop(timeout=20)
    statuses = rig.statuses(ids)
    span = Message.objects.filter(pk__gte=ids[0], pk__lte=ids[-1], status="sent").aggregate(
        first=Min("sending_at"), last=Max("sent_at")
    )
    seconds = (span["last"] - span["first"]).total_seconds() if span["first"] else float("nan")
    sent = statuses.get("sent", 0)
    by_sender = rig.send_times_by_sender()
    worst = max((most_in_one_second(times) for times in by_sender.values()), default=0)
    duplicates = sum(n - 1 for n in rig.accepted_by_body().values() if n > 1)
    result = {
        "done": done,
        "sent": sent,
        "seconds": seconds,
        "per_second": sent / seconds if seconds else float("nan"),
        "worst": worst,
        "duplicates": duplicates,
        "statuses": dict(statuses),
        "worker_cpu_ms": worker_cpu * 1000 / max(sent, 1),
        "driver_cpu_ms": driver_cpu * 1000 / max(sent, 1),
    }
    cpu = f"worker {result['worker_cpu_ms']:.1f} ms, fake Twilio + driver {result['driver_cpu_ms']:.1f} ms"
    print(f"  {tag}: {sent}/{count} sent in {seconds:.1f}s = {result['per_second']:.0f}/s; busiest sender "
          f"second {worst} (limit {rate:g}); duplicates {duplicates}; {dict(statuses)}; CPU per send: {cpu}",
          flush=True)  # fmt: skip
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=2000, help="texts per run with the high limit")
    parser.add_argument("--low-count", type=int, default=600, help="texts per run with the low limit")
    parser.add_argument("--senders-high", type=int, default=50, help="sender numbers with the high limit")
    parser.add_argument("--senders-low", type=int, default=10, help="sender numbers with the low limit")
    parser.add_argument("--high", type=float, default=1000, help="per-sender limit, texts/s")
    parser.add_argument("--low", type=float, default=5, help="per-sender limit, texts/s")
    parser.add_argument("--processes", type=int, default=2, help="worker processes on this host (one per core)")
    parser.add_argument("--concurrency", type=int, default=32, help="threads per worker process")
    parser.add_argument("--latency", type=float, default=0.1, help="the provider's answer time, seconds")
    parser.add_argument("--guard", type=float, default=0.05, help="SMS_THROTTLE_GUARD_SECONDS of the workers")
    parser.add_argument("--worker-env", default="", help="extra worker settings, e.g. SMS_THROTTLE_GUARD_SECONDS=0")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    started = h.machine()
    scenarios = [("high", args.high, args.count), ("low", args.low, args.low_count)]
    results: dict[str, list[dict]] = {name: [] for name, _, _ in scenarios}
    with Rig() as rig:
        h.django_setup(rig.env())
        from .data import bench_org_create

        with h.step("preparing the benchmark database"):
            h.database_prepare()
            orgs = {
                "high": bench_org_create(people=500, facilities=args.senders_high, slug="bench-high"),
                "low": bench_org_create(people=200, facilities=args.senders_low, slug="bench-low", sender_start=5000),
            }
        for name, rate, count in scenarios:
            for i in range(args.runs):
                results[name].append(_run(rig, orgs[name], rate=rate, count=count, args=args, tag=f"{name}{i + 1}"))
                time.sleep(1)

    rows, notes = [], []
    figures: dict[str, dict] = {}  # bench/out/workers.json, for bench/summary.py
    for name, rate, count in scenarios:
        runs = results[name]
        per_second = h.median(r["per_second"] for r in runs)
        worst = max(r["worst"] for r in runs)
        duplicates = sum(r["duplicates"] for r in runs)
        unfinished = sum(count - r["sent"] for r in runs)
        senders = args.senders_high if name == "high" else args.senders_low
        figures[name] = {"per_second": per_second, "limit": rate, "worst": worst, "duplicates": duplicates,
                         "not_sent": unfinished}  # fmt: skip
        # The limiter spaces two sends of one number by 1/rate plus its guard (SMS_THROTTLE_GUARD_SECONDS).
        ceiling = senders / (1 / rate + args.guard)
        rows.append(
            [
                f"{name}: {rate:g}/s per sender",
                f"{senders} numbers: {ceiling:.0f}/s",
                count,
                f"{per_second:.0f}",
                ", ".join(f"{r['per_second']:.0f}" for r in runs),
                f"{worst} (limit {rate:g})",
                duplicates,
                unfinished,
            ]
        )
        if name == "high":
            verdict = "meets" if per_second >= TARGET_PER_SECOND else "misses"
            gap = "" if per_second >= TARGET_PER_SECOND else f" by {TARGET_PER_SECOND - per_second:.0f}/s"
            notes.append(
                f"- Limit high: {per_second:.0f} sends/s — {verdict} the target of ≥ {TARGET_PER_SECOND}/s{gap}."
            )
        else:
            verdict = "never exceeded" if worst <= rate else f"EXCEEDED ({worst} > {rate:g})"
            notes.append(
                f"- Limit low: the per-sender limit was {verdict} in any one-second window (provider-side "
                f"timestamps per From number); throughput {per_second:.0f}/s against a ceiling of {ceiling:g}/s."
            )
    body = "\n".join(
        [
            h.table(
                [
                    "per-sender limit",
                    "limiter ceiling",
                    "texts/run",
                    "sends/s (median)",
                    "each run",
                    "busiest sender-second",
                    "duplicates",
                    "not sent",
                ],
                rows,
            ),
            "",
            *notes,
            f"- {args.processes} worker process(es), `--pool threads --concurrency {args.concurrency}` each; every "
            "provider call answered "
            f"after {args.latency * 1000:.0f} ms; {args.runs} runs each. Ceiling: what the rate limiter allows, "
            f"1 / (1/limit + {args.guard * 1000:.0f} ms guard) per number; with the limit high the guard dominates "
            "(about 19.6/s per number), hence 50 numbers.",
        ]
    )
    print()
    print(body)
    h.figures_write("workers", {**figures, "latency_ms": args.latency * 1000, "runs": args.runs})
    if not args.no_write:
        h.results_write(
            "workers",
            title="Workers",
            command=f"make bench-workers  # {args.processes} × celery --pool threads --concurrency {args.concurrency}, "
            f"{args.latency * 1000:.0f} ms provider latency, {args.runs} runs",
            body=body,
            started=started,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
