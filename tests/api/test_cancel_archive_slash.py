"""Cancel a scheduled or queued text, archive a template, and API paths without their trailing slash."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Message, MessageTemplate
from messaging.services import message_claim, message_queue
from tests.factories import MessageFactory, MessageTemplateFactory

pytestmark = pytest.mark.django_db


def test_a_scheduled_text_is_canceled_and_never_sent(api, sendable, agent, outbox):
    message = message_queue(
        phone_number=sendable, sent_by=agent, body="Later", send_at=timezone.now() + timedelta(days=1)
    )

    response = api.post(f"/api/v1/messages/{message.pk}/cancel/")

    assert response.status_code == 200
    assert response.json()["status"] == "canceled" and response.json()["canceled_at"]
    assert api.post(f"/api/v1/messages/{message.pk}/cancel/").status_code == 200  # again: same answer
    Message.objects.filter(pk=message.pk).move_to(Message.Status.QUEUED, now=timezone.now())  # the release sweep
    assert message_claim(message_id=message.pk) is None
    assert Message.objects.get(pk=message.pk).status == "canceled"
    assert outbox == []


def test_a_queued_text_canceled_before_the_worker_claims_it_is_not_sent(api, sendable):
    message = MessageFactory(phone_number=sendable, status=Message.Status.QUEUED)

    assert api.post(f"/api/v1/messages/{message.pk}/cancel/").status_code == 200
    assert message_claim(message_id=message.pk) is None


@pytest.mark.parametrize("status", ["sending", "sent", "delivered", "failed"])
def test_a_text_whose_sending_started_cannot_be_canceled(api, sendable, status):
    message = MessageFactory(phone_number=sendable, status=status)

    response = api.post(f"/api/v1/messages/{message.pk}/cancel/")

    assert response.status_code == 409
    assert response.json()["code"] == "not_cancelable"
    assert Message.objects.get(pk=message.pk).status == status


def test_an_archived_template_leaves_the_list_and_can_no_longer_be_sent(manager_api, api, org, sendable):
    template = MessageTemplateFactory(organization=org)

    assert api.post(f"/api/v1/templates/{template.pk}/archive/").status_code == 403  # managers only
    response = manager_api.post(f"/api/v1/templates/{template.pk}/archive/")

    assert response.status_code == 200 and response.json()["archived_at"] and not response.json()["active"]
    assert template.pk not in [row["id"] for row in api.get("/api/v1/templates/").json()["results"]]
    assert [row["id"] for row in api.get("/api/v1/templates/", {"archived": "true"}).json()["results"]] == [template.pk]
    refused = api.post("/api/v1/messages/", {"phone_number": sendable.pk, "template": template.pk}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "inactive_template"
    assert MessageTemplate.objects.get(pk=template.pk).archived_at is not None


@pytest.mark.parametrize("debug", [False, True])
def test_a_post_without_the_trailing_slash_creates_the_customer(api, facility, settings, debug):
    settings.DEBUG = debug

    response = api.post(
        "/api/v1/customers", {"facility": facility.pk, "pms_id": "T-1", "first_name": "James"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["first_name"] == "James"
    assert api.get(f"/api/v1/customers/{response.json()['id']}").json()["pms_id"] == "T-1"


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_path_without_a_slash_answers_a_json_404(api, settings, debug):
    settings.DEBUG = debug

    for response in (api.get("/api/v1/nothing-here"), api.post("/api/v1/nothing/here", {}, format="json")):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
