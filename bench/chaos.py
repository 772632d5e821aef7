"""Fault injection: texts keep flowing while Redis restarts, a worker is SIGKILLed, the provider
answers 500 and 429 and times out, and PostgreSQL drops the workers' connections. Afterwards
every committed text is in a terminal state or needs_reconciliation (the provider's delivery
receipts are applied at the end), the provider accepted each at most once, and none is lost.

    python -m bench.chaos [--count 2000]          (make chaos)

Everything runs on 127.0.0.1: a private redis-server (never the machine's shared one) as broker
and rate limiter, the Twilio-compatible server of the tests, two ``celery -A config worker``
processes, the benchmark database. This process plays Celery beat (the requeue and reconcile
sweepers, every two seconds). A small version runs in the test suite
(tests/chaos/test_fault_injection.py, 300 texts, no Redis restart: the suite's Redis is shared).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass, field

from . import harness as h
from .rig import Rig

# Short periods so a run settles in a minute or two (production: 300 s, 120 s, 10 s, 2 s).
CHAOS_SETTINGS = {
    "SMS_STUCK_AFTER_SECONDS": "5",
    "SMS_SENDING_STUCK_AFTER_SECONDS": "1",  # floored at max wait + provider timeout + 5 s = 7.5 s
    "TWILIO_TIMEOUT_SECONDS": "2",
    "SMS_THROTTLE_MAX_WAIT": "0.5",
    "SMS_RATE_PER_SENDER": "50",
}


@dataclass
class Report:
    committed: int = 0
    statuses: Counter = field(default_factory=Counter)
    provider_accepted: int = 0
    provider_requests: int = 0
    duplicates: int = 0  # texts the provider accepted more than once
    lost: int = 0  # committed, but not settled, or marked sent without the provider having it
    sent_unrecorded: int = 0  # accepted by the provider, but the row says it was not sent
    retried: int = 0  # texts that needed more than one provider attempt
    requeued: int = 0  # re-published by the queued sweeper (lost broker messages)
    reconciled: int = 0  # settled against the provider after a lost or late answer
    events: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.duplicates == 0 and self.lost == 0 and self.sent_unrecorded == 0

    def table(self) -> str:
        rows = [
            ["texts committed", self.committed],
            *[[f"… {status}", n] for status, n in sorted(self.statuses.items())],
            ["provider requests (incl. refused)", self.provider_requests],
            ["provider accepted", self.provider_accepted],
            ["texts retried (more than one attempt)", self.retried],
            ["re-published by the queued sweeper", self.requeued],
            ["settled by the reconciler", self.reconciled],
            ["duplicates (accepted twice)", self.duplicates],
            ["lost", self.lost],
            ["accepted but not recorded as sent", self.sent_unrecorded],
        ]
        return h.table(["", "count"], rows)


def _terminate_worker_connections() -> int:
    """pg_terminate_backend on every other connection to this database (the workers')."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return cursor.fetchone()[0]


SWEPT: Counter = Counter()


def _sweep(log) -> None:
    """What Celery beat would run: requeue texts stuck in queued, reconcile those stuck in sending."""
    from messaging.services import messages_reconcile_stuck, messages_requeue_stuck

    for sweeper in (messages_requeue_stuck, messages_reconcile_stuck):
        try:
            SWEPT[sweeper.__name__] += sweeper()
        except Exception as exc:  # Redis down while publishing, a dropped connection: next round
            log(f"    sweeper {sweeper.__name__}: {type(exc).__name__}: {str(exc)[:100]}")
            from django.db import close_old_connections

            close_old_connections()


def chaos_run(
    rig: Rig,
    org,
    *,
    count: int,
    batches: int = 10,
    processes: int = 2,
    concurrency: int = 16,
    restart_redis: bool = True,
    settle_timeout: float = 180.0,
    log=print,
) -> Report:
    """Queue ``count`` texts in ``batches`` while faults are injected, then settle and count."""
    from django.db import close_old_connections

    report = Report()
    SWEPT.clear()
    started = time.monotonic()

    def event(text: str) -> None:
        line = f"{time.monotonic() - started:6.1f}s  {text}"
        report.events.append(line)
        log(line)

    workers = [rig.worker_start(concurrency=concurrency, name=f"chaos{n}", **CHAOS_SETTINGS) for n in range(processes)]
    scale = max(1, count // 2000)
    faults = [
        lambda: (rig.twilio.fail_next(500, times=60 * scale), "provider answers 500 to the next sends")[1],
        *([lambda: _redis_restart(rig)] if restart_redis else []),
        lambda: _kill_worker(rig, workers, concurrency),
        lambda: (rig.twilio.fail_next(20429, times=60 * scale), "provider answers 429 to the next sends")[1],
        lambda: (rig.twilio.slow_next(3.0, times=15 * scale), "provider takes the next sends but answers late")[1],
        lambda: f"pg_terminate_backend on {_terminate_worker_connections()} worker connections",
        lambda: f"pg_terminate_backend on {_terminate_worker_connections()} worker connections",
    ]
    # Spread over the batches after the first, in this order, so each fault meets texts in flight.
    schedule = [(1 + k * max(1, batches - 1) // len(faults), fault) for k, fault in enumerate(faults)]
    ids: list[int] = []
    per_batch = -(-count // batches)
    for batch in range(batches):
        n = min(per_batch, count - len(ids))
        if n <= 0:
            break
        close_old_connections()
        ids += rig.queue(org, count=n, tag=f"chaos{batch}")
        event(f"batch {batch + 1}: {n} texts committed" + (f", {rig.unpublished} not published (broker down)"
                                                            if rig.unpublished else ""))  # fmt: skip
        for at, fault in schedule:
            if at == batch:
                event(fault())
        _sweep(log)
        time.sleep(1.0)
    report.committed = len(ids)

    def tick():
        close_old_connections()
        _sweep(log)

    event("all texts committed; settling (the sweepers run every 2 s)")
    settled = rig.wait_done(ids, timeout=settle_timeout, tick=tick, step=2.0)
    event("settled" if settled else f"NOT settled after {settle_timeout:.0f}s")
    for worker in rig.workers:
        worker.stop(timeout=15)
    delivered = _deliver(rig)
    event(f"the provider reports {delivered} texts delivered (status callbacks through the webhook's service)")
    report.seconds = time.monotonic() - started
    report.requeued, report.reconciled = SWEPT["messages_requeue_stuck"], SWEPT["messages_reconcile_stuck"]
    _count(rig, ids, report)
    return report


def _redis_restart(rig: Rig) -> str:
    from messaging.models import Message

    waiting = Message.objects.filter(status=Message.Status.QUEUED).count()
    rig.redis_restart(down_for=2.0)
    return f"Redis killed with {waiting} texts queued (its queue is lost: no persistence), down 2 s, started again"


def _deliver(rig: Rig) -> int:
    """Every text the provider accepted gets its ``delivered`` callback, as Twilio would post it
    (applied with the status webhook's service, ``message_status_update``), so each settled text
    ends in a terminal state."""
    from django.db import close_old_connections

    from messaging.services import message_status_update

    close_old_connections()
    return sum(
        1
        for created in rig.twilio.created()
        if message_status_update(provider_sid=created["sid"], provider_status="delivered") is not None
    )


def _in_flight() -> int:
    from messaging.models import Message

    return Message.objects.filter(status=Message.Status.SENDING).count()


def _kill_worker(rig: Rig, workers: list[h.Process], concurrency: int) -> str:
    victim = workers[0]
    deadline = time.monotonic() + 3
    while (in_flight := _in_flight()) == 0 and time.monotonic() < deadline:  # strike with sends under way
        time.sleep(0.05)
    victim.kill()
    replacement = rig.worker_start(concurrency=concurrency, name="chaos-replacement", **CHAOS_SETTINGS)
    workers[0] = replacement
    return f"worker SIGKILLed ({in_flight} texts in 'sending' across both workers); a replacement started"


def _count(rig: Rig, ids: list[int], report: Report) -> None:
    from messaging.models import Message

    rows = list(
        Message.objects.filter(pk__gte=min(ids), pk__lte=max(ids)).values_list("status", "provider_sid", "body")
    )
    report.statuses = Counter(status for status, _, _ in rows)
    report.retried = Message.objects.filter(pk__gte=min(ids), pk__lte=max(ids), attempts__gt=1).count()
    created = rig.twilio.created()
    accepted = Counter(m["body"] for m in created)
    body_of_sid = {m["sid"]: m["body"] for m in created}
    report.provider_accepted = len(created)
    report.provider_requests = len(rig.twilio.sends())
    report.duplicates = sum(n - 1 for n in accepted.values() if n > 1)
    # Settled: a terminal state, or needs_reconciliation (left for a person, never resent blindly).
    settled = {"delivered", "undelivered", "failed", "needs_reconciliation"}
    # Lost: not settled, or recorded as gone out under a SID the provider does not hold for that text.
    report.lost = sum(
        1
        for status, sid, body in rows
        if status not in settled or (status in ("sent", "delivered") and body_of_sid.get(sid) != body)
    )
    # Went out, but the row says it failed: a person might send it again.
    report.sent_unrecorded = sum(1 for status, _, body in rows if status == "failed" and accepted.get(body))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--redis-port", type=int, default=6390, help="the private Redis this run restarts")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    started = h.machine()
    with Rig(redis_port=args.redis_port) as rig:
        h.django_setup(rig.env(**CHAOS_SETTINGS))
        from .data import bench_org_create

        with h.step("preparing the benchmark database"):
            h.database_prepare()
            org = bench_org_create(people=500, facilities=10)
        report = chaos_run(rig, org, count=args.count)

    verdict = (
        "zero duplicates, zero lost"
        if report.ok
        else f"FAILED: {report.duplicates} duplicates, {report.lost} lost, {report.sent_unrecorded} unrecorded"
    )
    body = "\n".join(
        [
            report.table(),
            "",
            f"- Result: {verdict}; settled in {report.seconds:.0f} s.",
            "- Timeline:",
            "",
            "```",
            *report.events,
            "```",
        ]
    )
    print()
    print(body)
    if not args.no_write:
        h.results_write(
            "chaos",
            title="Fault injection",
            command=f"make chaos  # {args.count} texts, 2 workers × 16 threads, private Redis on {args.redis_port}",
            body=body,
            started=started,
        )
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
