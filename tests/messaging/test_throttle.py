"""The per-sender rate limit (SMS_RATE_PER_SENDER): never more than the limit in any one-second window."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from interactions.services import consent_grant
from messaging.models import Message
from messaging.services import message_send
from messaging.throttle import throttle_acquire
from tests.factories import FacilityFactory, MessageFactory, PhoneNumberFactory


def most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    return max((sum(1 for u in times if t <= u < t + 1.0) for t in times), default=0)


def _texts(facility, count: int, first: int) -> list[Message]:
    texts = []
    for n in range(first, first + count):
        phone = PhoneNumberFactory(lead__facility=facility, number=f"+1512555{n:04d}")
        consent_grant(organization=facility.organization, number=phone.number, source="web_form", evidence="form")
        texts.append(MessageFactory(phone_number=phone, from_number=facility.sms_sender_number, body=f"Text {n}"))
    return texts


def _send_all(texts: list[Message], workers: int) -> None:
    def send(message_id: int) -> None:
        try:
            message_send(message_id=message_id, throttle_wait=30)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(send, [m.pk for m in texts]))


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_exceed_the_rate_of_one_sender(twilio_server, org, open_all_day, settings):
    settings.SMS_RATE_PER_SENDER = 2
    austin = FacilityFactory(organization=org, sms_sender_number="+15125550199")
    tampa = FacilityFactory(organization=org, sms_sender_number="+18135550199")
    texts = _texts(austin, 7, first=300) + _texts(tampa, 3, first=400)

    _send_all(texts, workers=5)

    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    austin_times = [r.at for r in twilio_server.sends() if r.params["From"] == "+15125550199"]
    tampa_times = [r.at for r in twilio_server.sends() if r.params["From"] == "+18135550199"]
    assert (len(austin_times), len(tampa_times)) == (7, 3)
    assert most_in_one_second(austin_times) <= 2
    assert most_in_one_second(tampa_times) <= 2
    assert max(austin_times) - min(austin_times) >= 3 * 0.99  # 7 texts at 2/s: at least 3 s
    # Another sender is not held up by the busy one.
    assert max(tampa_times) - min(austin_times) < max(austin_times) - min(austin_times)


def test_the_limiter_spaces_one_sender_and_leaves_others_alone(settings):
    settings.SMS_RATE_PER_SENDER = 1
    sender = f"test-{threading.get_ident()}"
    assert throttle_acquire(sender=sender) == 0
    wait = throttle_acquire(sender=sender)
    assert 0.9 < wait <= 1.0 + settings.SMS_THROTTLE_GUARD_SECONDS
    assert throttle_acquire(sender=sender + "-other") == 0


def test_a_rate_of_zero_switches_the_limit_off(settings):
    settings.SMS_RATE_PER_SENDER = 0
    assert [throttle_acquire(sender="unlimited") for _ in range(5)] == [0] * 5


def test_console_and_locmem_backends_are_not_throttled(consented_number, open_all_day, outbox, settings):
    settings.SMS_RATE_PER_SENDER = 1
    texts = [MessageFactory(phone_number=consented_number, body=f"Hi {n}") for n in range(3)]
    for message in texts:
        assert message_send(message_id=message.pk, throttle_wait=0).status == "sent"
    assert len(outbox) == 3
