"""Every page holds at an operator's size: no page reads texts, history or people from end to end.

A large organization is loaded with plain SQL (``generate_series``: a few hundred thousand rows in
seconds), then every page and API list the URLconf has is requested as its manager and as an agent
(and the searches with a rare word, a name and a number fragment), each query is captured and
``EXPLAIN``ed, and a sequential scan of ``messaging_message``, ``interactions_history``,
``interactions_lead``, ``interactions_customer`` or ``interactions_phonenumber`` fails the test with
the page and the query (DESIGN rule 13; docs/ARCHITECTURE.md "Indexes"). The routes are found, not
listed: a new page is checked the day it is added. Exports, which read everything by design, are
left out.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator
from importlib import import_module
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from interactions.models import Customer, History, Lead, Membership, PhoneNumber
from messaging.compliance.engine import texts_counted
from messaging.models import Message
from messaging.partitions import message_partitions_ensure
from messaging.selectors import INBOX_SHOWS
from ops.services import outbox_tally_record
from tests.factories import FacilityFactory, MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.postgres(reason="reads PostgreSQL's query plans (EXPLAIN)")

BIG_TABLES = frozenset(
    {
        "messaging_message",
        "interactions_history",
        "interactions_lead",
        "interactions_customer",
        "interactions_phonenumber",
        "messaging_conversation",
    }
)
LEADS, CUSTOMERS, TEXTS, HISTORY = 60_000, 40_000, 300_000, 100_000
RARE = 777  # the row whose name, number and word are searched for: each appears once
METRICS_TOKEN = "plan-guard-token"

# Routes whose cost is everything by design (exports), or that are not pages (posts only, redirects
# to elsewhere, the schema and its docs: static documents).
SKIPPED = re.compile(r"(export|evidence\.csv|\.csv|^api/schema|^api/docs|^u/|^webhooks/|logout|^healthz)")


def _load(org_id: int, facility_ids: list[int]) -> None:
    """The organization's people, numbers, texts and history, in one statement each."""
    facilities = "ARRAY[" + ",".join(str(f) for f in facility_ids) + "]::bigint[]"
    params = {"org": org_id, "leads": LEADS, "customers": CUSTOMERS, "texts": TEXTS, "history": HISTORY}
    statements = [
        f"""INSERT INTO interactions_lead (first_name, last_name, created_at, updated_at, email, status, source,
               facility_id, organization_id, postal_code, state)
            SELECT 'Pat' || substr(md5('f' || i), 1, 6), 'L' || substr(md5('l' || i), 1, 9),
                   now() - i * interval '1 minute', now() - i * interval '1 minute', '', 'new', '',
                   ({facilities})[1 + i % {len(facility_ids)}], %(org)s, '', ''
            FROM generate_series(1, %(leads)s) AS i""",
        f"""INSERT INTO interactions_customer (first_name, last_name, created_at, updated_at, pms_id, unit,
               balance_due, facility_id, organization_id, postal_code, state)
            SELECT 'Sam' || substr(md5('g' || i), 1, 6), 'C' || substr(md5('c' || i), 1, 9),
                   now() - i * interval '1 minute', now() - i * interval '1 minute', 'pms-' || i, '', 0,
                   ({facilities})[1 + i % {len(facility_ids)}], %(org)s, '', ''
            FROM generate_series(1, %(customers)s) AS i""",
        """INSERT INTO interactions_phonenumber (number, label, is_primary, source, created_at, updated_at,
               organization_id, lead_id, line_type, line_type_carrier, line_type_demo, not_textable_reason,
               line_type_checked_at)
            SELECT '+1512' || lpad(row_number() OVER (ORDER BY id)::text, 7, '0'), 'mobile', true, 'local',
                   created_at, created_at, organization_id, id, 'mobile', '', false, '', created_at
            FROM interactions_lead WHERE organization_id = %(org)s""",
        """INSERT INTO interactions_phonenumber (number, label, is_primary, source, created_at, updated_at,
               organization_id, customer_id, line_type, line_type_carrier, line_type_demo, not_textable_reason,
               line_type_checked_at)
            SELECT '+1737' || lpad(row_number() OVER (ORDER BY id)::text, 7, '0'), 'mobile', true, 'pms',
                   created_at, created_at, organization_id, id, 'mobile', '', false, '', created_at
            FROM interactions_customer WHERE organization_id = %(org)s""",
        # Texts: two thirds to leads, one third to customers; every third one a reply.
        """WITH people AS (
               SELECT row_number() OVER (ORDER BY p.id) - 1 AS n, p.lead_id, p.customer_id, p.id, p.number
               FROM interactions_phonenumber p WHERE p.organization_id = %(org)s),
             total AS (SELECT count(*) AS c FROM people)
           INSERT INTO messaging_message (direction, to_number, from_number, body, status, error_code, error_message,
               segments, encoding, attempts, flagged_opt_out_request, created_at, updated_at, organization_id,
               request_id, actor_name, flag_dismissed_note, flagged_as_spam, lead_id, customer_id, phone_number_id,
               provider_sid, media_count)
           SELECT CASE WHEN i % 3 = 0 THEN 'inbound' ELSE 'outbound' END,
                  CASE WHEN i % 3 = 0 THEN '+15125550100' ELSE p.number END,
                  CASE WHEN i % 3 = 0 THEN p.number ELSE '+15125550100' END,
                  'Your unit is ready, code w' || md5('w' || i) || '. Reply STOP to opt out',
                  CASE WHEN i % 3 = 0 THEN 'received' ELSE 'delivered' END, '', '', 1, 'GSM-7', 1, false,
                  now() - i * interval '10 seconds', now() - i * interval '10 seconds', %(org)s, '', '', '', false,
                  p.lead_id, p.customer_id, p.id, 'SM' || md5('s' || i), 0
           FROM generate_series(1, %(texts)s) AS i CROSS JOIN total JOIN people p ON p.n = i % total.c""",
        """WITH people AS (
               SELECT row_number() OVER (ORDER BY id) - 1 AS n, id FROM interactions_lead
               WHERE organization_id = %(org)s)
           INSERT INTO interactions_history (kind, occurred_at, summary, organization_id, actor_name, lead_id)
           SELECT 'note', now() - i * interval '30 seconds', 'Called about the unit', %(org)s, 'Agent', p.id
           FROM generate_series(1, %(history)s) AS i JOIN people p ON p.n = i %% %(leads)s""",
    ]
    # PostgreSQL: the months of the texts below (300,000 at 10 s apart: five weeks back) have their
    # partitions, as the beat makes them; the hot thread's (below) are within them.
    message_partitions_ensure(since=timezone.now() - datetime.timedelta(days=60))
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement.replace("i % ", "i %% "), params)
    # The conversation summaries, as the data migration writes them for texts stored before them.
    import_module("messaging.migrations.0013_conversation_summary_backfill").backfill(apps, None)
    with connection.cursor() as cursor:
        for table in BIG_TABLES:
            cursor.execute(f"ANALYZE {table}")


