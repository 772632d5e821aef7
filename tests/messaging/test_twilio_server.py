"""The Twilio-compatible test server itself: what other tests (and helpers' webhook tests) rely on."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from twilio.request_validator import RequestValidator

from messaging.backends import get_backend
from messaging.services import message_queue, message_send


@pytest.fixture
def receiver():
    """A stand-in for the application's web server: records what is posted to it."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((self.path, dict(self.headers), {k: v[0] for k, v in parse_qs(body).items()}))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def sent(twilio_server, consented_number, agent, open_all_day):
    message = message_queue(phone_number=consented_number, sent_by=agent, body="Hi")
    message_send(message_id=message.pk)
    message.refresh_from_db()
    return message


def test_a_status_callback_is_signed_for_the_public_url_and_posted_to_the_given_host(
    twilio_server, sent, receiver, settings
):
    base_url, received = receiver
    status, _ = twilio_server.post_status_callback(sent.provider_sid, "delivered", base_url=base_url)

    assert status == 204
    [(path, headers, params)] = received
    assert path == "/webhooks/twilio/status/"
    assert (params["MessageSid"], params["MessageStatus"], params["To"]) == (
        sent.provider_sid,
        "delivered",
        "+15125550142",
    )
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    assert validator.validate("https://textdesk.test/webhooks/twilio/status/", params, headers["X-Twilio-Signature"])
    assert not validator.validate(f"{base_url}/webhooks/twilio/status/", params, headers["X-Twilio-Signature"])
    assert twilio_server.created()[0]["status"] == "delivered"


def test_a_failed_status_callback_carries_the_error_code(twilio_server, sent, settings):
    signed = twilio_server.status_callback(sent.provider_sid, "undelivered", error_code=30003)
    assert signed.params["ErrorCode"] == "30003"
    assert signed.url == "https://textdesk.test/webhooks/twilio/status/"
    assert RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(signed.url, signed.params, signed.signature)


def test_an_inbound_text_is_signed_too(twilio_server, settings):
    signed = twilio_server.inbound(from_="+15125550142", to="+15125550199", body="STOP")
    assert (signed.path, signed.params["Body"]) == ("/webhooks/twilio/inbound/", "STOP")
    assert RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(
        "https://textdesk.test/webhooks/twilio/inbound/", signed.params, signed.signature
    )


def test_the_list_endpoint_answers_newest_first_filtered_by_recipient(twilio_server, sent):
    other = get_backend().client.messages.create(to="+15125550143", from_="+15125550199", body="Other")
    listed = get_backend().client.messages.list(to="+15125550142")
    assert [m.sid for m in listed] == [sent.provider_sid]
    assert get_backend().client.messages(other.sid).fetch().body == "Other"
    assert [m.sid for m in get_backend().client.messages.list()] == [other.sid, sent.provider_sid]


def test_unknown_error_codes_are_refused_when_scripting(twilio_server):
    with pytest.raises(ValueError, match="unknown Twilio error"):
        twilio_server.fail_next(99999)
