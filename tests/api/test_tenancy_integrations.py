"""Cross-organization 404 for webhook endpoints, deliveries and API keys (API and admin), and lists
that never show another organization's rows; tests/security/test_tenancy_coverage.py counts these."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.models import ApiKey, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from integrations.services import api_key_create, delivery_attempt, endpoint_create, event_publish

pytestmark = pytest.mark.django_db

INTEGRATION_OBJECT_ENDPOINTS = [
    ("get", "/api/v1/webhook-endpoints/{endpoint}/", None),
    ("put", "/api/v1/webhook-endpoints/{endpoint}/", {"url": "http://127.0.0.1:9/x", "events": ["message.sent"]}),
    ("patch", "/api/v1/webhook-endpoints/{endpoint}/", {"active": False}),
    ("post", "/api/v1/webhook-endpoints/{endpoint}/rotate-secret/", None),
    ("post", "/api/v1/webhook-endpoints/{endpoint}/end-rotation/", None),
    ("post", "/api/v1/webhook-endpoints/{endpoint}/test/", None),
    ("get", "/api/v1/webhook-endpoints/{endpoint}/deliveries/", None),
    ("get", "/api/v1/webhook-deliveries/{delivery}/", None),
    ("post", "/api/v1/webhook-deliveries/{delivery}/redeliver/", None),
    ("get", "/api/v1/api-keys/{api_key}/", None),
    ("post", "/api/v1/api-keys/{api_key}/revoke/", None),
]
INTEGRATIONS_ADMINS = [WebhookEndpoint, WebhookDelivery, WebhookAttempt, ApiKey]


def _rows(organization) -> dict:
    endpoint = endpoint_create(
        organization=organization, url="http://127.0.0.1:9/rival-secret-hook", events=["message.queued"]
    )
    event_publish(organization_id=organization.pk, type="message.queued", object_type="message", object_id=1,
                  data=lambda: {"id": 1})  # fmt: skip
    api_key, _ = api_key_create(organization=organization, name="Rival secret sync")
    delivery = endpoint.deliveries.get()
    delivery_attempt(delivery_id=delivery.pk)  # nothing listens on port 9: one failed attempt, logged
    return {"endpoint": endpoint, "delivery": delivery, "attempt": delivery.attempt_log.get(), "api_key": api_key}


@pytest.fixture
def mine(org):
    return _rows(org)


@pytest.mark.parametrize("method, path, payload", INTEGRATION_OBJECT_ENDPOINTS)
def test_another_organizations_endpoints_deliveries_and_keys_answer_404(mine, other_api, method, path, payload):
    endpoint = mine["endpoint"]

    response = getattr(other_api, method)(path.format(**{k: v.pk for k, v in mine.items()}), payload, format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "secret" not in response.content.decode()
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.previous_secret) == (True, "")
    assert WebhookDelivery.objects.count() == 1
    assert ApiKey.objects.get(pk=mine["api_key"].pk).revoked_at is None


@pytest.mark.parametrize("path", ["/api/v1/webhook-endpoints/", "/api/v1/webhook-deliveries/", "/api/v1/api-keys/"])
def test_integration_lists_never_include_another_organizations_rows(mine, manager_api, other_api, other_org, path):
    _rows(other_org)

    ours = {row["id"] for row in manager_api.get(path).json()["results"]}
    theirs = {row["id"] for row in other_api.get(path).json()["results"]}

    assert ours and theirs
    assert not ours & theirs


@pytest.mark.parametrize("model", INTEGRATIONS_ADMINS, ids=lambda m: m._meta.model_name)
def test_another_organizations_integration_rows_answer_404_in_admin(model, other_org, manager_client, agent_client):
    theirs = {WebhookEndpoint: "endpoint", WebhookDelivery: "delivery", WebhookAttempt: "attempt", ApiKey: "api_key"}
    row = _rows(other_org)[theirs[model]]
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}"

    for view in ("change", "delete", "history"):
        response = manager_client.get(reverse(f"{name}_{view}", args=[row.pk]))
        assert response.status_code == 404, view
        assert "rival" not in response.content.decode().lower()
    assert manager_client.post(reverse(f"{name}_change", args=[row.pk]), {"name": "x"}).status_code in (403, 404)
    assert "rival" not in manager_client.get(reverse(f"{name}_changelist")).content.decode().lower()
    assert agent_client.get(reverse(f"{name}_changelist")).status_code == 403  # managers only
