"""Word search in texts: the newest matches whatever plan reads them, and a plan over its time is cancelled."""

from __future__ import annotations

import datetime

import pytest
from django.db import DEFAULT_DB_ALIAS, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import search
from messaging.models import Message
from messaging.selectors.inbox import message_body_search
from tests.factories import MessageFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def texts(org):
    """120 texts a minute apart: all say "unit", one in forty says "kumquat"; another organization's too."""
    phone = PhoneNumberFactory(organization=org)
    now = timezone.now()
    made = []
    for i in range(120):
        body = f"Your unit {i} is ready" + (" with a kumquat" if i % 40 == 7 else "")
        made.append(MessageFactory(phone_number=phone, body=body))
        Message.objects.filter(pk=made[-1].pk).update(created_at=now - datetime.timedelta(minutes=i))
    MessageFactory(body="A kumquat and a unit elsewhere")  # another organization's
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE messaging_message")
    return made


def _newest(org, word: str, n: int) -> list[int]:
    matching = Message.objects.filter(organization=org, body__icontains=word).order_by("-created_at", "-id")
    return list(matching.values_list("pk", flat=True)[:n])


@pytest.mark.parametrize("word", ["kumquat", "unit"])
def test_the_search_finds_the_newest_matches_of_the_organization_only(org, texts, word):
    found = list(message_body_search(organization=org, query=word, newest=5).values_list("pk", flat=True))

    assert found == _newest(org, word, 5)


@pytest.mark.postgres(reason="the plan is chosen from PostgreSQL's estimate")
def test_a_rare_word_is_read_from_the_index_first_and_a_common_one_newest_first(org, texts):
    def first_plan(word: str) -> str:
        with CaptureQueriesContext(connection) as captured:
            list(message_body_search(organization=org, query=word, newest=5))
        return next(q["sql"] for q in captured.captured_queries if "@@" in q["sql"] and "EXPLAIN" not in q["sql"])

    assert "MATERIALIZED" in first_plan("kumquat")
    assert "MATERIALIZED" not in first_plan("unit")


@pytest.mark.postgres(reason="statement_timeout is PostgreSQL's")
def test_a_plan_over_its_time_is_cancelled_and_the_limit_does_not_outlive_it():
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        before = cursor.fetchone()[0]

    assert search._ids_within("SELECT 1 FROM pg_sleep(0.5)", [], budget_ms=20, using=DEFAULT_DB_ALIAS) is None
    assert search._ids_within("SELECT 7", [], budget_ms=20, using=DEFAULT_DB_ALIAS) == [7]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_sleep(0.05)")  # would be cancelled if the limit had stayed
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == before


@pytest.mark.postgres(reason="statement_timeout is PostgreSQL's")
def test_when_the_chosen_plan_runs_out_of_time_the_other_one_answers(org, texts, monkeypatch):
    monkeypatch.setattr(search, "SEARCH_BUDGET_MS", 1)
    real = search._ids_within
    cancelled = []

    def slow_first(sql, params, *, budget_ms, using):
        cancelled.append(sql)
        return real("SELECT 1 FROM pg_sleep(0.2)", [], budget_ms=budget_ms, using=using)

    monkeypatch.setattr(search, "_ids_within", slow_first)

    found = list(message_body_search(organization=org, query="kumquat", newest=5).values_list("pk", flat=True))

    assert cancelled and found == _newest(org, "kumquat", 5)
