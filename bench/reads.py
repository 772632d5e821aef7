"""The send path's plain-SQL reads (core/fastsql.py) against their querysets: microseconds per read.

    python -m bench.reads [--reads 2000] [--rounds 3]

In one process, on the benchmark database with production's settings (PostgreSQL, Django's
``server_side_binding`` with psycopg's ``prepare_threshold``), each read of a send's API request
is timed as the ORM makes it and as core/fastsql.py makes it, alternating, for ``--rounds``
rounds; medians of this process's CPU per read (the ORM's Python cost) and of the wall time (the
database's round trip and, on a busy machine, the waits included). Prints only: bench/README.md
quotes it in "Third round".
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from . import harness as h


def _per_read_us(read: Callable[[int], object], count: int) -> tuple[float, float]:
    """(CPU of this process, wall) per read in µs. The CPU is what the ORM's Python costs and what
    a busy machine does not inflate; the wall time adds the database's round trip and the waits."""
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        read(i)
    return (time.process_time() - cpu) / count * 1e6, (time.perf_counter() - started) / count * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    h.django_setup(h.production_env(redis_url="redis://127.0.0.1:1/0"))
    from rest_framework.authtoken.models import Token

    from config.authentication import _TOKEN
    from interactions.models import PhoneNumber
    from messaging.serializers import MessageCreateSerializer

    from .data import bench_org_create

    h.database_prepare()
    org = bench_org_create(people=200)
    organization_id = org.organization.pk
    ids = org.phone_ids
    joins = ("lead__facility", "customer__facility")
    number = MessageCreateSerializer().fields["phone_number"]._lookup()
    reads: dict[str, tuple[Callable[[int], object], Callable[[int], object]]] = {
        "token with user, membership, organization": (
            lambda i: Token.objects.select_related("user__membership__organization").get(key=org.token),
            lambda i: _TOKEN.get(key=org.token),
        ),
        "number with lead/customer and facility": (
            lambda i: (
                PhoneNumber.objects.filter(organization_id=organization_id)
                .select_related(*joins)
                .get(pk=ids[i % len(ids)])
            ),
            lambda i: number.get(organization_id=organization_id, pk=ids[i % len(ids)]),
        ),
    }
    rows = []
    for name, (orm, plain) in reads.items():
        for read in (orm, plain):  # warm-up: connection, prepared statements, caches
            _per_read_us(read, 50)
        timings: dict[str, list[tuple[float, float]]] = {"orm": [], "plain": []}
        for _ in range(args.rounds):
            timings["orm"].append(_per_read_us(orm, args.reads))
            timings["plain"].append(_per_read_us(plain, args.reads))
        o_cpu, p_cpu = (h.median(t[0] for t in timings[k]) for k in ("orm", "plain"))
        o_wall, p_wall = (h.median(t[1] for t in timings[k]) for k in ("orm", "plain"))
        rows.append(
            [name, f"{o_cpu:,.0f}", f"{p_cpu:,.0f}", f"{o_cpu / p_cpu:.1f}×", f"{o_wall:,.0f}", f"{p_wall:,.0f}"]
        )
    print(h.machine())
    print(f"python -m bench.reads --reads {args.reads} --rounds {args.rounds}; medians\n")
    headers = ["read", "ORM CPU µs", "plain SQL CPU µs", "CPU saved", "ORM wall µs", "plain SQL wall µs"]
    print(h.table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
