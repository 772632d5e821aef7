"""/metrics: protected from the public, counting texts from the outbox and timing the webhooks."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging.models import Message
from ops.services import heartbeat_record
from ops.tasks import outbox_tally as outbox_tally_task
from tests.factories import MessageFactory

pytestmark = pytest.mark.django_db

CLUSTER = '{scope="cluster"}'


def _value(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, flags=re.MULTILINE)
    assert match, f"{name}{labels} not in\n{text}"
    return float(match.group(1))


def test_metrics_do_not_exist_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics").status_code == 404


def test_metrics_refuse_a_missing_or_wrong_token(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_metrics_count_texts_by_outcome_and_show_the_heartbeat_age(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    now = timezone.now()
    MessageFactory(status=Message.Status.QUEUED, queued_at=now)
    MessageFactory(status=Message.Status.DELIVERED, queued_at=now, sent_at=now, delivered_at=now)
    MessageFactory(status=Message.Status.SENT, queued_at=now, sent_at=now)
    MessageFactory(status=Message.Status.FAILED, queued_at=now, error_code="21211", failed_at=now)
    MessageFactory(status=Message.Status.UNDELIVERED, queued_at=now, sent_at=now, error_code="30007", failed_at=now)
    heartbeat_record()

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token", HTTP_HOST="10.0.0.7:8000")

    assert response.status_code == 200
    text = response.content.decode()
    assert _value(text, "textdesk_texts_queued_total", CLUSTER) == 5
    assert _value(text, "textdesk_texts_sent_total", CLUSTER) == 3
    assert _value(text, "textdesk_texts_failed_total", '{reason="21211",scope="cluster"}') == 1
    assert _value(text, "textdesk_texts_failed_total", '{reason="30007",scope="cluster"}') == 1
    assert _value(text, "textdesk_texts", '{scope="cluster",status="queued"}') == 1
    assert _value(text, "textdesk_oldest_queued_text_age_seconds") >= 0
    assert _value(text, "textdesk_beat_heartbeat_age_seconds") < 5


def test_a_scrape_reads_the_periodic_tally_and_never_counts_the_outbox_itself(client, settings):
    """Counting every outbound text at each scrape, in every web container, grows with the outbox:
    the totals come from ops.tasks.outbox_tally, run once for the cluster."""
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    now = timezone.now()
    MessageFactory(status=Message.Status.SENT, queued_at=now, sent_at=now)
    outbox_tally_task.apply()
    MessageFactory(status=Message.Status.SENT, queued_at=now, sent_at=now)  # after the count

    with CaptureQueriesContext(connection) as scrape:
        text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").content.decode()

    assert not [q["sql"] for q in scrape.captured_queries if "COUNT(" in q["sql"].upper()]
    assert _value(text, "textdesk_texts_sent_total", CLUSTER) == 1
    assert _value(text, "textdesk_outbox_tally_age_seconds") < 60
    outbox_tally_task.apply()
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").content.decode()
    assert _value(text, "textdesk_texts_sent_total", CLUSTER) == 2


def test_metrics_show_the_broker_queue_depth(client, settings):
    import redis

    settings.METRICS_TOKEN = "t"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.delete("celery")
    broker.rpush("celery", "a", "b", "c")
    try:
        text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    finally:
        broker.delete("celery")
        broker.close()

    assert _value(text, "textdesk_queue_depth") == 3


def test_webhook_answers_are_timed(client, settings):
    settings.METRICS_TOKEN = "t"
    label = '{endpoint="twilio_status"}'
    before = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    start = _value(before, "textdesk_webhook_seconds_count", label) if label in before else 0

    refused = client.post("/webhooks/twilio/status/", {"MessageSid": "SMx", "MessageStatus": "delivered"})
    after = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()

    assert refused.status_code == 403  # unsigned: timed all the same
    assert _value(after, "textdesk_webhook_seconds_count", label) == start + 1
