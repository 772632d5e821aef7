"""Fault injection in the suite (the small version of ``make chaos``; bench/chaos.py).

300 texts flow to two real Celery worker processes while one worker is SIGKILLed, the
Twilio-compatible server answers 500 and 429 and answers late (the worker times out), and
PostgreSQL drops the workers' connections. Afterwards every text is delivered (the provider's
receipts applied) or needs reconciliation, the provider accepted each exactly once, and none is
lost. Redis is not restarted here: the suite's Redis is shared; ``make chaos`` restarts a
private one.
"""

from __future__ import annotations

import pytest
import redis
from django.db import connection

from bench.chaos import CHAOS_SETTINGS, chaos_run
from bench.data import bench_org_create
from bench.rig import ACCOUNT_SID, AUTH_TOKEN, Rig

pytestmark = [
    pytest.mark.worker,
    pytest.mark.chaos,
    pytest.mark.postgres(reason="fault injection drops PostgreSQL connections under real worker processes"),
]


def _database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def rig(transactional_db, settings):
    from config.celery import app

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery", "unacked", "unacked_index", "unacked_mutex")  # nothing left over reaches the workers
    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    rig = Rig(redis_url=settings.CELERY_BROKER_URL, database_url=_database_url(), settings_module="config.settings")
    rig.start()
    # This process plays Celery beat (the sweepers) with the workers' settings.
    for name, value in CHAOS_SETTINGS.items():
        setattr(settings, name, float(value) if "." in value else int(value))
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_BASE_URL = rig.twilio.url
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT_SID, AUTH_TOKEN
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    yield rig
    rig.stop()
    app.conf.task_always_eager = was_eager
    broker.delete("celery", "unacked", "unacked_index", "unacked_mutex")
    broker.close()


def test_no_text_is_lost_or_sent_twice_through_worker_provider_and_database_faults(rig):
    org = bench_org_create(people=100, facilities=5, slug="chaos", sender_start=7000)

    report = chaos_run(
        rig, org, count=300, batches=5, processes=2, concurrency=8, restart_redis=False, settle_timeout=45
    )

    assert report.committed == 300
    assert report.duplicates == 0, report.table()
    assert report.lost == 0, report.table()
    assert report.sent_unrecorded == 0, report.table()
    assert report.statuses["delivered"] + report.statuses["needs_reconciliation"] == 300, report.table()
    assert report.provider_accepted == report.statuses["delivered"], report.table()
    # The faults did happen: refused and late provider answers, so some texts needed another attempt.
    assert report.provider_requests > report.provider_accepted
    assert report.retried > 0
