"""Where a worker's send spends its CPU: SQL per text, CPU per text, a profile.

    python -m bench.profile_send [--texts 400] [--watched] [--cprofile] [--pyinstrument]

In-process, one thread, production settings, the benchmark database, a private Redis (broker
and rate limiter) and the Twilio-compatible server of the tests answering at once, in this
process. Each text is queued as the Workers benchmark queues it and sent through the task body
(``messaging.tasks.send_message``, not eager), with the real ``twilio`` SDK. CPU is the sending
thread's own (``time.thread_time``): the fake provider's threads are the load generator's. What
Celery adds per task (the broker round trips, acks) is not here: ``make bench-workers`` prints
the worker processes' CPU per text. ``--watched``: an active webhook endpoint wants ``message.sent``,
so each send also records its event (the outbox row); the difference is what being watched costs a send.
"""

from __future__ import annotations

import argparse
import time

from . import harness as h


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=400, help="texts per measured round")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (the median is printed)")
    parser.add_argument("--cprofile", action="store_true", help="also print cProfile's top functions (CPU time)")
    parser.add_argument("--pyinstrument", action="store_true", help="also print a pyinstrument profile")
    parser.add_argument(
        "--worker-connections",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="hand the database connection back around each text, as a worker does (default: on)",
    )
    parser.add_argument("--watched", action="store_true", help="an active webhook endpoint wants message.sent")
    args = parser.parse_args(argv)

    from .rig import Rig

    with Rig() as rig:
        h.django_setup(rig.env(SMS_RATE_PER_SENDER="1000", SMS_THROTTLE_GUARD_SECONDS="0"))
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from messaging.tasks import send_message

        from .data import bench_org_create

        with h.step("preparing the benchmark database"):
            h.database_prepare()
            org = bench_org_create(people=200, facilities=200, slug="bench-send")
            if args.watched:
                from django.conf import settings

                from integrations.services import endpoint_create

                settings.WEBHOOKS_ALLOW_PRIVATE = True  # nothing is delivered here: no webhooks worker runs
                endpoint_create(organization=org.organization, url="http://127.0.0.1:9/hooks", events=["message.sent"])

        from django.db import close_old_connections

        def run(ids: list[int]) -> None:
            for pk in ids:
                if args.worker_connections:
                    close_old_connections()  # what config/celery.py does before and after each task
                send_message(pk)
                if args.worker_connections:
                    close_old_connections()

        run(rig.queue(org, count=50, tag="warm", publish=False))
        ids = rig.queue(org, count=1, tag="one", publish=False)
        with CaptureQueriesContext(connection) as queries, h.QueryCounter(connection) as counted:
            run(ids)
        print(f"SQL statements per text: {counted.count}")
        for q in queries.captured_queries:
            print(f"  {q['time']}s  {q['sql'][:200]}")
        per_text = []
        for n in range(args.rounds):
            ids = rig.queue(org, count=args.texts, tag=f"r{n}", publish=False)
            cpu, wall = time.thread_time(), time.perf_counter()
            run(ids)
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
            per_text.append(cpu / len(ids) * 1000)
            print(f"round {n + 1}: {cpu / len(ids) * 1000:.2f} ms CPU, {wall / len(ids) * 1000:.2f} ms wall per text")
        assert rig.statuses(ids) == {"sent": len(ids)}, rig.statuses(ids)
        print(f"CPU per text (sending thread, median of {args.rounds}): {h.median(per_text):.2f} ms")
        if args.pyinstrument:
            ids = rig.queue(org, count=args.texts, tag="pyi", publish=False)
            h.pyinstrument_profile(lambda: run(ids), name="profile-send")
        if args.cprofile:
            cp_ids = rig.queue(org, count=args.texts, tag="cp", publish=False)
            h.cprofile_report(lambda: run(cp_ids), name="profile-send", timer=time.thread_time)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
