from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import QuietWSGIRequestHandler
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.authtoken.models import Token

from core.idempotency import fingerprint as idempotency_fingerprint
from interactions.models import Membership
from interactions.services import consent_grant
from messaging.idempotency import idempotency_key_claim
from messaging.models import IdempotencyKey, Message
from tests.factories import MembershipFactory, PhoneNumberFactory

URL = "/api/v1/messages/"


def send(client, payload: dict, key: str | None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(URL, payload, format="json", **headers)


@pytest.mark.django_db
def test_same_key_and_payload_returns_the_first_response_and_sends_once(api, sendable):
    payload = {"phone_number": sendable.pk, "body": "Your gate code is 4821."}

    first = send(api, payload, "order-1042-reminder")
    again = send(api, {"body": "Your gate code is 4821.", "phone_number": sendable.pk}, "order-1042-reminder")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 1
    assert Message.objects.get().idempotency_key == "order-1042-reminder"


@pytest.mark.django_db
def test_same_key_with_a_different_payload_is_a_422(api, sendable):
    send(api, {"phone_number": sendable.pk, "body": "First"}, "key-1")

    response = send(api, {"phone_number": sendable.pk, "body": "Second"}, "key-1")

    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("idempotency_key_reused", "Idempotency-Key")
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_duplicate_while_the_first_is_in_flight_is_a_409(api, sendable, org):
    payload = {"phone_number": sendable.pk, "body": "Hello"}
    fingerprint = idempotency_fingerprint(method="POST", path=URL, data=payload)
    idempotency_key_claim(organization=org, key="key-1", fingerprint=fingerprint)  # another request holds it

    response = send(api, payload, "key-1")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_flight"
    assert response["Retry-After"] == "1"
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_a_claim_abandoned_by_a_crashed_request_is_taken_over(api, sendable, org):
    payload = {"phone_number": sendable.pk, "body": "Hello"}
    fingerprint = idempotency_fingerprint(method="POST", path=URL, data=payload)
    idempotency_key_claim(
        organization=org, key="key-1", fingerprint=fingerprint, now=timezone.now() - timedelta(minutes=5)
    )

    response = send(api, payload, "key-1")

    assert response.status_code == 201
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_a_key_expires_after_24_hours(api, sendable):
    payload = {"phone_number": sendable.pk, "body": "Hello"}
    first = send(api, payload, "key-1")

    with freeze_time(timezone.now() + timedelta(hours=25)):
        later = send(api, payload, "key-1")

    assert first.status_code == later.status_code == 201
    assert later.json()["id"] != first.json()["id"]
    assert Message.objects.filter(idempotency_key="key-1").get().pk == later.json()["id"]
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_invalid_input_releases_the_key_for_a_corrected_retry(api, sendable):
    bad = send(api, {"phone_number": sendable.pk, "body": "Hi", "send_at": "soon"}, "key-1")
    fixed = send(api, {"phone_number": sendable.pk, "body": "Hi"}, "key-1")

    assert bad.status_code == 400
    assert fixed.status_code == 201
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_a_refusal_is_replayed_like_stripe_replays_a_decline(api, facility, open_all_day):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550143")
    payload = {"phone_number": phone.pk, "body": "Hi"}
    refused = send(api, payload, "key-1")
    consent_grant(organization=facility.organization, number=phone.number, source="web_form", evidence="form")

    replayed = send(api, payload, "key-1")
    with_new_key = send(api, payload, "key-2")

    assert refused.status_code == replayed.status_code == 400
    assert replayed.json() == refused.json()
    assert replayed.json()["code"] == "no_consent"
    assert with_new_key.status_code == 201


@pytest.mark.django_db
def test_keys_are_per_organization(api, sendable, other_api, other_facility):
    theirs = PhoneNumberFactory(lead__facility=other_facility, number="+15125550160")
    consent_grant(organization=other_facility.organization, number=theirs.number, source="web_form", evidence="f")
    other_facility.organization.quiet_hours_start, other_facility.organization.quiet_hours_end = (
        sendable.organization.quiet_hours_start,
        sendable.organization.quiet_hours_end,
    )
    other_facility.organization.save()

    mine = send(api, {"phone_number": sendable.pk, "body": "Hi"}, "shared-key")
    their = send(other_api, {"phone_number": theirs.pk, "body": "Hi"}, "shared-key")

    assert mine.status_code == their.status_code == 201
    assert Message.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "naïve-key"])
def test_unusable_keys_are_refused(api, sendable, key):
    response = send(api, {"phone_number": sendable.pk, "body": "Hi"}, key)

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("invalid_idempotency_key", "Idempotency-Key")
    assert not Message.objects.exists()
    assert not IdempotencyKey.objects.exists()


class _Server(ThreadedWSGIServer):
    request_queue_size = 128  # the default backlog (5) resets most of 50 simultaneous connections


@pytest.fixture
def http_server(transactional_db):
    """The project's WSGI app behind Django's threaded HTTP server (one thread and DB connection per request)."""
    server = _Server(("127.0.0.1", 0), QuietWSGIRequestHandler, allow_reuse_address=False)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_fifty_parallel_duplicates_create_exactly_one_message(http_server, facility, open_all_day):
    """Through the real HTTP stack: 50 threads, each its own connection to the server and the database."""
    agent = MembershipFactory(organization=facility.organization, role=Membership.Role.AGENT).user
    token = Token.objects.create(user=agent)
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550142")
    consent_grant(organization=facility.organization, number=phone.number, source="web_form", evidence="form")
    start = threading.Barrier(50)

    def post(_: int) -> requests.Response:
        start.wait()
        return requests.post(
            http_server + URL,
            json={"phone_number": phone.pk, "body": "Your unit is ready."},
            headers={"Authorization": f"Token {token.key}", "Idempotency-Key": "parallel-1"},
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(post, range(50)))

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, statuses
    assert Message.objects.count() == 1
    created = [r.json()["id"] for r in responses if r.status_code == 201]
    assert created and set(created) == {Message.objects.get().pk}
    assert all(r.json()["code"] == "idempotency_key_in_flight" for r in responses if r.status_code == 409)


@pytest.mark.django_db
def test_purge_forgets_keys_older_than_a_day(api, sendable):
    from messaging.tasks import purge_idempotency_keys

    send(api, {"phone_number": sendable.pk, "body": "Hi"}, "old-key")
    with freeze_time(timezone.now() + timedelta(hours=23)):
        assert purge_idempotency_keys.apply().get() == 0
    with freeze_time(timezone.now() + timedelta(hours=25)):
        assert purge_idempotency_keys.apply().get() == 1
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_a_purged_key_names_a_new_text(api, sendable):
    from messaging.tasks import purge_idempotency_keys

    payload = {"phone_number": sendable.pk, "body": "Hi"}
    first = send(api, payload, "old-key")
    with freeze_time(timezone.now() + timedelta(hours=25)):
        assert purge_idempotency_keys.apply().get() == 1
        later = send(api, payload, "old-key")

    assert first.status_code == later.status_code == 201
    assert later.json()["id"] != first.json()["id"]
    assert Message.objects.get(pk=first.json()["id"]).idempotency_key is None  # the old text let go of it
    assert Message.objects.get(pk=later.json()["id"]).idempotency_key == "old-key"
