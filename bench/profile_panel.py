"""Where the text panel's request spends its time: SQL per open, wall and CPU per open, a profile.

    python -m bench.profile_panel [--texts 10000] [--requests 200] [--cprofile] [--pyinstrument]

In-process, one thread, production settings, the benchmark database (prepared as bench/card.py
prepares it: one person per size with that many texts and history rows), a private Redis.
``GET /text/panel/<id>/`` goes through Django's test client, so through the whole middleware
stack with a signed-in agent (the session read from the database on every request, as in
production). Each size prints its SQL statements, p50/p95 wall time and CPU per request
(``time.thread_time``) and Python function calls per open (cProfile: a count that a busy
machine does not change); ``--cprofile`` and ``--pyinstrument`` profile ``--profile-requests``
opens of the largest size (bench/out/profile-panel.*).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from . import harness as h


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, nargs="+", default=[10, 10_000], help="people to open, by texts")
    parser.add_argument("--requests", type=int, default=200, help="timed opens per person")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --requests (the medians are printed)")
    parser.add_argument("--profile-requests", type=int, default=50)
    parser.add_argument("--cprofile", action="store_true", help="also print cProfile's top functions (CPU time)")
    parser.add_argument("--pyinstrument", action="store_true", help="also print a pyinstrument profile")
    parser.add_argument("--queries", action="store_true", help="print each SQL statement of one open")
    args = parser.parse_args(argv)

    redis_port = h.free_port()
    env = h.production_env(redis_url=f"redis://127.0.0.1:{redis_port}/0")
    h.django_setup(env)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from .card import _person_with_history
    from .data import bench_org_create

    with h.redis_start(redis_port, name="redis-panel"):
        with h.step("preparing the benchmark database"):
            h.database_prepare()
            org = bench_org_create(people=max(10, len(args.texts)))
            people = {n: _person_with_history(org, rows=n, index=i) for i, n in enumerate(args.texts)}
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(org.agent)

        for size, (_lead, phone, _history) in people.items():
            url = f"/text/panel/{phone.pk}/"
            for _ in range(20):
                assert client.get(url).status_code == 200
            with CaptureQueriesContext(connection) as captured, h.QueryCounter(connection) as counted:
                response = client.get(url)
            print(f"{size:,} texts: {counted.count} SQL statements, {len(response.content) / 1024:.1f} KiB")
            if args.queries:
                for q in captured.captured_queries:
                    print(f"    {q['time']}s  {q['sql'][:240]}")
            p50s, p95s, cpus = [], [], []
            for _ in range(args.rounds):
                wall, cpu0 = [], time.thread_time()
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    client.get(url)
                    wall.append((time.perf_counter() - t0) * 1000)
                cpus.append((time.thread_time() - cpu0) / args.requests * 1000)
                p50s.append(h.percentile(wall, 50))
                p95s.append(h.percentile(wall, 95))
            print(
                f"  wall p50 {h.median(p50s):.1f} ms, p95 {h.median(p95s):.1f} ms; CPU {h.median(cpus):.1f} ms per open"
                f" (medians of {args.rounds} rounds of {args.requests})",
                flush=True,
            )
            # Python function calls per open: the same on a busy machine, unlike the times above.
            counter = cProfile.Profile()
            counter.enable()
            for _ in range(10):
                client.get(url)
            counter.disable()
            calls = pstats.Stats(counter).total_calls / 10
            print(f"  {calls / 1000:.1f}k Python function calls per open (cProfile)", flush=True)

        _lead, phone, _history = people[max(people)]
        url = f"/text/panel/{phone.pk}/"

        def work() -> None:
            for _ in range(args.profile_requests):
                client.get(url)

        if args.cprofile:
            h.cprofile_report(work, name="profile-panel")
        if args.pyinstrument:
            h.pyinstrument_profile(work, name="profile-panel")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
