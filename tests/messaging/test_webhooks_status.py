"""Delivery receipts: status moves forward only, errors are kept, 21610 revokes, repeats change nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import ServiceError
from interactions.models import ConsentEvent, PhoneNumber
from interactions.services import consent_status
from messaging.models import Message
from messaging.services import message_queue
from tests.factories import MessageFactory

from .twilio_payloads import payload, post_status

pytestmark = pytest.mark.django_db

OUT_SID = payload("status_sent")["MessageSid"]
NOON_IN_AUSTIN = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


@pytest.fixture
def sent_message(consented_number):
    return MessageFactory(
        phone_number=consented_number, status=Message.Status.SENT, provider_sid=OUT_SID, sent_at=NOON_IN_AUSTIN
    )


def test_delivered_receipt_marks_the_text_delivered(client, sent_message):
    response = post_status(client, "status_delivered")

    assert response.status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.DELIVERED
    assert sent_message.delivered_at is not None
    assert sent_message.error_code == ""


def test_sent_receipt_for_a_text_still_marked_sending_moves_it_to_sent(client, consented_number):
    message = MessageFactory(phone_number=consented_number, status=Message.Status.SENDING, provider_sid=OUT_SID)

    assert post_status(client, "status_sent").status_code == 200
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.sent_at is not None


@pytest.mark.parametrize(
    ("fixture", "code", "reason"),
    [
        ("status_undelivered_30003", "30003", "unreachable"),
        ("status_undelivered_30007", "30007", "filtered"),
    ],
)
def test_undelivered_receipt_keeps_twilio_error_code_and_a_readable_reason(client, sent_message, fixture, code, reason):
    post_status(client, fixture)

    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.UNDELIVERED
    assert sent_message.error_code == code
    assert reason in sent_message.error_message
    assert sent_message.failed_at is not None
    # An undelivered text is not an opt-out.
    assert consent_status(organization=sent_message.organization, number=sent_message.to_number).is_granted


def test_failed_21610_revokes_consent_as_carrier_and_refuses_the_next_text(client, sent_message, consented_number):
    post_status(client, "status_failed_21610")

    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.FAILED
    assert sent_message.error_code == "21610"
    state = consent_status(organization=consented_number.organization, number=consented_number.number)
    assert state.status == "revoked"
    assert state.source == ConsentEvent.Source.CARRIER
    assert state.person_opted_out
    with pytest.raises(ServiceError) as refused:
        message_queue(
            phone_number=PhoneNumber.objects.get(pk=consented_number.pk),
            sent_by=None,
            body="Your gate code",
            now=NOON_IN_AUSTIN,
        )
    assert refused.value.code == "opted_out"


def test_repeated_21610_callback_records_one_revocation(client, sent_message):
    post_status(client, "status_failed_21610")
    post_status(client, "status_failed_21610")

    revokes = ConsentEvent.objects.filter(number=sent_message.to_number, action=ConsentEvent.Action.REVOKE)
    assert revokes.count() == 1


def test_repeated_delivered_callback_changes_nothing(client, sent_message):
    post_status(client, "status_delivered")
    sent_message.refresh_from_db()
    first = (sent_message.status, sent_message.delivered_at, sent_message.updated_at)

    assert post_status(client, "status_delivered").status_code == 200
    sent_message.refresh_from_db()
    assert (sent_message.status, sent_message.delivered_at, sent_message.updated_at) == first


def test_late_sent_after_delivered_keeps_delivered(client, sent_message):
    post_status(client, "status_delivered")
    sent_message.refresh_from_db()
    delivered_at, sent_at = sent_message.delivered_at, sent_message.sent_at

    post_status(client, "status_sent")
    post_status(client, "status_sent", MessageStatus="queued", SmsStatus="queued")

    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.DELIVERED
    assert (sent_message.delivered_at, sent_message.sent_at) == (delivered_at, sent_at)


def test_late_undelivered_after_delivered_keeps_delivered_and_no_error(client, sent_message):
    post_status(client, "status_delivered")
    post_status(client, "status_undelivered_30003")

    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.DELIVERED
    assert sent_message.error_code == ""


def test_callback_for_an_unknown_sid_answers_200_and_changes_nothing(client, sent_message):
    unknown = "SM" + "f" * 32
    response = post_status(client, "status_delivered", MessageSid=unknown, SmsSid=unknown)

    assert response.status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.SENT
    assert not Message.objects.filter(provider_sid=unknown).exists()


def test_callback_with_a_status_we_do_not_know_answers_200_and_changes_nothing(client, sent_message):
    response = post_status(client, "status_delivered", MessageStatus="teleported", SmsStatus="teleported")

    assert response.status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.SENT


def test_read_receipt_counts_as_delivered(client, sent_message):
    post_status(client, "status_delivered", MessageStatus="read", SmsStatus="read")

    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.DELIVERED


def test_status_callback_never_touches_an_inbound_text(client, consented_number):
    inbound = MessageFactory(
        phone_number=consented_number,
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        provider_sid=OUT_SID,
    )
    post_status(client, "status_failed_21610")

    inbound.refresh_from_db()
    assert inbound.status == Message.Status.RECEIVED
    assert consent_status(organization=inbound.organization, number=consented_number.number).is_granted
