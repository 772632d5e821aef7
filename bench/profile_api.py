"""Where a Send API request spends its time: SQL queries per request and a pyinstrument profile.

    python -m bench.profile_api [--requests 300] [--endpoint api|baseline|key] [--cprofile | --no-profile]

In-process (Django's test client through the whole middleware stack), production settings, the
benchmark database, a private Redis broker. Writes the HTML profile to bench/out/.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

from . import harness as h


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--endpoint", choices=["api", "baseline", "key"], default="api")
    parser.add_argument("--cprofile", action="store_true", help="also print cProfile's top functions by own time")
    parser.add_argument("--no-profile", action="store_true", help="only the SQL and the unprofiled CPU per request")
    args = parser.parse_args(argv)

    redis_port = h.free_port()
    env = h.production_env(redis_url=f"redis://127.0.0.1:{redis_port}/0")
    h.django_setup(env)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from .data import bench_org_create

    h.database_prepare()
    org = bench_org_create(people=200)
    client = Client(HTTP_AUTHORIZATION=f"Token {org.token}", HTTP_HOST="127.0.0.1")

    def one(i: int):
        extra = {}
        if args.endpoint == "baseline":
            path, data = "/bench/baseline/", {"to": org.numbers[i % len(org.numbers)], "body": "Your unit is ready."}
        else:
            path, data = "/api/v1/messages/", {"phone_number": org.phone_ids[i % len(org.phone_ids)], "body": "Hi."}
            if args.endpoint == "key":
                extra["HTTP_IDEMPOTENCY_KEY"] = str(uuid.uuid4())
        response = client.post(path, json.dumps(data), content_type="application/json", **extra)
        assert response.status_code == 201, response.content
        return response

    with h.redis_start(redis_port, name="redis-profile") as redis:
        for i in range(20):  # warm-up
            one(i)
        with CaptureQueriesContext(connection) as queries, h.QueryCounter(connection) as counted:
            one(1000)
        print(f"SQL queries per request: {counted.count}")
        for q in queries.captured_queries:
            print(f"  {q['time']}s  {q['sql'][:160]}")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            [backend] = cursor.fetchone()
        # At saturation the request's own CPU is what decides throughput: this process's, and what
        # its PostgreSQL backend and the Redis server spend for it (all on the same cores).
        others = (backend, redis.pid)
        started = time.perf_counter()
        cpu, cpu_others = time.process_time(), [h.process_cpu_seconds(pid) for pid in others]
        for i in range(args.requests):
            one(i)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        backend_cpu, redis_cpu = (
            h.process_cpu_seconds(pid) - before for pid, before in zip(others, cpu_others, strict=True)
        )
        per = 1000 / args.requests
        print(f"\nunprofiled: {elapsed * per:.2f} ms wall, {cpu * per:.2f} ms CPU of this process per request; "
              f"with its PostgreSQL backend ({backend_cpu * per:.2f} ms) and Redis ({redis_cpu * per:.2f} ms): "
              f"{(cpu + backend_cpu + redis_cpu) * per:.2f} ms CPU per request")  # fmt: skip

        if args.no_profile:
            return 0

        def all_requests() -> None:
            for i in range(args.requests):
                one(i)

        elapsed = h.pyinstrument_profile(all_requests, name=f"profile-{args.endpoint}")
        print(f"\n{args.requests} requests in {elapsed:.2f}s: {elapsed / args.requests * 1000:.2f} ms each (profiled)")
        if args.cprofile:
            h.cprofile_report(all_requests, name=f"profile-{args.endpoint}", top=25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