def _unload() -> None:
    """Empty the loaded tables (and what points at them) in one statement: deleting row by row took
    longer than loading. Only this module's rows are committed: other tests roll theirs back or
    flush."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(sorted(BIG_TABLES))}, ops_outboxtally, ops_outboxdelta CASCADE")


@pytest.fixture(scope="module")
def big(django_db_setup, django_db_blocker) -> Iterator[dict[str, Any]]:
    """A large organization (committed, so every test of this module reads it), removed afterwards."""
    with django_db_blocker.unblock():
        org = OrganizationFactory(slug="plan-guard")
        facilities = [FacilityFactory(organization=org) for _ in range(5)]
        manager = MembershipFactory(organization=org, role=Membership.Role.MANAGER).user
        agent = MembershipFactory(organization=org, role=Membership.Role.AGENT).user
        _load(org.pk, [f.pk for f in facilities])
        outbox_tally_record()  # what beat keeps: /metrics exports it
        lead = Lead.objects.filter(organization=org).order_by("id")[RARE]
        customer = Customer.objects.filter(organization=org).order_by("id")[RARE]
        phone = PhoneNumber.objects.filter(lead=lead).get()
        world = {
            "org": org,
            "manager": manager,
            "agent": agent,
            "lead": lead,
            "customer": customer,
            "phone": phone,
            "history": History.objects.filter(lead=lead).first() or History.objects.filter(organization=org).first(),
            "message": Message.objects.filter(organization=org, lead=lead).first(),
        }
        yield world
        _unload()
        for membership in Membership.objects.filter(organization=org).select_related("user"):
            membership.user.delete()
        for facility in facilities:
            facility.delete()
        org.delete()


def _routes(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _concrete(route: str, name: str | None, world: dict[str, Any]) -> str:
    """A route with its parameters filled with the large organization's rows."""
    pk_for = {"customer_card": world["customer"].pk, "history_card": world["history"].pk}
    values = {
        "phone_id": str(world["phone"].pk),
        "message_id": str(world["message"].pk),
        "kind": "leads",
        "pk": str(pk_for.get(name or "", world["lead"].pk)),
        "format": "json",
    }
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "1"), route)
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values.get(m.group(1), "1"), route)
    route = re.sub(r"\\\.\(\?P<format>[^)]*\)", "", route)
    return "/" + route.lstrip("^").rstrip("$").replace("/?", "/").replace("\\", "")


