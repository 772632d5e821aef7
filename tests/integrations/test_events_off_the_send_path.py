"""A watched text pays one small INSERT for its webhook events: the ``webhooks`` worker makes them.

The send path (the API request, the worker's send, the carrier's receipt) only records the change
in the outbox (``event_record``); the event, its deliveries and the endpoints' read happen in the
drain (``outbox_drain``, on the ``webhooks`` queue). The event still shows the text as it was at
the change, and carries the change's time.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.models import WebhookDelivery, WebhookEvent, WebhookOutbox
from integrations.services import (
    DRAIN_GATE,
    endpoint_create,
    outbox_drain,
    subscribed_event_types,
    subscriptions_changed,
)
from integrations.tasks import deliver_due_webhooks, drain_webhook_outbox
from messaging.models import Message
from tests.messaging.twilio_payloads import post_status

pytestmark = pytest.mark.django_db

WATCHED = ["message.queued", "message.sent", "message.delivered"]


@pytest.fixture
def drains(monkeypatch) -> list[int]:
    """The drains published (not run: what the send path itself does is what is measured)."""
    published: list[int] = []
    cache.delete(DRAIN_GATE)
    monkeypatch.setattr(drain_webhook_outbox, "apply_async", lambda **options: published.append(1))
    return published


def _webhook_statements(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "integrations_webhook" in q["sql"]]


def test_a_watched_send_and_its_receipt_only_insert_outbox_rows_and_publish_one_drain(
    receiver, api, client, sendable, drains, django_capture_on_commit_callbacks
):
    endpoint_create(organization=sendable.organization, url=receiver.url, events=WATCHED)
    assert subscribed_event_types(sendable.organization_id) == set(WATCHED)  # who listens: cached, as in steady state

    # The API request queues the text and (eager tasks) the worker sends it: message.queued and message.sent.
    with CaptureQueriesContext(connection) as captured, django_capture_on_commit_callbacks(execute=True):
        sent = api.post(
            "/api/v1/messages/", {"phone_number": sendable.pk, "body": "Your unit is ready."}, format="json"
        )
    message = Message.objects.get(pk=sent.json()["id"])
    assert message.status == Message.Status.SENT
    statements = _webhook_statements(captured)
    assert len(statements) == 2 and all(
        sql.startswith('INSERT INTO "integrations_webhookoutbox"') for sql in statements
    ), "\n".join(statements)
    assert drains == [1]  # one drain for the burst: the second row found it on its way

    with CaptureQueriesContext(connection) as captured, django_capture_on_commit_callbacks(execute=True):
        assert post_status(client, "status_delivered", MessageSid=message.provider_sid).status_code == 200
    statements = _webhook_statements(captured)
    assert len(statements) == 1 and statements[0].startswith('INSERT INTO "integrations_webhookoutbox"'), statements
    assert not WebhookEvent.objects.exists() and not WebhookDelivery.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_drain() == 3

    assert receiver.types() == WATCHED
    assert not WebhookOutbox.objects.exists()
    assert WebhookDelivery.objects.filter(status=WebhookDelivery.Status.SUCCEEDED).count() == 3


def test_an_event_shows_the_text_as_it_was_at_the_change_and_when_it_changed(
    receiver, api, client, sendable, drains, django_capture_on_commit_callbacks
):
    endpoint_create(organization=sendable.organization, url=receiver.url, events=WATCHED)
    with django_capture_on_commit_callbacks(execute=True):
        sent = api.post(
            "/api/v1/messages/", {"phone_number": sendable.pk, "body": "Your unit is ready."}, format="json"
        )
    message = Message.objects.get(pk=sent.json()["id"])
    with django_capture_on_commit_callbacks(execute=True):
        post_status(client, "status_delivered", MessageSid=message.provider_sid)
    changed_by = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        outbox_drain()  # made after the text was delivered

    events = {event.type: event for event in WebhookEvent.objects.all()}
    queued, sent_event = events["message.queued"].data, events["message.sent"].data
    assert (queued["status"], queued["sent_at"], queued["id"]) == ("queued", None, message.pk)
    assert (sent_event["status"], sent_event["delivered_at"]) == ("sent", None)
    # What the API said then: the sent event is today's text but for what came after.
    now = api.get(f"/api/v1/messages/{message.pk}/").json()
    assert now["status"] == "delivered"
    assert {k: v for k, v in sent_event.items() if k not in {"status", "delivered_at", "updated_at"}} == {
        k: v for k, v in now.items() if k not in {"status", "delivered_at", "updated_at"}
    }
    assert events["message.delivered"].data == now
    # Each event is dated by its change, in the order they happened, not by the drain.
    times = [events[type].created_at for type in WATCHED]
    assert times == sorted(times) and times[-1] <= changed_by


def test_nothing_is_recorded_for_an_organization_nobody_watches(
    api, sendable, drains, django_capture_on_commit_callbacks
):
    subscriptions_changed(sendable.organization_id)  # an earlier test's organization may have had this id
    assert subscribed_event_types(sendable.organization_id) == frozenset()  # cached, as in steady state
    with CaptureQueriesContext(connection) as captured, django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v1/messages/", {"phone_number": sendable.pk, "body": "Your unit is ready."}, format="json")

    assert _webhook_statements(captured) == []
    assert drains == []


def test_a_worker_asks_redis_nothing_while_the_drain_it_published_is_still_to_come(
    receiver, org, monkeypatch, django_capture_on_commit_callbacks
):
    from integrations.services import outbox
    from interactions.services import consent_grant

    endpoint_create(organization=org, url=receiver.url, events=["consent.granted"])
    cache.delete(DRAIN_GATE)
    monkeypatch.setitem(drain_webhook_outbox.app.conf, "task_always_eager", False)  # a real worker
    monkeypatch.setattr(outbox, "_drain_reads_after", 0.0)
    published: list[dict] = []
    monkeypatch.setattr(drain_webhook_outbox, "apply_async", lambda **options: published.append(options))
    asked: list[str] = []
    add = cache.add
    monkeypatch.setattr(cache, "add", lambda key, *args: asked.append(key) or add(key, *args))

    def grant(number: str) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            consent_grant(organization=org, number=number, source="web_form", evidence="quote form")

    grant("+15125550142")
    grant("+15125550143")  # a moment later: the drain published for the first, DRAIN_DELAY ahead, reads this too

    assert WebhookOutbox.objects.count() == 2
    assert published == [{"countdown": outbox.DRAIN_DELAY}] and asked == [DRAIN_GATE]
    monkeypatch.setattr(outbox, "_drain_reads_after", 0.0)  # that drain has read the outbox
    cache.delete(DRAIN_GATE)  # (it clears the gate first)
    grant("+15125550144")
    assert len(published) == 2 and asked == [DRAIN_GATE, DRAIN_GATE]


def test_the_sweep_drains_what_no_drain_was_published_for(
    receiver, org, django_capture_on_commit_callbacks, monkeypatch
):
    endpoint_create(organization=org, url=receiver.url, events=["consent.granted"])
    cache.set(DRAIN_GATE, 1, 60)  # as if a drain were on its way, and its publish had been lost
    from interactions.services import consent_grant

    with django_capture_on_commit_callbacks(execute=True):
        consent_grant(organization=org, number="+15125550142", source="web_form", evidence="quote form")
    assert WebhookOutbox.objects.count() == 1 and not WebhookEvent.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        deliver_due_webhooks()

    assert receiver.types() == ["consent.granted"]
    assert not WebhookOutbox.objects.exists()


def test_an_event_that_cant_be_rendered_is_dropped_and_the_next_ones_are_made(
    receiver, org, drains, django_capture_on_commit_callbacks, caplog
):
    endpoint_create(organization=org, url=receiver.url, events=["message.sent", "consent.granted"])
    at = timezone.now()
    broken = WebhookOutbox.objects.create(
        organization=org, type="message.sent", object_type="message", object_id="7",
        model="messaging.message", row={"id": 7, "sent_at": "not a time"}, at=at,
    )  # fmt: skip
    WebhookOutbox.objects.create(
        organization=org, type="consent.granted", object_type="consent", object_id="+15125550142",
        data={"number": "+15125550142"}, at=at,
    )  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_drain() == 1

    assert receiver.types() == ["consent.granted"]
    assert not WebhookOutbox.objects.exists()
    assert f"webhook event message.sent of message {broken.object_id} not made" in caplog.text
