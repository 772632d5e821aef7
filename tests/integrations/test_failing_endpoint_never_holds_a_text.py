"""A failing, hanging webhook endpoint never holds up a text: real Celery workers, as compose runs them
(texts on the ``celery`` queue, deliveries on ``webhooks``), the receiver taking 6 s to answer 500."""

from __future__ import annotations

import time

import pytest

from integrations.models import WebhookDelivery
from integrations.services import endpoint_create
from interactions.services import consent_grant
from messaging.models import Message
from messaging.services import message_queue
from tests.factories import FacilityFactory, PhoneNumberFactory
from tests.messaging.conftest import celery_workers  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.worker,
    pytest.mark.postgres(reason="real Celery workers share the test database with this process"),
]

SEND_BOUND = 8.0  # seconds for four texts; one delivery alone takes 6 s


def test_texts_are_sent_while_every_webhook_delivery_hangs_on_a_failing_endpoint(
    celery_workers,  # noqa: F811
    twilio_server,
    receiver,
    org,
    agent,
    open_all_day,
):
    receiver.always, receiver.delay = 500, 6.0
    endpoint_create(organization=org, url=receiver.url, events=["message.queued", "message.sent"])
    # One thread for texts: were a delivery ever run by a text worker, the texts would queue behind it.
    # Both workers could reach the receiver (127.0.0.1 over http), as in development.
    env = {"WEBHOOKS_ALLOW_PRIVATE": "1", "SILENCED_SYSTEM_CHECKS": "textdesk.E005,textdesk.E007"}
    texts_worker = celery_workers(options=("--concurrency", "1", "--queues", "celery"), SMS_RATE_PER_SENDER="0", **env)
    hooks_worker = celery_workers(options=("--concurrency", "4", "--queues", "webhooks"), **env)
    facility = FacilityFactory(organization=org, sms_sender_number="+15125550199")
    phones = [PhoneNumberFactory(lead__facility=facility, number=f"+1512555{n:04d}") for n in range(800, 804)]
    for phone in phones:
        consent_grant(organization=org, number=phone.number, source="web_form", evidence="quote form")

    # The first text's events are made (half a second on, services.DRAIN_DELAY) and their deliveries
    # hang; the texts queued while they hang are timed.
    first = message_queue(phone_number=phones[0], sent_by=agent, body="Your unit is ready.")
    waited = time.monotonic()
    while receiver.in_flight < 1 and time.monotonic() - waited < 10:
        time.sleep(0.05)
    started = time.monotonic()
    texts = [first, *(message_queue(phone_number=p, sent_by=agent, body="Your unit is ready.") for p in phones[1:])]
    while time.monotonic() - started < SEND_BOUND + 5:
        if Message.objects.filter(pk__in=[t.pk for t in texts], status=Message.Status.SENT).count() == len(texts):
            break
        time.sleep(0.1)
    took = time.monotonic() - started
    hanging = receiver.in_flight

    sent = Message.objects.filter(pk__in=[t.pk for t in texts], status=Message.Status.SENT).count()
    assert sent == len(texts), f"{sent} of {len(texts)} sent\n{texts_worker.output()[-2000:]}"
    assert took < SEND_BOUND, f"the texts took {took:.1f} s behind the webhooks"
    assert hanging >= 1, f"no delivery was hanging meanwhile\n{hooks_worker.output()[-2000:]}"
    # The later texts' events are made by a drain of their own, DRAIN_DELAY after them, on the webhooks
    # worker (whose threads the hanging deliveries hold): made, however long the texts took to go.
    queued_deliveries = WebhookDelivery.objects.filter(event__type="message.queued")
    made_by = time.monotonic() + 15
    while queued_deliveries.count() < len(texts) and time.monotonic() < made_by:
        time.sleep(0.1)
    assert queued_deliveries.count() == len(texts), hooks_worker.output()[-2000:]
    assert "Task integrations.tasks.deliver_webhook[" not in texts_worker.output()
    assert "Task integrations.tasks.drain_webhook_outbox[" not in texts_worker.output()  # nor makes an event