def _pages(world: dict[str, Any]) -> list[str]:
    """Every GET route of the URLconf with its parameters filled, and the searches with what they search."""
    paths = sorted(
        {
            _concrete(route, pattern.name, world)
            for route, pattern in _routes(get_resolver().url_patterns)
            if not SKIPPED.search(route.lstrip("^")) and ".(?P<format>" not in route
        }
    )
    lead, phone = world["lead"], world["phone"]
    rare_word = "w" + __import__("hashlib").md5(f"w{RARE}".encode()).hexdigest()
    searches = [
        f"/?q={lead.last_name}",
        f"/?q={phone.number.as_e164[-7:]}",
        f"/?q={lead.first_name} {lead.last_name}",
        f"/inbox/?q={rare_word}",
        f"/inbox/?q={lead.last_name}",
        *(f"/inbox/?show={show}" for show in INBOX_SHOWS),
    ]
    return paths + searches


# Texts are partitioned by month on PostgreSQL (messaging/partitions.py): a plan names the month's
# partition and its index (``messaging_message_p2026_12``, ``message_org_created_p2026_12``). A
# partition without a text (the months ahead, a month with none, the DEFAULT partition, which /metrics
# watches) is read by a Seq Scan of nothing: the planner's right choice, not a scan.
PARTITION_SUFFIX = re.compile(r"_(p\d{4}_\d{2}|default)$")


def _unpartitioned(name: str | None) -> str | None:
    """The table or index a partition's belongs to (``message_org_created_p2026_12`` → ``message_org_created``)."""
    return PARTITION_SUFFIX.sub("", name) if name else name


def _empty_partition(plan: dict[str, Any]) -> bool:
    name = plan.get("Relation Name")
    if not name or _unpartitioned(name) == name:
        return False
    with connection.cursor() as cursor:  # no live row (a rolled-back test may have left dead pages)
        cursor.execute(f'SELECT NOT EXISTS (SELECT 1 FROM "{name}")')
        return cursor.fetchone()[0]


def _seq_scans(plan: dict[str, Any]) -> Iterator[str]:
    table = _unpartitioned(plan.get("Relation Name"))
    if plan.get("Node Type") == "Seq Scan" and table in BIG_TABLES and not _empty_partition(plan):
        yield plan["Relation Name"]
    for child in plan.get("Plans", ()):
        yield from _seq_scans(child)


def _explain(sql: str) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


