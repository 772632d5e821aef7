"""API keys: several per organization, hashed at rest, shown once, a role, expiry, last use, revocation."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from integrations.models import ApiKey, EventType
from interactions.models import ConsentEvent

pytestmark = pytest.mark.django_db


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _create(manager_api, **fields) -> dict:
    response = manager_api.post("/api/v1/api-keys/", {"name": "PMS sync", **fields}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_manager_creates_keys_that_are_shown_once_and_stored_only_as_a_hash(manager_api):
    first = _create(manager_api)
    second = _create(manager_api, name="Website form", role="manager")

    row = ApiKey.objects.get(pk=first["id"])
    assert first["key"].startswith(f"td_{row.prefix}_") and len(first["key"]) > 40
    assert row.key_hash == hashlib.sha256(first["key"].encode()).hexdigest()
    assert first["key"] not in str(list(ApiKey.objects.values()))
    listed = manager_api.get("/api/v1/api-keys/").json()["results"]
    assert [k["name"] for k in listed] == ["PMS sync", "Website form"]
    assert all("key" not in k for k in listed)
    assert second["role"] == "manager"


def test_a_key_acts_for_its_organization_with_its_role_and_records_name_it(manager_api, facility):
    agent_key = key_client(_create(manager_api, role="agent")["key"])
    manager_key = key_client(_create(manager_api, name="Admin sync", role="manager")["key"])
    template = {"name": "Hello", "body": "Hi {{ first_name }}"}

    assert agent_key.get("/api/v1/leads/").status_code == 200
    assert agent_key.post("/api/v1/templates/", template, format="json").status_code == 403
    assert manager_key.post("/api/v1/templates/", template, format="json").status_code == 201
    agent_key.post(
        "/api/v1/consent/", {"phone_number": "+15125550142", "action": "grant", "evidence": "web form"}, format="json"
    )
    actor = ConsentEvent.objects.get().actor
    assert actor.first_name == "PMS sync" and actor.username.startswith("api-key-")


def test_a_revoked_or_expired_key_stops_working_and_a_wrong_one_never_did(manager_api, api):
    revoked = _create(manager_api)
    expiring = _create(manager_api, name="Trial", expires_at=(timezone.now() + timedelta(hours=1)).isoformat())
    assert key_client(revoked["key"]).get("/api/v1/leads/").status_code == 200

    assert api.post(f"/api/v1/api-keys/{revoked['id']}/revoke/").status_code == 403  # agents can't
    response = manager_api.post(f"/api/v1/api-keys/{revoked['id']}/revoke/")

    assert response.status_code == 200 and response.json()["revoked_at"]
    assert key_client(revoked["key"]).get("/api/v1/leads/").status_code == 401
    assert key_client(revoked["key"][:-1] + "x").get("/api/v1/leads/").status_code == 401
    with freeze_time(timezone.now() + timedelta(hours=2)):
        assert key_client(expiring["key"]).get("/api/v1/leads/").status_code == 401


def test_last_use_is_written_at_most_once_a_minute(manager_api):
    created = _create(manager_api)
    client = key_client(created["key"])
    start = timezone.now()

    with freeze_time(start):
        client.get("/api/v1/leads/")
    with freeze_time(start + timedelta(seconds=30)):
        client.get("/api/v1/leads/")
    assert ApiKey.objects.get(pk=created["id"]).last_used_at == start
    with freeze_time(start + timedelta(seconds=61)):
        client.get("/api/v1/leads/")
    assert ApiKey.objects.get(pk=created["id"]).last_used_at == start + timedelta(seconds=61)


def test_a_persons_token_of_the_first_release_still_works(api):
    assert api.get("/api/v1/leads/").status_code == 200


def test_a_manager_creates_and_revokes_a_key_in_admin_and_sees_it_once(manager_client, org):
    response = manager_client.post(
        "/admin/integrations/apikey/add/", {"name": "Nightly export", "role": "agent"}, follow=True
    )

    assert response.status_code == 200
    page = response.content.decode()
    key = page.split("The key, shown this once: ")[1].split("<")[0].strip()
    assert key_client(key).get("/api/v1/leads/").status_code == 200
    api_key = ApiKey.objects.get(name="Nightly export", organization=org)
    assert key not in manager_client.get(f"/admin/integrations/apikey/{api_key.pk}/change/").content.decode()

    manager_client.post(
        "/admin/integrations/apikey/", {"action": "revoke", "_selected_action": [api_key.pk]}, follow=True
    )
    assert key_client(key).get("/api/v1/leads/").status_code == 401
    assert not get_user_model().objects.get(pk=api_key.user_id).is_active


def test_a_manager_registers_a_webhook_endpoint_in_admin(manager_client, org):
    response = manager_client.post(
        "/admin/integrations/webhookendpoint/add/",
        {"url": "http://127.0.0.1:9/hook", "description": "CRM", "events": ["message.delivered"], "active": "on"},
        follow=True,
    )

    assert response.status_code == 200
    assert "Signing secret of the new endpoint: whsec_" in response.content.decode()
    assert org.webhook_endpoints.get().events == ["message.delivered"]


def test_the_endpoint_form_names_each_event_as_its_payload_type_does(manager_client):
    page = manager_client.get("/admin/integrations/webhookendpoint/add/").content.decode()

    for value, label in EventType.choices:
        assert f"{value} — {label}" in page


def test_a_key_cannot_revoke_itself_but_another_key_or_a_manager_can(manager_api):
    first = _create(manager_api, name="PMS sync", role="manager")
    second = _create(manager_api, name="Admin sync", role="manager")
    itself = key_client(first["key"])

    response = itself.post(f"/api/v1/api-keys/{first['id']}/revoke/")
    assert response.status_code == 409
    assert response.json()["code"] == "own_key"
    assert itself.get("/api/v1/leads/").status_code == 200

    assert key_client(second["key"]).post(f"/api/v1/api-keys/{first['id']}/revoke/").status_code == 200
    assert itself.get("/api/v1/leads/").status_code == 401
    assert manager_api.post(f"/api/v1/api-keys/{second['id']}/revoke/").status_code == 200


def test_a_webhook_secret_is_shown_once_at_creation_and_once_after_each_rotation(manager_client, org):
    created = manager_client.post(
        "/admin/integrations/webhookendpoint/add/",
        {"url": "http://127.0.0.1:9/hook", "description": "CRM", "events": ["message.delivered"], "active": "on"},
        follow=True,
    ).content.decode()
    endpoint = org.webhook_endpoints.get()
    assert endpoint.secret in created
    page = f"/admin/integrations/webhookendpoint/{endpoint.pk}/change/"
    shown = manager_client.get(page).content.decode()
    assert endpoint.secret not in shown
    assert f"whsec_…{endpoint.secret[-4:]}" in shown

    rotated = manager_client.post(
        "/admin/integrations/webhookendpoint/",
        {"action": "rotate_secret", "_selected_action": [endpoint.pk]},
        follow=True,
    ).content.decode()
    endpoint.refresh_from_db()
    assert f"shown this once: {endpoint.secret}" in rotated
    assert endpoint.secret not in manager_client.get(page).content.decode()
    assert endpoint.previous_secret not in manager_client.get(page).content.decode()
