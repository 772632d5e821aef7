"""/metrics from the exporters: HTTP requests (django-prometheus), Celery tasks (Celery's signals) and the
webhook backlog (counted once for the cluster); each adds up to what happened."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import shared_task
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from integrations.models import WebhookDelivery, WebhookOutbox
from integrations.services import endpoint_create, endpoint_update, event_publish
from ops.tasks import beat_heartbeat
from ops.tasks import outbox_tally as tally_task
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db


def _scrape(client) -> dict[tuple[str, frozenset], float]:
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _get(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = "t"
    return lambda: _scrape(client)


def test_http_requests_are_counted_and_timed_by_view_and_method(scrape, manager):
    api = token_client(manager)
    before = scrape()

    for _ in range(3):
        assert api.get("/api/v1/templates/").status_code == 200
    assert api.post("/api/v1/templates/", {"name": ""}, format="json").status_code == 400
    after = scrape()

    view = {"view": "api-template-list"}
    gets = {**view, "method": "GET"}
    counted = "django_http_requests_total_by_view_transport_method_total"
    assert _get(after, counted, **gets, transport="http") - _get(before, counted, **gets, transport="http") == 3
    timed = "django_http_requests_latency_seconds_by_view_method_count"
    assert _get(after, timed, **gets) - _get(before, timed, **gets) == 3
    by_status = "django_http_responses_total_by_status_view_method_total"
    posts = {**view, "method": "POST", "status": "400"}
    assert _get(after, by_status, **posts) - _get(before, by_status, **posts) == 1


@shared_task
def refuse_to_work() -> None:
    raise RuntimeError("this task always fails")


def test_celery_tasks_are_counted_by_outcome_and_timed(scrape):
    before = scrape()

    for _ in range(4):
        beat_heartbeat.delay()
    # As a worker runs it (an eager .delay() re-raises before Celery's failure signal).
    assert refuse_to_work.apply(throw=False).failed()
    after = scrape()

    def delta(name: str, **labels: str) -> float:
        return _get(after, name, **labels) - _get(before, name, **labels)

    beat, failing = "ops.tasks.beat_heartbeat", f"{__name__}.refuse_to_work"
    assert delta("textdesk_celery_tasks_total", task=beat, outcome="succeeded") == 4
    assert delta("textdesk_celery_task_seconds_count", task=beat) == 4
    assert delta("textdesk_celery_tasks_total", task=failing, outcome="failed") == 1
    assert delta("textdesk_celery_tasks_total", task=failing, outcome="succeeded") == 0
    assert delta("textdesk_celery_task_seconds_count", task=failing) == 1


def test_the_webhook_backlog_is_counted_once_for_the_cluster_and_adds_up(scrape, org, other_org):
    active = endpoint_create(organization=org, url="http://127.0.0.1:9/a", events=["message.queued"])
    parked = endpoint_create(organization=other_org, url="http://127.0.0.1:9/b", events=["message.queued"])
    for organization, object_id in ((org, 1), (org, 2), (other_org, 3)):
        event_publish(organization_id=organization.pk, type="message.queued", object_type="message",
                      object_id=object_id, data=lambda: {"id": 1})  # fmt: skip
    endpoint_update(endpoint=parked, active=False)
    oldest = WebhookDelivery.objects.filter(endpoint=active).order_by("id").first()
    WebhookDelivery.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    WebhookDelivery.objects.filter(endpoint=active).exclude(pk=oldest.pk).update(status="succeeded")
    event_publish(organization_id=org.pk, type="message.queued", object_type="message", object_id=4,
                  data=lambda: {"id": 4})  # fmt: skip

    tally_task.delay()
    with CaptureQueriesContext(connection) as queries:
        samples = scrape()

    cluster = {"scope": "cluster"}
    assert _get(samples, "textdesk_webhook_deliveries_pending", **cluster, endpoint="active") == 2
    assert _get(samples, "textdesk_webhook_deliveries_pending", **cluster, endpoint="switched_off") == 1
    age = _get(samples, "textdesk_webhook_oldest_pending_age_seconds", **cluster)
    assert 600 <= age < 700
    assert not [q["sql"] for q in queries if "integrations_webhookdelivery" in q["sql"]], "a scrape counted itself"
    assert _get(samples, "textdesk_webhook_events_to_make", **cluster) == 0  # each event above was made at once


def test_events_recorded_and_not_made_yet_are_counted_with_the_oldest_ones_age(scrape, org):
    endpoint_create(organization=org, url="http://127.0.0.1:9/a", events=["consent.granted"])
    for n in range(2):  # recorded with no webhooks worker to make them
        WebhookOutbox.objects.create(
            organization=org, type="consent.granted", object_type="consent", object_id=f"+1512555010{n}",
            data={"number": f"+1512555010{n}"}, at=timezone.now() - timedelta(minutes=5 - n),
        )  # fmt: skip

    tally_task.delay()
    samples = scrape()

    assert _get(samples, "textdesk_webhook_events_to_make", scope="cluster") == 2
    assert 300 <= _get(samples, "textdesk_webhook_oldest_event_to_make_age_seconds", scope="cluster") < 400
