"""Deliveries are Standard Webhooks: the official ``standardwebhooks`` library verifies them with the
secret as Textdesk showed it, through a rotation and after a manager ends it."""

from __future__ import annotations

import base64

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from integrations.services import endpoint_create, endpoint_rotate_secret, endpoint_rotation_end, event_publish

pytestmark = pytest.mark.django_db


def _publish(org, object_id: int = 1):
    return event_publish(organization_id=org.pk, type="message.queued", object_type="message",
                         object_id=object_id, data=lambda: {"id": object_id})  # fmt: skip


def _verifies(secret: str, request) -> bool:
    try:
        return Webhook(secret).verify(request.body, request.headers) == request.json
    except WebhookVerificationError:
        return False


def test_a_delivery_verifies_with_the_official_library_and_the_secret_as_shown(
    receiver, manager_api, org, django_capture_on_commit_callbacks
):
    created = manager_api.post("/api/v1/webhook-endpoints/", {"url": receiver.url, "events": ["message.queued"]},
                               format="json")  # fmt: skip
    secret = created.json()["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32

    with django_capture_on_commit_callbacks(execute=True):
        _publish(org)

    [request] = receiver.requests
    assert _verifies(secret, request)
    assert request.headers["webhook-id"] == request.json["id"]
    assert request.headers["webhook-signature"].startswith("v1,")
    assert not _verifies("whsec_" + base64.b64encode(b"x" * 32).decode(), request)


def test_a_rotation_signs_with_both_secrets_until_a_manager_ends_it(
    receiver, manager_api, org, django_capture_on_commit_callbacks
):
    endpoint = endpoint_create(organization=org, url=receiver.url, events=["message.queued"])
    old = endpoint.secret
    new = endpoint_rotate_secret(endpoint=endpoint).secret
    with django_capture_on_commit_callbacks(execute=True):
        _publish(org, 1)
    during = receiver.requests[-1]

    ended = manager_api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/end-rotation/", {}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        _publish(org, 2)
    after = receiver.requests[-1]

    assert during.headers["webhook-signature"].count("v1,") == 2
    assert _verifies(new, during) and _verifies(old, during)
    assert ended.status_code == 200
    assert after.headers["webhook-signature"].count("v1,") == 1
    assert _verifies(new, after) and not _verifies(old, after)
    again = manager_api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/end-rotation/", {}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "no_rotation")


def test_a_secret_made_before_standard_webhooks_verifies_as_the_readme_says(
    receiver, org, django_capture_on_commit_callbacks
):
    endpoint = endpoint_create(organization=org, url=receiver.url, events=["message.queued"])
    legacy = "whsec_2pK0-Jm4xq_S9vY1c8Hn7tLw3aRbE6fGdZ5uQhNiVoM"  # URL-safe text, as secrets were made before
    endpoint.secret = legacy
    endpoint.save(update_fields=["secret"])
    with django_capture_on_commit_callbacks(execute=True):
        _publish(org)

    # The libraries take whsec_ + the base64 of the whole old secret (the key it always signed with).
    assert _verifies("whsec_" + base64.b64encode(legacy.encode()).decode(), receiver.requests[-1])


def test_end_rotation_without_one_changes_nothing(org):
    endpoint = endpoint_create(organization=org, url="http://127.0.0.1:9/x", events=["message.queued"])

    with pytest.raises(Exception, match="No rotation"):
        endpoint_rotation_end(endpoint=endpoint)
