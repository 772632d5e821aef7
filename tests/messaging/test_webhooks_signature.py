"""Every Twilio webhook is refused (403, nothing changed) without a valid signature over PUBLIC_BASE_URL."""

from __future__ import annotations

import pytest
from django.urls import reverse
from twilio.request_validator import RequestValidator

from interactions.services import consent_status
from messaging.models import Message
from tests.factories import MessageFactory

from .twilio_payloads import INBOUND_URL, STATUS_URL, payload, post, sign

pytestmark = pytest.mark.django_db

OUT_SID = payload("status_delivered")["MessageSid"]


@pytest.fixture
def sent_message(consented_number):
    return MessageFactory(phone_number=consented_number, status=Message.Status.SENT, provider_sid=OUT_SID)


BAD_CASES = ["missing", "empty", "garbage", "other token", "other url", "fields changed after signing"]


def _bad_signatures(path: str, params: dict[str, str]) -> dict[str, str | None]:
    return {
        "missing": None,
        "empty": "",
        "garbage": "bm90IGEgc2lnbmF0dXJl",
        "other token": RequestValidator("another-account-token").compute_signature(
            "https://textdesk.test" + path, params
        ),
        "other url": sign("/webhooks/twilio/other/", params),
        "fields changed after signing": sign(path, {**params, "MessageStatus": "sent"}),
    }


def test_webhook_urls_are_the_ones_integrators_configure():
    assert reverse("twilio_status") == "/webhooks/twilio/status/"
    assert reverse("twilio_inbound") == "/webhooks/twilio/inbound/"


@pytest.mark.parametrize("case", BAD_CASES)
def test_status_callback_without_a_valid_signature_is_refused_and_changes_nothing(client, sent_message, case):
    params = payload("status_undelivered_30003")
    response = post(client, STATUS_URL, params, signature=_bad_signatures(STATUS_URL, params)[case])

    assert response.status_code == 403
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.SENT
    assert sent_message.error_code == ""


@pytest.mark.parametrize("case", BAD_CASES)
def test_inbound_without_a_valid_signature_is_refused_and_stores_nothing(client, consented_number, case):
    params = payload("inbound_stop")
    response = post(client, INBOUND_URL, params, signature=_bad_signatures(INBOUND_URL, params)[case])

    assert response.status_code == 403
    assert not Message.objects.filter(direction=Message.Direction.INBOUND).exists()
    assert consent_status(organization=consented_number.organization, number=consented_number.number).is_granted


def test_signature_is_checked_against_public_base_url_not_the_host_behind_a_tls_proxy(client, sent_message):
    # The proxy terminates TLS and forwards to http://10.0.0.5:8000; Twilio signed the public https URL.
    params = payload("status_delivered")
    response = post(client, STATUS_URL, params, HTTP_HOST="10.0.0.5:8000", HTTP_X_FORWARDED_PROTO="http")

    assert response.status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.DELIVERED


def test_a_signature_over_the_request_own_host_is_refused(client, sent_message, settings):
    params = payload("status_delivered")
    own_url_signature = sign(STATUS_URL, params, base_url="http://10.0.0.5:8000")
    response = post(client, STATUS_URL, params, signature=own_url_signature, HTTP_HOST="10.0.0.5:8000")

    assert response.status_code == 403
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.SENT


def test_query_string_is_part_of_the_signed_url(client, sent_message):
    params = payload("status_delivered")
    path = STATUS_URL + "?attempt=2"
    assert post(client, path, params, signature=sign(STATUS_URL, params)).status_code == 403
    assert post(client, path, params, signature=sign(path, params)).status_code == 200


def test_signature_with_port_in_public_base_url_is_accepted(client, sent_message, settings):
    # Twilio signs some URLs with the explicit :443; the validator accepts both spellings.
    params = payload("status_delivered")
    signature = sign(STATUS_URL, params, base_url="https://textdesk.test:443")
    assert post(client, STATUS_URL, params, signature=signature).status_code == 200


def test_sha256_signature_named_in_the_settings_header_is_accepted(client, sent_message, settings):
    params = payload("status_delivered")
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(
        settings.PUBLIC_BASE_URL + STATUS_URL, params, algorithm="HMAC_SHA256"
    )
    header = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    response = post(client, STATUS_URL, params, signature=signature, HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS=header)
    assert response.status_code == 200
    # The same HMAC-SHA256 signature without the header is checked as HMAC-SHA1 and refused.
    assert post(client, STATUS_URL, params, signature=signature).status_code == 403


def test_without_an_auth_token_every_webhook_is_refused(client, sent_message, settings):
    params = payload("status_delivered")
    signature = sign(STATUS_URL, params)
    settings.TWILIO_AUTH_TOKEN = ""
    assert post(client, STATUS_URL, params, signature=signature).status_code == 403


@pytest.mark.parametrize("path", [STATUS_URL, INBOUND_URL])
def test_webhooks_answer_only_post(client, path):
    assert client.get(path).status_code == 405


def test_webhooks_need_no_csrf_token(consented_number):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert post(strict, INBOUND_URL, payload("inbound_sms")).status_code == 200


def test_webhooks_are_not_redirected_to_https_when_the_proxy_forgets_the_scheme(client, sent_message, settings):
    # Twilio does not repeat a POST after a redirect; the signature already pins the https URL.
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/accounts/login/").status_code == 301
    assert post(client, STATUS_URL, payload("status_delivered")).status_code == 200


@pytest.mark.parametrize("path", [STATUS_URL, STATUS_URL.rstrip("/")])
def test_status_callback_lands_with_or_without_the_trailing_slash(client, sent_message, path):
    # Twilio does not follow a 301 with a POST: a URL pasted without the slash must answer itself.
    response = post(client, path, payload("status_delivered"))

    assert response.status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.DELIVERED


@pytest.mark.parametrize("path", [INBOUND_URL, INBOUND_URL.rstrip("/")])
def test_a_stop_lands_with_or_without_the_trailing_slash(client, consented_number, path, settings):
    settings.DEBUG = True  # with DEBUG, APPEND_SLASH answered a POST without the slash with a 500
    response = post(client, path, payload("inbound_stop"))

    assert response.status_code == 200
    assert not consent_status(organization=consented_number.organization, number=consented_number.number).is_granted


def test_the_url_without_the_slash_verifies_only_its_own_signature(client, sent_message):
    params = payload("status_delivered")
    response = post(client, STATUS_URL.rstrip("/"), params, signature=sign(STATUS_URL, params))

    assert response.status_code == 403
