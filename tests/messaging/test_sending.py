"""Claim-and-send (docs/ARCHITECTURE.md rules 3, 7, 8): one provider call per text, consent checked at the last moment,
and texts whose send was interrupted are settled against the provider, never resent blindly."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from interactions.services import consent_revoke
from messaging.backends import get_backend
from messaging.models import Message
from messaging.services import (
    message_claim,
    message_queue,
    message_send,
    messages_reconcile_stuck,
    messages_requeue_stuck,
)
from messaging.throttle import throttle_acquire
from tests.factories import MessageFactory


@pytest.fixture
def queued(consented_number, agent, open_all_day):
    return message_queue(phone_number=consented_number, sent_by=agent, body="Your unit is ready.")


def test_a_second_delivery_of_the_same_task_sends_nothing(twilio_server, queued):
    message_send(message_id=queued.pk)
    assert message_send(message_id=queued.pk) is None
    assert len(twilio_server.sends()) == 1


def test_only_one_claim_wins(queued):
    assert message_claim(message_id=queued.pk) is not None
    assert message_claim(message_id=queued.pk) is None
    queued.refresh_from_db()
    assert (queued.status, queued.attempts) == ("sending", 1)


def test_a_stop_while_the_text_waited_stops_it_before_the_provider(twilio_server, queued):
    consent_revoke(organization=queued.organization, number=queued.to_number, source="sms_keyword")
    assert message_send(message_id=queued.pk) is None
    queued.refresh_from_db()
    assert (queued.status, queued.error_code) == ("failed", "opted_out")
    assert "opted out before it went out" in queued.error_message
    assert twilio_server.sends() == []


@pytest.mark.django_db(transaction=True)
def test_a_stop_during_the_rate_limit_wait_stops_it_before_the_provider(twilio_server, consented_number, open_all_day):
    # Committed for real (the STOP comes from another connection); written directly so no send runs on commit.
    queued = MessageFactory(phone_number=consented_number, status=Message.Status.QUEUED)
    throttle_acquire(sender="+15125550199")  # the sender's slot is taken: this send waits ~1 s

    def stop_arrives():
        time.sleep(0.3)
        try:
            consent_revoke(organization=queued.organization, number=queued.to_number, source="sms_keyword")
        finally:
            connection.close()

    thread = threading.Thread(target=stop_arrives)
    thread.start()
    message_send(message_id=queued.pk)
    thread.join()
    queued.refresh_from_db()
    assert (queued.status, queued.error_code) == ("failed", "opted_out")
    assert twilio_server.sends(body=queued.body) == []  # (the STOP's own confirmation may go: it is allowed)


def test_a_throttled_send_is_handed_back_without_using_an_attempt(twilio_server, queued):
    throttle_acquire(sender="+15125550199")
    outcome = message_send(message_id=queued.pk, throttle_wait=0)
    queued.refresh_from_db()
    assert outcome.throttled and 0 < outcome.retry_in <= 2.1
    assert (queued.status, queued.attempts, queued.sending_at) == ("queued", 0, None)
    assert twilio_server.sends() == []


def test_a_text_stuck_in_queued_is_queued_again_once(queued, django_capture_on_commit_callbacks, settings):
    later = timezone.now() + timedelta(seconds=settings.SMS_STUCK_AFTER_SECONDS + 1)
    with django_capture_on_commit_callbacks() as callbacks:
        assert messages_requeue_stuck(now=later) == 1
        assert messages_requeue_stuck(now=later) == 0  # queued_at moved: not again until another period
    assert len(callbacks) == 1
    assert messages_requeue_stuck(now=timezone.now()) == 0


def _stuck_in_sending(message, *, ago: float) -> Message:
    """As a worker that claimed ``message`` and died ``ago`` seconds ago would leave it."""
    claimed = message_claim(message_id=message.pk)
    Message.objects.filter(pk=message.pk).update(sending_at=timezone.now() - timedelta(seconds=ago))
    claimed.refresh_from_db()
    return claimed


def test_a_text_the_provider_got_before_the_worker_died_adopts_its_sid(twilio_server, queued):
    claimed = _stuck_in_sending(queued, ago=600)
    get_backend().send(claimed)  # the request went out; the worker died before saving the answer

    assert messages_reconcile_stuck() == 1
    queued.refresh_from_db()
    [created] = twilio_server.created()
    assert (queued.status, queued.provider_sid) == ("sent", created["sid"])
    assert len(twilio_server.sends()) == 1  # adopted, not sent again


def test_a_text_that_never_reached_the_provider_is_sent_once(twilio_server, queued, django_capture_on_commit_callbacks):
    _stuck_in_sending(queued, ago=600)
    with django_capture_on_commit_callbacks(execute=True):
        assert messages_reconcile_stuck() == 1
    queued.refresh_from_db()
    assert queued.status == "sent"
    assert twilio_server.created_count(to="+15125550142") == 1


def test_a_recent_sending_row_is_left_to_its_worker(twilio_server, queued, settings):
    _stuck_in_sending(queued, ago=settings.TWILIO_TIMEOUT_SECONDS)
    assert messages_reconcile_stuck() == 0
    queued.refresh_from_db()
    assert queued.status == "sending"
    assert [r.method for r in twilio_server.requests if not r.is_lookup] == []


def test_a_timed_out_send_is_settled_when_twilio_has_it(twilio_server, queued, settings):
    settings.TWILIO_TIMEOUT_SECONDS = 0.5
    twilio_server.slow_next(1.0)
    message_send(message_id=queued.pk)
    queued.refresh_from_db()
    assert queued.status == "needs_reconciliation"

    assert messages_reconcile_stuck() == 1
    queued.refresh_from_db()
    assert (queued.status, queued.provider_sid) == ("sent", twilio_server.created()[0]["sid"])
    assert len(twilio_server.sends()) == 1


def test_an_unresolved_needs_reconciliation_row_stays_for_a_person(twilio_server, queued):
    Message.objects.filter(pk=queued.pk).update(
        status="needs_reconciliation", sending_at=timezone.now(), error_message="No answer from Twilio"
    )
    assert messages_reconcile_stuck() == 0
    queued.refresh_from_db()
    assert (queued.status, queued.error_message) == ("needs_reconciliation", "No answer from Twilio")
    assert twilio_server.sends() == []


def test_a_backend_that_cannot_look_up_marks_the_row_for_a_person(queued, settings):
    settings.SMS_BACKEND = "console"
    _stuck_in_sending(queued, ago=600)
    messages_reconcile_stuck()
    queued.refresh_from_db()
    assert (queued.status, queued.error_code) == ("needs_reconciliation", "lost_in_flight")
    assert "cannot tell whether the text went out" in queued.error_message


def test_an_unreachable_provider_leaves_the_row_for_the_next_sweep(twilio_server, queued, settings):
    _stuck_in_sending(queued, ago=600)
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # discard port: connection refused
    assert messages_reconcile_stuck() == 0
    queued.refresh_from_db()
    assert queued.status == "sending"
