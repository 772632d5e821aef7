"""The Twilio backend, with the real SDK against the Twilio-compatible test server.

Each Twilio answer is mapped to what happens to the text: sent, failed for good, retried
with backoff (never as a second text), or needs_reconciliation (never resent blindly).
"""

from __future__ import annotations

import socket

import pytest

from interactions.models import ConsentEvent
from interactions.services import consent_status
from messaging.backends import SendError, describe_provider_error, get_backend
from messaging.models import Message
from messaging.services import message_queue, message_send


@pytest.fixture
def queued(consented_number, agent, open_all_day, settings):
    """A queued text to the consented number (its send not yet run)."""
    settings.SMS_RATE_PER_SENDER = 50  # retries here need not wait for the real 1/s limit (test_throttle does)
    return message_queue(phone_number=consented_number, sent_by=agent, body="Your gate code is 4321.")


def send(message) -> Message:
    outcome = message_send(message_id=message.pk)
    message.refresh_from_db()
    message.outcome = outcome
    return message


def test_twilio_api_base_url_points_the_real_sdk_at_the_server(twilio_server, queued):
    message = send(queued)
    [request] = twilio_server.sends()
    assert request.path == f"/2010-04-01/Accounts/{twilio_server.account_sid}/Messages.json"
    assert request.headers["User-Agent"].startswith("twilio-python/")
    assert message.provider_sid == twilio_server.created()[0]["sid"]


@pytest.mark.parametrize("code", [21211, 21614])
def test_an_invalid_number_fails_for_good_without_a_retry(twilio_server, queued, code):
    twilio_server.fail_next(code)
    message = send(queued)
    assert (message.status, message.error_code) == ("failed", str(code))
    assert message.error_message == describe_provider_error(str(code)).description
    assert "cannot" in message.error_message and "texts" in message.error_message
    assert message.outcome.retry_in is None
    assert message.failed_at is not None
    assert twilio_server.created() == []


def test_21610_fails_and_records_the_carrier_opt_out(twilio_server, queued):
    twilio_server.fail_next(21610)
    message = send(queued)
    assert (message.status, message.error_code) == ("failed", "21610")
    state = consent_status(organization=message.organization, number=message.to_number)
    assert (state.status, state.source, state.person_opted_out) == ("revoked", ConsentEvent.Source.CARRIER, True)
    event = ConsentEvent.objects.filter(source=ConsentEvent.Source.CARRIER).get()
    assert f"message {message.pk}" in event.evidence


@pytest.mark.parametrize("code", [20429, 21611, 500])
def test_a_busy_or_broken_twilio_is_retried_and_sends_exactly_one_text(twilio_server, queued, code):
    twilio_server.fail_next(code)
    message = send(queued)
    assert (message.status, message.error_code, message.attempts) == ("queued", str(code), 1)
    assert 0 < message.outcome.retry_in <= 200

    message = send(message)  # the retry
    assert (message.status, message.attempts, message.error_code) == ("sent", 2, "")
    assert len(twilio_server.sends(to="+15125550142")) == 2
    assert twilio_server.created_count(to="+15125550142") == 1


def test_retries_back_off_exponentially_with_jitter_and_stop(twilio_server, queued, settings):
    settings.SMS_MAX_ATTEMPTS = 4
    twilio_server.fail_next(500, times=4)
    delays = []
    for _ in range(4):
        message = send(queued)
        if message.outcome.retry_in is not None:
            delays.append(message.outcome.retry_in)
    assert len(delays) == 3
    assert 1 <= delays[0] <= 3 and 2 <= delays[1] <= 6 and 4 <= delays[2] <= 12  # 2^n × [0.5, 1.5]
    assert (message.status, message.error_code) == ("failed", "500")
    assert "Gave up after 4 attempts" in message.error_message
    assert twilio_server.created() == []


def test_a_refused_connection_is_retried(twilio_server, queued, settings):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"
    message = send(queued)
    assert (message.status, message.error_code) == ("queued", "connect")
    assert message.outcome.retry_in is not None


def test_a_timeout_after_sending_needs_reconciliation_and_is_not_resent(twilio_server, queued, settings):
    settings.TWILIO_TIMEOUT_SECONDS = 0.5
    twilio_server.slow_next(1.5)
    message = send(queued)
    assert (message.status, message.error_code) == ("needs_reconciliation", "timeout")
    assert "may have been accepted" in message.error_message
    assert message.outcome.retry_in is None
    assert send(message).status == "needs_reconciliation"  # a second delivery of the task does nothing
    assert len(twilio_server.sends()) == 1


def test_a_dropped_connection_after_sending_needs_reconciliation(twilio_server, queued):
    twilio_server.hang_up_next()
    message = send(queued)
    assert (message.status, message.error_code) == ("needs_reconciliation", "connection_lost")
    assert twilio_server.created_count() == 1


def test_no_sender_at_all_fails_with_a_clear_reason(twilio_server, queued, settings):
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    Message.objects.filter(pk=queued.pk).update(from_number="")
    message = send(queued)
    assert (message.status, message.error_code) == ("failed", "no_sender")
    assert twilio_server.sends() == []


