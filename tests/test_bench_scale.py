"""The scale benchmark's generator and measurement (bench/scale_data.py, bench/scale.py).

``make bench-scale`` builds millions of rows and never runs in the suite; here the generator's
schema knowledge is checked against the models, and the generator and every measured page run
at a tiny size, so the bench cannot rot between runs.
"""

from __future__ import annotations

import phonenumbers
import pytest
from django.db import connection, models

from bench import scale, scale_data
from bench.scale_data import Sizes

TINY = Sizes(texts=2_000, people=200, facilities=3, history=400)


def _insertable_columns(model: type[models.Model]) -> dict[str, models.Field]:
    return {f.column: f for f in model._meta.concrete_fields if not isinstance(f, models.GeneratedField)}


def test_the_generator_fills_every_not_null_column_of_the_tables_it_loads():
    """From the models' _meta: a new NOT NULL column (without a database default) must be given a
    value by the generator, and a column the generator names must still exist."""
    tables = scale_data.columns(Sizes())
    assert set(tables) == set(scale_data.LOAD_ORDER)
    for table, model in scale_data.loaded_models().items():
        given = set(tables[table][0])
        columns = _insertable_columns(model)
        required = {c for c, f in columns.items() if not f.null and f.db_default is models.NOT_PROVIDED}
        assert required <= given, f"{table}: the generator leaves {sorted(required - given)} empty"
        assert given <= set(columns), f"{table}: the generator names unknown columns {sorted(given - set(columns))}"


@pytest.fixture
def scale_settings(settings):
    settings.ROOT_URLCONF = "bench.urls"  # the bare baseline endpoint is measured beside the send API
    settings.METRICS_TOKEN = scale.METRICS_TOKEN
    settings.TEXTING_LAW_WINDOWS_OFF_FOR_TESTS = True  # the bench sends at any hour
    return settings


@pytest.mark.postgres(reason="the generator is PostgreSQL SQL (generate_series, DISABLE TRIGGER, VACUUM)")
def test_the_generator_builds_a_consistent_organization_and_every_page_answers(transactional_db, scale_settings):
    from interactions.models import ConsentEvent, History, Lead, PhoneNumber
    from messaging.models import Message
    from messaging.partitions import default_partition_used

    scale_data.build(TINY, log=lambda line: None)
    try:
        assert Message.objects.count() == TINY.texts
        assert History.objects.count() == TINY.history
        assert Lead.objects.count() == TINY.leads
        assert scale_data.built_sizes() == TINY
        numbers = list(PhoneNumber.objects.values_list("number", flat=True))
        assert len(set(numbers)) == TINY.people
        assert all(phonenumbers.is_valid_number(n) for n in numbers)
        # Consent was granted before the first text; a few hot threads, many short ones.
        first_text = Message.objects.order_by("created_at").values_list("created_at", flat=True)[0]
        assert not ConsentEvent.objects.filter(action="grant", created_at__gte=first_text).exists()
        per_person = sorted(
            (row["n"] for row in Message.objects.values("phone_number").annotate(n=models.Count("id"))), reverse=True
        )
        assert per_person[0] > 10 * per_person[len(per_person) // 2]
        assert Message.objects.filter(body__contains=scale_data.RARE_WORDS[0]).count() < TINY.texts // 100
        assert Message.objects.filter(body__contains=scale_data.COMMON_WORD).count() > TINY.texts // 10
        # Texts are partitioned by month: the builder made its year's partitions (none in DEFAULT), and
        # the SIDs it loaded with triggers off are in the table that keeps them unique.
        assert default_partition_used() is False
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM messaging_message_sid")
            assert cursor.fetchone()[0] == Message.objects.filter(provider_sid__isnull=False).count() > 0

        results = scale.measure(TINY, reps=1)
        failed = [(r["name"], r["status"]) for r in results if r["status"] not in (0, 200, 201, 204)]
        assert not failed
        assert {r["role"] for r in results} == {"agent", "manager", "integrator", "twilio", "operator"}
        plans = scale.explain(results, top=2)
        assert all("actual time" in p["plan"] for p in plans), plans
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_scale_build")