def _scans_of(client: Client, path: str, **headers: str) -> list[str]:
    """The big tables ``path``'s queries read sequentially, with the query, as failure lines."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, **headers)
    assert response.status_code < 500, path
    found = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith(("SELECT", "WITH")) or not any(t in sql for t in BIG_TABLES):
            continue
        for table in _seq_scans(_explain(sql)):
            found.append(f"{path}: Seq Scan on {table}: {sql[:2000]}")
    return found


# Pages that still read every text of the organization, each with what it needs. The test holds
# this list exact: a page that starts scanning fails, and so does one listed here that stopped.
STILL_SCANNING: dict[str, str] = {}


@pytest.mark.parametrize("role", ["manager", "agent"])
def test_no_page_reads_texts_history_or_people_sequentially(big, role, db):
    client = Client()
    client.force_login(big[role])
    scanning: dict[str, list[str]] = {}
    for path in _pages(big):
        if found := _scans_of(client, path):
            scanning[path] = found
    unexpected = [line for path, lines in scanning.items() if path not in STILL_SCANNING for line in lines]
    assert not unexpected, "\n".join(unexpected)
    assert set(scanning) == set(STILL_SCANNING), f"no longer scanning: {set(STILL_SCANNING) - set(scanning)}"


# The organization's texts walked in order with a filter: the right plan only when the filter keeps
# many rows (a common word: newest first until enough match). A rare word and one person's thread
# have their own indexes (message_search; message_lead_created and the number indexes).
ORG_ORDER_INDEXES = frozenset({"message_org_created", "message_org_id", "message_org_updated"})


def _walks(plan: dict[str, Any]) -> Iterator[str]:
    walked = _unpartitioned(plan.get("Index Name")) in ORG_ORDER_INDEXES and not _empty_partition(plan)
    if walked and plan.get("Filter"):
        yield f"{plan['Node Type']} using {plan['Index Name']}, Filter: {plan['Filter']}"
    for child in plan.get("Plans", ()):
        yield from _walks(child)


def _plans_of(client: Client, path: str) -> list[tuple[str, dict[str, Any]]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, path
    return [
        (q["sql"], _explain(q["sql"]))
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(("SELECT", "WITH")) and "messaging_message" in q["sql"]
    ]


def _hot(world: dict[str, Any]) -> PhoneNumber:
    """A lead with a long thread (texts to and from their number), added to the large organization."""
    lead = Lead.objects.filter(organization=world["org"]).order_by("id")[RARE + 1]
    phone = PhoneNumber.objects.get(lead=lead)
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO messaging_message (direction, to_number, from_number, body, status, error_code,
                   error_message, segments, encoding, attempts, flagged_opt_out_request, created_at, updated_at,
                   organization_id, request_id, actor_name, flag_dismissed_note, flagged_as_spam, lead_id,
                   phone_number_id, media_count)
               SELECT CASE WHEN i %% 2 = 0 THEN 'inbound' ELSE 'outbound' END,
                      CASE WHEN i %% 2 = 0 THEN '+15125550100' ELSE %(number)s END,
                      CASE WHEN i %% 2 = 0 THEN %(number)s ELSE '+15125550100' END,
                      'About the gate code', 'delivered', '', '', 1, 'GSM-7', 1, false,
                      now() - i * interval '7 minutes', now(), %(org)s, '', '', '', false, %(lead)s, %(phone)s, 0
               FROM generate_series(1, 5000) AS i""",
            {"number": phone.number.as_e164, "org": world["org"].pk, "lead": lead.pk, "phone": phone.pk},
        )
        cursor.execute("ANALYZE messaging_message")
    return phone


def test_a_rare_word_and_a_long_thread_are_read_through_their_own_indexes(big, db):
    """Not by walking the organization's texts newest first: at 10 M texts that read every text for
    a word 169 of them hold (85 s), and 8,000 texts for a thread's 60 (bench/RESULTS.md "Scale")."""
    client = Client()
    client.force_login(big["agent"])
    phone = _hot(big)
    rare_word = "w" + __import__("hashlib").md5(f"w{RARE}".encode()).hexdigest()
    pages = [f"/inbox/?q={rare_word}", f"/text/panel/{phone.pk}/", f"/text/conversation/{phone.pk}/"]
    walking = [
        f"{path}: {walk}: {sql[:300]}"
        for path in pages
        for sql, plan in _plans_of(client, path)
        for walk in _walks(plan)
    ]
    assert not walking, "\n".join(walking)
    searched = [plan for sql, plan in _plans_of(client, pages[0]) if "@@" in sql and "EXPLAIN" not in sql]
    assert searched and all("message_search" in json.dumps(plan) for plan in searched)


def test_the_metrics_scrape_reads_no_table_end_to_end(big, db, settings):
    settings.METRICS_TOKEN = METRICS_TOKEN
    failures = _scans_of(Client(), "/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert not failures, "\n".join(failures)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def test_a_numbers_texts_counted_for_its_daily_cap_are_one_range_of_their_index(big, db):
    """Every capped send, the worker's claim, the panel header and the home list count a number's texts
    of the last 24 hours: one range of ``message_org_to_counted``, whatever the number's history. By
    ``message_org_to_created`` with the moment as a filter it read every text to the number (2,500
    here; 1,700 for the hot thread at 200 k texts, 2.1 ms against 0.09 ms)."""
    phone = _hot(big)
    with CaptureQueriesContext(connection) as captured:
        texts_counted(organization=big["org"], number=phone.number, until=timezone.now())
    (sql,) = [q["sql"] for q in captured.captured_queries]
    scans = [
        node
        for node in _nodes(_explain(sql))
        if _unpartitioned(node.get("Relation Name")) == "messaging_message" and not _empty_partition(node)
    ]
    # One range in each month's partition (no bound on created_at: a text scheduled months ahead counts
    # when it goes), each of the same index.
    assert scans and {_unpartitioned(node.get("Index Name")) for node in scans} == {"message_org_to_counted"}, scans
    assert all("COALESCE" in node["Index Cond"] for node in scans), scans  # the time bounds the range, not a filter
