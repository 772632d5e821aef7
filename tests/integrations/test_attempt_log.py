"""Every attempt of a delivery is logged (time, status code or error, duration, a bounded excerpt of the
answer without secrets), shown in the API and admin, and the history is purged after the retention window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from integrations.services import delivery_attempt, endpoint_create, event_publish, webhook_history_purge

pytestmark = pytest.mark.django_db


def _publish(org, object_id: int = 1):
    return event_publish(organization_id=org.pk, type="message.queued", object_type="message",
                         object_id=object_id, data=lambda: {"id": object_id})  # fmt: skip


def test_every_attempt_is_logged_with_its_answer_and_duration(receiver, org):
    endpoint = endpoint_create(organization=org, url=receiver.url, events=["message.queued"])
    receiver.answers = [500, 503]
    _publish(org)
    delivery = WebhookDelivery.objects.get()
    start = timezone.now()

    outcomes = [delivery_attempt(delivery_id=delivery.pk, now=start + timedelta(hours=i)) for i in range(3)]

    assert outcomes == ["retry", "retry", "succeeded"]
    log = list(delivery.attempt_log.order_by("id"))
    assert [a.status_code for a in log] == [500, 503, 200]
    assert [a.error for a in log] == ["HTTP 500", "HTTP 503", ""]
    assert [a.response_excerpt for a in log] == ["receiver is down", "receiver is down", "ok"]
    assert [a.attempted_at for a in log] == [start + timedelta(hours=i) for i in range(3)]
    assert all(0 <= a.duration_ms < 10_000 for a in log)
    assert {a.organization_id for a in log} == {org.pk} and endpoint.pk


def test_an_attempt_without_answer_is_logged_with_the_reason(org):
    endpoint_create(organization=org, url="http://127.0.0.1:9/nobody-listens", events=["message.queued"])
    _publish(org)

    delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)

    [attempt] = WebhookAttempt.objects.all()
    assert attempt.status_code is None
    assert attempt.error.startswith("No answer")


def test_the_excerpt_is_bounded_and_never_holds_the_signing_secret(receiver, org):
    endpoint = endpoint_create(organization=org, url=receiver.url, events=["message.queued"])
    receiver.reply = f"configured with {endpoint.secret} and {endpoint.secret.removeprefix('whsec_')} ".encode()
    receiver.reply += b"x" * 5000
    _publish(org)

    delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)

    [attempt] = WebhookAttempt.objects.all()
    assert len(attempt.response_excerpt) == 1024
    assert attempt.response_excerpt.startswith("configured with [secret removed] and [secret removed] xxx")
    assert endpoint.secret.removeprefix("whsec_") not in attempt.response_excerpt
    delivery = WebhookDelivery.objects.get()
    assert len(delivery.last_response) == 500 and "[secret removed]" in delivery.last_response


def test_the_api_lists_an_endpoints_deliveries_with_their_attempts_in_keyset_pages(receiver, org, manager_api):
    endpoint = endpoint_create(organization=org, url=receiver.url, events=["message.queued"])
    other = endpoint_create(organization=org, url=receiver.url + "/other", events=["message.queued"])
    receiver.answers = [500]
    for object_id in (1, 2, 3):
        _publish(org, object_id)
    for delivery in WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id"):
        delivery_attempt(delivery_id=delivery.pk)
    first_delivery = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id").first()
    delivery_attempt(delivery_id=first_delivery.pk, now=timezone.now() + timedelta(hours=1))

    page1 = manager_api.get(f"/api/v1/webhook-endpoints/{endpoint.pk}/deliveries/?page_size=2").json()
    page2 = manager_api.get(page1["next"]).json()
    failed_only = manager_api.get(f"/api/v1/webhook-endpoints/{endpoint.pk}/deliveries/?status=failed").json()
    unknown = manager_api.get(f"/api/v1/webhook-endpoints/{endpoint.pk}/deliveries/?active=true")

    rows = page1["results"] + page2["results"]
    assert page2["next"] is None
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)  # newest first
    assert {r["endpoint"] for r in rows} == {endpoint.pk} and other.pk
    oldest = rows[-1]
    assert [a["status_code"] for a in oldest["attempt_log"]] == [200, 500]  # newest first
    assert set(oldest["attempt_log"][0]) == {"id", "attempted_at", "status_code", "error", "duration_ms",
                                             "response_excerpt"}  # fmt: skip
    assert oldest["payload"] == {**oldest["payload"], "type": "message.queued", "data": {"id": 1}}
    assert failed_only["results"] == []
    assert unknown.status_code == 400


def test_the_admin_shows_a_deliverys_attempts(receiver, org, manager_client):
    endpoint_create(organization=org, url=receiver.url, events=["message.queued"])
    receiver.answers = [502]
    _publish(org)
    delivery = WebhookDelivery.objects.get()
    delivery_attempt(delivery_id=delivery.pk)

    page = manager_client.get(reverse("admin:integrations_webhookdelivery_change", args=[delivery.pk]))
    attempts = manager_client.get(reverse("admin:integrations_webhookattempt_changelist"))

    assert page.status_code == 200
    assert "receiver is down" in page.content.decode() and "502" in page.content.decode()
    assert attempts.status_code == 200 and "502" in attempts.content.decode()


def _aged(org, receiver, *, days: int, answer: int, object_id: int) -> WebhookDelivery:
    """A delivery made ``days`` ago and attempted then, answered ``answer``."""
    then = timezone.now() - timedelta(days=days)
    receiver.answers = [answer]
    event = _publish(org, object_id)
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery_attempt(delivery_id=delivery.pk) in ("succeeded", "retry")
    WebhookAttempt.objects.filter(delivery=delivery).update(attempted_at=then)
    WebhookEvent.objects.filter(pk=event.pk).update(created_at=then)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=then)
    return delivery


def test_the_purge_forgets_history_older_than_the_window_in_batches(receiver, org, settings):
    settings.WEBHOOK_RETENTION_DAYS = 30
    endpoint_create(organization=org, url=receiver.url, events=["message.queued"])
    old_done = [_aged(org, receiver, days=31, answer=200, object_id=i) for i in range(1, 6)]
    old_pending = _aged(org, receiver, days=40, answer=500, object_id=10)  # waits (endpoint switched off later)
    recent = _aged(org, receiver, days=29, answer=200, object_id=11)

    gone = webhook_history_purge(batch_size=2)

    assert gone == {"attempts": 6, "deliveries": 5, "events": 5}
    assert not WebhookDelivery.objects.filter(pk__in=[d.pk for d in old_done]).exists()
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {old_pending.pk, recent.pk}
    assert WebhookEvent.objects.filter(pk=old_pending.event_id).exists()
    assert list(WebhookAttempt.objects.values_list("delivery_id", flat=True)) == [recent.pk]
    assert webhook_history_purge(batch_size=2) == {"attempts": 0, "deliveries": 0, "events": 0}


def test_the_retention_is_a_setting(receiver, org, settings):
    endpoint_create(organization=org, url=receiver.url, events=["message.queued"])
    _aged(org, receiver, days=8, answer=200, object_id=1)

    settings.WEBHOOK_RETENTION_DAYS = 30
    kept = webhook_history_purge()
    settings.WEBHOOK_RETENTION_DAYS = 7
    purged = webhook_history_purge()

    assert kept == {"attempts": 0, "deliveries": 0, "events": 0}
    assert purged == {"attempts": 1, "deliveries": 1, "events": 1}


def test_the_purge_runs_on_the_beat_schedule(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "integrations.tasks.purge_webhook_history" in tasks
