"""Reads that may lag (core/replica.py, config/db_router.py), in this process, on both databases.

Which reads are marked: every query a request runs is recorded with where the router would send
it were a replica configured (``replica.lagging_read_alias``, read at the moment the query runs).
The inbox, its unread count, the home search, API lists and the consent feed, the consent export and the
metrics scrape
read what may lag; cards, details, writes, sign-in and permissions never do. The real streaming
replica, the router and read-your-writes across processes: tests/test_replica_streaming.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.utils import load_backend
from django.utils import timezone

from config.db_router import ReplicaRouter
from core import replica
from core.fastsql import insert
from interactions.models import History, Lead, Organization
from messaging.models import Message
from tests.factories import LeadFactory

ROOT = Path(__file__).resolve().parents[2]


class LagRecorder:
    """Each statement run on the primary's connection, by where a configured replica router would read it."""

    def __init__(self) -> None:
        self.lagging: list[str] = []
        self.primary: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        (self.lagging if replica.lagging_read_alias() == replica.REPLICA else self.primary).append(sql)
        return execute(sql, params, many, context)


def _recorded(client, method: str, path: str, **kwargs) -> LagRecorder:
    recorder = LagRecorder()
    with connection.execute_wrapper(recorder):
        response = getattr(client, method)(path, **kwargs)
    assert response.status_code < 400, (path, response.status_code)
    return recorder


def _tables(statements: list[str]) -> str:
    return " ".join(statements)


@pytest.fixture
def inbox_thread(consented_number):
    lead = consented_number.lead
    Message.objects.create(
        organization=lead.organization,
        lead=lead,
        phone_number=consented_number,
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        from_number=consented_number.number,
        to_number="+15125550100",
        body="Is the 10x10 still free?",
    )
    return lead


# transactional_db: no transaction is open around the request, as in production (inside one, every
# read is the primary's, which the last test holds).
def test_the_inbox_the_home_search_and_the_metrics_scrape_read_what_may_lag(
    transactional_db, org, manager_client, inbox_thread, settings
):
    settings.METRICS_TOKEN = "scrape-token"
    for path in ("/inbox/", "/inbox/?q=Hello", "/inbox/unread/", f"/?q={inbox_thread.last_name}"):
        recorder = _recorded(manager_client, "get", path)
        assert "messaging_message" in _tables(recorder.lagging) or "interactions_lead" in _tables(recorder.lagging)
        # who is signed in, and in which organization, is the primary's word
        assert "django_session" not in _tables(recorder.lagging), path
    scrape = _recorded(manager_client, "get", "/metrics", HTTP_AUTHORIZATION="Bearer scrape-token")
    assert "messaging_message" in _tables(scrape.lagging)


def test_cards_and_the_panel_read_the_primary(transactional_db, manager_client, inbox_thread, consented_number):
    for path in (f"/leads/{inbox_thread.pk}/", f"/text/panel/{consented_number.pk}/"):
        recorder = _recorded(manager_client, "get", path)
        assert recorder.primary and not recorder.lagging, path


def test_api_lists_and_the_consent_export_read_what_may_lag_details_and_writes_do_not(
    transactional_db, manager_client, inbox_thread, consented_number
):
    listed = _recorded(manager_client, "get", "/api/v1/leads/")
    assert "interactions_lead" in _tables(listed.lagging)
    assert "django_session" not in _tables(listed.lagging)  # authentication ran before the list's reads
    messages = _recorded(manager_client, "get", "/api/v1/messages/")
    assert "messaging_message" in _tables(messages.lagging)
    feed = _recorded(manager_client, "get", "/api/v1/consent-events/")
    assert "interactions_consentevent" in _tables(feed.lagging)
    export = _recorded(manager_client, "get", f"/phone-numbers/{consented_number.pk}/consent-evidence/?format=csv")
    assert "interactions_consentevent" in _tables(export.lagging)

    detail = _recorded(manager_client, "get", f"/api/v1/leads/{inbox_thread.pk}/")
    assert detail.primary and not detail.lagging
    created = _recorded(
        manager_client,
        "post",
        "/api/v1/leads/",
        data={"first_name": "Ada", "last_name": "Quill", "facility": inbox_thread.facility_id},
        content_type="application/json",
    )
    assert created.primary and not created.lagging


@pytest.fixture
def stand_in_replica(transactional_db, settings, monkeypatch):
    """A second connection to the suite's own database, in the replica's place and routed as it is.

    Same rows as the primary (committed: ``transactional_db``), so every page answers as before; what
    changes is the connection each statement runs on, which a recorder on each shows. Made here, not
    declared in ``DATABASES`` (the test process has one database: config/settings_test.py).
    """
    stand_in = load_backend(connection.settings_dict["ENGINE"]).DatabaseWrapper(
        {**connection.settings_dict}, replica.REPLICA
    )
    connections[replica.REPLICA] = stand_in
    monkeypatch.setattr(replica, "configured", lambda: True)  # as with DATABASE_REPLICA_URL set
    settings.DATABASE_ROUTERS = ["config.db_router.ReplicaRouter"]
    try:
        yield stand_in
    finally:
        stand_in.close()
        del connections[replica.REPLICA]


