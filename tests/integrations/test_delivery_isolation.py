"""Webhook delivery can't hold up texting: the backoff holds whatever asks, the sweep hands a
delivery out once, the POST holds no lock, and a revocation never waits behind other events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import WebhookDelivery
from integrations.services import deliveries_due, delivery_attempt, endpoint_create, event_publish

pytestmark = pytest.mark.django_db


def _publish(org, object_id: int = 1, type: str = "message.queued", object_type: str = "message"):
    return event_publish(organization_id=org.pk, type=type, object_type=object_type, object_id=object_id,
                         data=lambda: {"id": object_id})  # fmt: skip


@pytest.fixture
def failing(receiver, org):
    receiver.always = 500
    return endpoint_create(organization=org, url=receiver.url, events=["message.queued", "consent.granted",
                                                                        "consent.revoked"])  # fmt: skip


def test_a_duplicate_task_after_a_failure_waits_for_the_backoff(failing, org, receiver):
    _publish(org)
    delivery = WebhookDelivery.objects.get()

    assert delivery_attempt(delivery_id=delivery.pk) == "retry"
    assert delivery_attempt(delivery_id=delivery.pk) == "not_due"  # the same task delivered twice
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=20)  # 30 s ± jitter


def test_the_sweep_hands_a_due_delivery_out_once_while_the_broker_lags(failing, org, receiver):
    _publish(org)
    delivery = WebhookDelivery.objects.get()
    later = timezone.now() + timedelta(minutes=5)

    first = deliveries_due(now=later)
    again = deliveries_due(now=later + timedelta(seconds=30))  # the next sweep, the task not yet run

    assert [pk for pk, _ in first] == [delivery.pk] and again == []
    [(pk, lease)] = first
    assert delivery_attempt(delivery_id=pk, lease=lease, now=later + timedelta(seconds=31)) == "retry"
    assert delivery_attempt(delivery_id=pk, lease=lease, now=later + timedelta(seconds=32)) == "not_due"


def test_a_revocation_never_waits_behind_an_earlier_failing_event_of_the_number(failing, org, receiver):
    _publish(org, 7, "consent.granted", "consent")
    assert delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk) == "retry"  # the receiver fails it
    receiver.always = None
    _publish(org, 7, "consent.revoked", "consent")
    revocation = WebhookDelivery.objects.get(event__type="consent.revoked")

    assert delivery_attempt(delivery_id=revocation.pk) == "succeeded"
    assert receiver.types()[-1] == "consent.revoked"
