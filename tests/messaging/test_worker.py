"""A real Celery worker process against Redis, sending through the Twilio-compatible server.

Nothing lost, nothing sent twice: even when the worker is SIGKILLed with sends in flight.
"""

from __future__ import annotations

import time

import pytest

from interactions.services import consent_grant
from messaging.models import Message
from messaging.services import message_queue, messages_reconcile_stuck, messages_requeue_stuck
from tests.factories import FacilityFactory, PhoneNumberFactory
from tests.messaging.test_throttle import most_in_one_second

pytestmark = [
    pytest.mark.worker,
    pytest.mark.postgres(reason="real Celery workers share the test database with this process"),
]


def _queue_texts(org, agent, *, sender: str, count: int, first: int) -> list[Message]:
    facility = FacilityFactory(organization=org, sms_sender_number=sender)
    texts = []
    for n in range(first, first + count):
        phone = PhoneNumberFactory(lead__facility=facility, number=f"+1512555{n:04d}")
        consent_grant(organization=org, number=phone.number, source="web_form", evidence="quote form")
        texts.append(message_queue(phone_number=phone, sent_by=agent, body=f"Your unit is ready ({n})."))
    return texts


def _wait_until(predicate, *, timeout: float, step: float = 0.2, tick=None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tick:
            tick()
        if predicate():
            return True
        time.sleep(step)
    return False


def _statuses() -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Message.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def test_a_worker_sends_each_queued_text_once_within_the_rate_limit(
    celery_workers, twilio_server, org, agent, open_all_day
):
    worker = celery_workers(SMS_RATE_PER_SENDER="2")
    texts = _queue_texts(org, agent, sender="+15125550199", count=6, first=500)
    texts += _queue_texts(org, agent, sender="+18135550199", count=2, first=600)

    done = _wait_until(lambda: _statuses() == {"sent": 8}, timeout=30)
    assert done, f"{_statuses()}\n{worker.output()[-3000:]}"

    assert twilio_server.duplicates() == {}
    for message in Message.objects.all():
        [request] = twilio_server.sends(to=str(message.to_number), body=message.body)
        assert request.params["StatusCallback"] == "https://textdesk.test/webhooks/twilio/status/"
        assert "\nUnsubscribe: https://textdesk.test/u/" in request.params["Body"]
        [created] = twilio_server.created(to=str(message.to_number))
        assert message.provider_sid == created["sid"]
    busy = [r.at for r in twilio_server.sends() if r.params["From"] == "+15125550199"]
    assert most_in_one_second(busy) <= 2


def test_a_worker_killed_mid_send_loses_nothing_and_sends_nothing_twice(
    celery_workers, twilio_server, org, agent, open_all_day, settings
):
    settings.SMS_STUCK_AFTER_SECONDS = 3
    settings.SMS_SENDING_STUCK_AFTER_SECONDS = 1
    settings.SMS_THROTTLE_MAX_WAIT = 0.5
    settings.TWILIO_TIMEOUT_SECONDS = 3  # the floor for "stuck in sending": 0.5 + 3 + 5 s
    env = {"SMS_RATE_PER_SENDER": "0", "TWILIO_TIMEOUT_SECONDS": "3", "SMS_THROTTLE_MAX_WAIT": "0.5"}
    first = celery_workers(**env)
    twilio_server.slow_next(2.0, times=100)  # Twilio takes the texts but answers slowly
    texts = _queue_texts(org, agent, sender="+15125550199", count=8, first=700)

    assert _wait_until(lambda: len(twilio_server.sends()) >= 2, timeout=20), first.output()[-3000:]
    first.kill()  # with sends in flight: accepted by Twilio, the answer never read
    in_flight = Message.objects.filter(status="sending").count()
    twilio_server.answer_normally()
    celery_workers(**env)

    def sweep():
        messages_requeue_stuck()
        messages_reconcile_stuck()

    settled = _wait_until(
        lambda: set(_statuses()) <= {"sent", "needs_reconciliation"}, timeout=45, step=0.5, tick=sweep
    )
    assert settled, _statuses()

    assert in_flight >= 1  # the crash really caught texts between the provider call and its answer
    assert twilio_server.duplicates() == {}
    for message in Message.objects.all():
        requests = twilio_server.sends(to=str(message.to_number), body=message.body)
        assert len(requests) == 1, f"{message.to_number}: {len(requests)} provider calls"
        if message.status == "sent":
            assert message.provider_sid == twilio_server.created(to=str(message.to_number))[0]["sid"]
        else:
            assert message.error_message  # left for a person, with the reason
    assert Message.objects.filter(status="sent").count() == len(texts)  # the server has them all: all adopted
