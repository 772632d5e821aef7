"""“Send test event”: a ``webhook.test`` event to one endpoint, through the normal pipeline (signed, logged)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from standardwebhooks.webhooks import Webhook

from integrations.models import TEST_EVENT, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from integrations.services import endpoint_create

pytestmark = pytest.mark.django_db


def test_the_api_sends_a_signed_test_event_to_that_endpoint_only(
    receiver, org, manager_api, django_capture_on_commit_callbacks
):
    endpoint = endpoint_create(organization=org, url=receiver.url, events=["consent.revoked"])
    endpoint_create(organization=org, url=receiver.url + "/other", events=["consent.revoked"])

    with django_capture_on_commit_callbacks(execute=True):
        answer = manager_api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/test/", {}, format="json")

    assert answer.status_code == 201, answer.content
    body = answer.json()
    delivery = WebhookDelivery.objects.get(pk=body["id"])
    assert (body["event_type"], body["endpoint"], body["status"]) == (TEST_EVENT, endpoint.pk, "pending")
    [request] = receiver.requests  # the other endpoint got nothing
    assert request.headers["webhook-id"] == body["event"]
    assert Webhook(endpoint.secret).verify(request.body, request.headers) == request.json
    assert request.json["type"] == TEST_EVENT
    assert request.json["data"]["endpoint"] == endpoint.pk and request.json["data"]["url"] == receiver.url
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert [a.status_code for a in WebhookAttempt.objects.filter(delivery=delivery)] == [200]
    followed = manager_api.get(f"/api/v1/webhook-deliveries/{delivery.pk}/").json()
    assert followed["status"] == "succeeded" and followed["attempt_log"][0]["status_code"] == 200


def test_a_switched_off_endpoint_gets_no_test_event(org, manager_api):
    endpoint = endpoint_create(organization=org, url="http://127.0.0.1:9/hook", events=["message.sent"], active=False)

    answer = manager_api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/test/", {}, format="json")

    assert (answer.status_code, answer.json()["code"]) == (409, "endpoint_disabled")
    assert not WebhookDelivery.objects.exists()


def test_agents_cannot_send_test_events(org, api):
    endpoint = endpoint_create(organization=org, url="http://127.0.0.1:9/hook", events=["message.sent"])

    assert api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/test/", {}, format="json").status_code == 403
    assert not WebhookDelivery.objects.exists()


def test_the_admin_action_sends_a_test_event_and_names_the_delivery(
    receiver, org, manager_client, django_capture_on_commit_callbacks
):
    endpoint = endpoint_create(organization=org, url=receiver.url, events=["message.sent"])

    with django_capture_on_commit_callbacks(execute=True):
        page = manager_client.post(
            reverse("admin:integrations_webhookendpoint_changelist"),
            {"action": "send_test", "_selected_action": [endpoint.pk]},
            follow=True,
        )

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert f"delivery {delivery.pk}" in page.content.decode()
    assert receiver.types() == [TEST_EVENT]
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).active
