"""Card benchmark: SQL queries and render time of a card and its text panel, for a person with
10 and with 10,000 history rows (and as many texts in their conversation).

    python -m bench.card [--renders 200]

In-process (Django's test client through the whole middleware stack, a signed-in agent),
production settings, the benchmark database. Each page is rendered ``--renders`` times after a
warm-up; the table gives SQL queries per render and p50/p95 render time.
"""

from __future__ import annotations

import argparse
import time

from . import harness as h

SIZES = (10, 100, 10_000)  # 100: past the card's 50-entry window, so 100 and 10,000 render the same


def _person_with_history(org, *, rows: int, index: int):
    """The ``index``-th bench lead, given ``rows`` history entries and ``rows`` texts."""
    from django.utils import timezone

    from interactions.models import History, PhoneNumber
    from messaging.models import Message

    phone = PhoneNumber.objects.select_related("lead").get(pk=org.phone_ids[index])
    lead = phone.lead
    now = timezone.now()
    History.objects.bulk_create(
        History(
            organization_id=lead.organization_id,
            lead=lead,
            kind=History.Kind.TEXT if i % 2 else History.Kind.CALL,
            summary=f"Interaction {i}: asked about a 10x10 unit.",
            agent=org.agent,
            phone_number=phone,
            occurred_at=now - timezone.timedelta(minutes=rows - i),
        )
        for i in range(rows)
    )
    Message.objects.bulk_create(
        Message(
            organization_id=lead.organization_id,
            direction=Message.Direction.OUTBOUND if i % 3 else Message.Direction.INBOUND,
            lead=lead,
            phone_number=phone,
            facility_id=lead.facility_id,
            to_number=phone.number,
            from_number=org.senders[0],
            body=f"Text {i}: your unit is ready.",
            status=Message.Status.DELIVERED if i % 3 else Message.Status.RECEIVED,
        )
        for i in range(rows)
    )
    history = History.objects.filter(lead=lead).order_by("-id").first()
    return lead, phone, history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renders", type=int, default=200)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    started = h.machine()
    redis_port = h.free_port()
    h.django_setup(h.production_env(redis_url=f"redis://127.0.0.1:{redis_port}/0"))
    from django.db import connection
    from django.test import Client

    from .data import bench_org_create

    with h.step("preparing the benchmark database"):
        h.database_prepare()
        org = bench_org_create(people=10)
        people = {rows: _person_with_history(org, rows=rows, index=i) for i, rows in enumerate(SIZES)}
        with connection.cursor() as cursor:  # planner statistics, as autovacuum would have them by now
            cursor.execute("ANALYZE")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(org.agent)

    rows, query_counts = [], {}
    for size, (lead, phone, history) in people.items():
        pages = [
            ("lead card", f"/leads/{lead.pk}/"),
            ("history card", f"/history/{history.pk}/"),
            ("text panel", f"/text/panel/{phone.pk}/"),
            ("conversation", f"/text/conversation/{phone.pk}/"),
        ]
        for name, url in pages:
            for _ in range(10):  # warm-up: templates compiled, connection open
                assert client.get(url).status_code == 200, url
            with h.QueryCounter(connection) as queries:
                response = client.get(url)
            assert response.status_code == 200
            timings = []
            for _ in range(args.renders):
                t0 = time.perf_counter()
                client.get(url)
                timings.append((time.perf_counter() - t0) * 1000)
            query_counts.setdefault(name, {})[size] = queries.count
            rows.append(
                [
                    name,
                    f"{size:,}",
                    queries.count,
                    f"{h.percentile(timings, 50):.1f}",
                    f"{h.percentile(timings, 95):.1f}",
                    f"{len(response.content) / 1024:.0f} KiB",
                ]
            )
            p50 = h.percentile(timings, 50)
            slow_ms, slow_sql = queries.slowest
            print(f"  {name}, {size:,} rows: {queries.count} queries, p50 {p50:.1f} ms; slowest query "
                  f"{slow_ms:.1f} ms: {slow_sql[:300]}", flush=True)  # fmt: skip

    same = all(len(set(by_size.values())) == 1 for by_size in query_counts.values())
    verdict = (
        "The query count is the same for 10, 100 and 10,000 history rows on every page (target met)."
        if same
        else "The query count GROWS with the history on: "
        + ", ".join(name for name, by_size in query_counts.items() if len(set(by_size.values())) > 1)
        + " (target missed)."
    )
    body = "\n".join(
        [
            h.table(["page", "history rows", "SQL queries", "p50 ms", "p95 ms", "size"], rows),
            "",
            f"- {verdict}",
            "- The card lists the latest 50 entries and the conversation the latest texts, so the work per render "
            "is bounded: 100 and 10,000 rows render the same page in the same time; 10 rows render faster only "
            "because the page then has 10 entries instead of 50.",
        ]
    )
    print()
    print(body)
    if not args.no_write:
        h.results_write(
            "card",
            title="Card",
            command=f"make bench-card  # {args.renders} renders per page in-process, p50/p95 of each",
            body=body,
            started=started,
        )
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