def test_the_inbox_search_plans_and_reads_its_matches_on_the_replica(stand_in_replica, manager_client, inbox_thread):
    """core.search's own SQL (the plan estimate on PostgreSQL, the matching texts) goes where the router
    sends the inbox's other reads: a bare ``connection.cursor()`` would run it on the primary."""
    on_primary, on_replica = [], []
    with (
        connection.execute_wrapper(lambda execute, sql, *args: on_primary.append(sql) or execute(sql, *args)),
        stand_in_replica.execute_wrapper(lambda execute, sql, *args: on_replica.append(sql) or execute(sql, *args)),
    ):
        response = manager_client.get("/inbox/?q=free")

    assert response.status_code == 200 and inbox_thread.last_name in response.content.decode()
    searched = [sql for sql in on_replica if "messaging_message" in sql and ("@@" in sql or "LIKE" in sql)]
    assert searched, on_replica
    if connection.vendor == "postgresql":
        assert any(sql.startswith("EXPLAIN") for sql in on_replica)  # the plan check
    assert not [sql for sql in on_primary if "messaging_message" in sql], on_primary


def test_a_marked_read_goes_to_the_replica_unless_pinned_or_inside_a_transaction(transactional_db):
    assert replica.lagging_read_alias() == DEFAULT_DB_ALIAS  # not marked
    with replica.replica_ok():
        assert replica.lagging_read_alias() == replica.REPLICA
        with replica.primary_pinned():
            assert replica.lagging_read_alias() == DEFAULT_DB_ALIAS
        assert replica.lagging_read_alias() == replica.REPLICA
        with transaction.atomic():
            assert replica.lagging_read_alias() == DEFAULT_DB_ALIAS
    assert replica.lagging_read_alias() == DEFAULT_DB_ALIAS

    @replica.replica_ok()
    def marked() -> str:
        return replica.lagging_read_alias()

    assert [marked(), marked()] == [replica.REPLICA, replica.REPLICA]  # entered afresh on each call
    assert replica.lagging_read_alias() == DEFAULT_DB_ALIAS


def test_without_a_replica_nothing_is_routed_and_nobody_is_marked(db, agent_client, inbox_thread):
    router = ReplicaRouter()
    with replica.replica_ok():
        assert replica.read_alias() is None and router.db_for_read(Lead) is None
    assert router.db_for_write(Lead) == DEFAULT_DB_ALIAS
    response = agent_client.post(
        f"/inbox/lead/{inbox_thread.pk}/assign/", {"assigned_to": agent_client.session["_auth_user_id"]}
    )
    assert response.status_code == 302
    assert "textdesk_wrote" not in response.cookies


def test_statements_that_change_rows_are_writes_and_reads_are_not(db, org, facility):
    lead, doomed = LeadFactory(facility=facility), LeadFactory(facility=facility)
    reads = [
        lambda: list(Organization.objects.filter(pk=org.pk)),
        lambda: Lead.objects.filter(organization=org).count(),
        lambda: Lead.objects.filter(organization=org).exists(),
        lambda: Lead.objects.get_or_create(pk=lead.pk, defaults={"organization": org}),
        lambda: list(connection.cursor().execute("WITH x AS (SELECT 1 AS one) SELECT one FROM x")),
    ]
    writes = [
        lambda: LeadFactory(facility=facility),
        lambda: Lead.objects.filter(pk=lead.pk).update(first_name="Updated"),
        lambda: Lead.objects.filter(pk=doomed.pk).delete(),
        lambda: insert(History(organization=org, lead=lead, kind="note", summary="note", occurred_at=timezone.now())),
        lambda: Lead.objects.bulk_create([Lead(organization=org, facility=facility, first_name="Bulk")]),
    ]
    with transaction.atomic():
        with replica.writes_watched() as watch:
            list(Lead.objects.select_for_update().filter(pk=lead.pk))  # a lock, not a write
        assert not watch.wrote
    for read in reads:
        with replica.writes_watched() as watch:
            read()
        assert not watch.wrote
    for write in writes:
        with replica.writes_watched() as watch:
            write()
        assert watch.wrote


_PRINT_DATABASES = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'databases': s.DATABASES, 'routers': s.DATABASE_ROUTERS}, default=str))"
)


@pytest.mark.parametrize("replica_url", ["", "postgres://reader@replica.internal:5432/textdesk"])
def test_a_replica_is_configured_only_by_its_url_and_pooled_like_the_primary(replica_url):
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": "postgres://textdesk@primary.internal:5432/textdesk",
        "DATABASE_REPLICA_URL": replica_url,
    }
    result = subprocess.run(
        [sys.executable, "-c", _PRINT_DATABASES], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    if not replica_url:
        assert list(printed["databases"]) == ["default"] and printed["routers"] == []
        return
    primary, copy = printed["databases"]["default"], printed["databases"]["replica"]
    assert copy["HOST"] == "replica.internal" and copy["USER"] == "reader"
    assert copy["OPTIONS"] == primary["OPTIONS"]  # the same pool and prepared statements
    assert copy["TEST"]["MIRROR"] == "default"
    assert printed["routers"] == ["config.db_router.ReplicaRouter"]