def test_wrong_credentials_are_a_permanent_failure(twilio_server, queued, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong"
    message = send(queued)
    assert (message.status, message.error_code) == ("failed", "20003")


def test_lookup_finds_a_text_twilio_holds_and_ignores_others(twilio_server, queued):
    backend = get_backend()
    assert backend.lookup(queued, since=queued.created_at) is None
    twilio_server.hang_up_next()
    send(queued)
    found = backend.lookup(queued, since=queued.created_at)
    assert found is not None and found.sid == twilio_server.created()[0]["sid"]
    assert backend.lookup(queued, since=queued.created_at, exclude_sids=frozenset({found.sid})) is None


def test_send_errors_say_whether_to_retry():
    assert SendError("x", kind=SendError.RETRYABLE).retryable
    assert SendError("x", kind=SendError.PERMANENT).permanent
    assert SendError("x", kind=SendError.UNKNOWN_OUTCOME).unknown_outcome


def test_an_organizations_own_messaging_service_sends_when_the_facility_has_no_number(twilio_server, queued, settings):
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "1" * 32
    queued.organization.twilio_messaging_service_sid = "MG" + "2" * 32
    queued.organization.save(update_fields=["twilio_messaging_service_sid"])
    Message.objects.filter(pk=queued.pk).update(from_number="")
    message = send(queued)
    [request] = twilio_server.sends()
    assert message.status == "sent"
    assert request.params["MessagingServiceSid"] == "MG" + "2" * 32
    assert "From" not in request.params


# --- kept-alive connections and the statements of one send -------------------------------------


def _another(consented_number, agent, body: str) -> Message:
    return message_queue(phone_number=consented_number, sent_by=agent, body=body)


def test_the_sends_of_one_thread_share_one_kept_alive_connection(twilio_server, queued, consented_number, agent):
    second = _another(consented_number, agent, "Your unit is ready.")
    assert send(queued).status == "sent"
    opened = twilio_server.connections  # (the line-type lookup has a client of its own)
    assert send(second).status == "sent"
    assert twilio_server.created_count() == 2
    assert twilio_server.connections == opened


def test_a_connection_the_server_closed_while_idle_is_replaced_not_an_unknown_outcome(
    twilio_server, queued, consented_number, agent
):
    import time

    twilio_server.idle_timeout = 0.2  # the server hangs up a kept-alive connection idle this long
    second = _another(consented_number, agent, "Your unit is ready.")
    assert send(queued).status == "sent"
    opened = twilio_server.connections
    time.sleep(0.6)
    message = send(second)
    assert (message.status, message.error_code) == ("sent", "")
    assert twilio_server.created_count() == 2
    assert twilio_server.connections == opened + 1


def test_a_connection_idle_longer_than_the_client_allows_is_not_reused(
    twilio_server, queued, consented_number, agent, monkeypatch
):
    from messaging.backends.twilio import _HttpClient

    monkeypatch.setattr(_HttpClient, "IDLE_SECONDS", 0.0)  # every connection counts as stale at once
    second = _another(consented_number, agent, "Your unit is ready.")
    assert send(queued).status == "sent"
    opened = twilio_server.connections
    assert send(second).status == "sent"
    assert twilio_server.connections == opened + 1


def test_a_send_takes_four_statements_and_announces_the_sent_text_without_reading_it_again(
    twilio_server, queued, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from messaging.signals import message_status_changed

    announced = []

    def listener(sender, *, message, status, **kwargs):
        announced.append((message, status))

    message_status_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks() as callbacks, CaptureQueriesContext(connection) as queries:
            message_send(message_id=queued.pk)
        statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
        # The claim (the row locked with what the rules need, consent, sending) and the sent record.
        assert [sql.split()[0] for sql in statements] == ["SELECT", "SELECT", "UPDATE", "UPDATE"], statements
        assert not any("ORDER BY" in sql for sql in statements)
        with CaptureQueriesContext(connection) as later:
            for callback in callbacks:
                if getattr(callback, "announces", None) is message_status_changed:
                    callback()
    finally:
        message_status_changed.disconnect(listener)
    # Announcing does not read the text again (the webhook listener may look up its subscribers).
    assert not any('FROM "messaging_message"' in q["sql"] for q in later.captured_queries), later.captured_queries
    [(claimed, _sending), (sent, status)] = announced
    assert (_sending, status) == ("sending", "sent")
    assert sent is claimed  # the instance the worker claimed, mirroring the row as saved
    stored = Message.objects.get(pk=queued.pk)
    assert (sent.status, sent.provider_sid, sent.sent_at, sent.updated_at) == (
        stored.status,
        stored.provider_sid,
        stored.sent_at,
        stored.updated_at,
    )


def test_sent_is_not_recorded_over_a_row_something_else_moved_first(twilio_server, queued):
    from django.utils import timezone

    claimed = Message.objects.get(pk=queued.pk)
    Message.objects.filter(pk=queued.pk).update(status=Message.Status.DELIVERED)
    assert not claimed.move_from(Message.Status.SENDING, Message.Status.SENT, now=timezone.now(), provider_sid="SMx")
    assert claimed.status == "queued"  # left as it was
    assert Message.objects.get(pk=queued.pk).status == "delivered"
