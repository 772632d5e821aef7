"""A text changes status one way only, through ``Message.move_to`` (docs/ARCHITECTURE.md rule 8)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from messaging.backends import describe_provider_error
from messaging.models import Message
from tests.factories import MessageFactory


def test_a_delivered_text_cannot_be_moved_back_to_sent(db):
    message = MessageFactory(status=Message.Status.DELIVERED)

    with pytest.raises(ValueError, match="does not move from delivered to sent"):
        message.move_to(Message.Status.SENT, now=timezone.now())


def test_moving_forward_stamps_the_time_of_the_new_status(db):
    message = MessageFactory(status=Message.Status.SENDING)
    now = timezone.now()

    fields = message.move_to(Message.Status.SENT, now=now, provider_sid="SM123")
    message.save(update_fields=fields)

    message.refresh_from_db()
    assert (message.status, message.sent_at, message.provider_sid) == (Message.Status.SENT, now, "SM123")


def test_a_bulk_move_leaves_rows_that_are_already_further_along(db):
    behind = MessageFactory(status=Message.Status.SCHEDULED)
    ahead = MessageFactory(status=Message.Status.DELIVERED)

    moved = Message.objects.filter(pk__in=[behind.pk, ahead.pk]).move_to(Message.Status.QUEUED, now=timezone.now())

    behind.refresh_from_db()
    ahead.refresh_from_db()
    assert (moved, behind.status, ahead.status) == (1, Message.Status.QUEUED, Message.Status.DELIVERED)


def test_a_failed_text_says_why_in_provider_neutral_words(db):
    unsubscribed = MessageFactory(status=Message.Status.FAILED, error_code="21610")
    off = MessageFactory(status=Message.Status.UNDELIVERED, error_code="30003")
    stopped = MessageFactory(status=Message.Status.FAILED, error_code="opted_out")

    assert unsubscribed.failure_reason == "recipient_opted_out"
    assert off.failure_reason == "unreachable"
    assert stopped.failure_reason == "recipient_opted_out"
    assert describe_provider_error("30003").description == "The phone is unreachable (switched off or out of coverage)."
