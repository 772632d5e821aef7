from __future__ import annotations

from datetime import datetime, timedelta
from datetime import time as clock

import pytest
from django.utils import timezone
from freezegun import freeze_time

from interactions.services import consent_revoke
from messaging.models import Message
from tests.factories import CustomerFactory, MessageFactory, MessageTemplateFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db


def test_typed_text_is_queued_with_the_link_and_its_length(api, sendable):
    response = api.post(
        "/api/v1/messages/", {"phone_number": sendable.pk, "body": "Your unit is ready."}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert {"id", "status", "to", "body", "segments", "encoding", "created_at", "send_at"} <= set(body)
    assert (body["status"], body["to"], body["encoding"], body["send_at"]) == ("queued", "+15125550142", "GSM-7", None)
    assert body["body"].startswith("Your unit is ready.\nUnsubscribe: https://textdesk.test/u/")
    assert body["segments"] == 1
    assert Message.objects.get(pk=body["id"]).sent_by.username == "agent1"


def test_templated_text_is_sent_and_its_delivery_status_read_back(
    api, sendable, outbox, django_capture_on_commit_callbacks
):
    template = MessageTemplateFactory(organization=sendable.organization, body="Hi {{ first_name }}!")

    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/api/v1/messages/", {"phone_number": sendable.pk, "template": template.pk}, format="json")
    status = api.get(f"/api/v1/messages/{created.json()['id']}/").json()

    assert created.status_code == 201
    assert created.json()["body"].startswith(f"Hi {sendable.lead.first_name}!")
    assert [sent["message_id"] for sent in outbox] == [created.json()["id"]]
    assert status["status"] == "sent"
    assert status["sent_at"] is not None
    assert (status["error_code"], status["error_message"]) == ("", "")
    assert status["template"] == template.pk
    assert status["lead"] == sendable.lead_id


def test_failed_text_shows_the_provider_error(api, sendable):
    message = MessageFactory(
        phone_number=sendable,
        status=Message.Status.FAILED,
        error_code="21610",
        error_message="Attempt to send to unsubscribed recipient",
        failed_at=timezone.now(),
    )

    body = api.get(f"/api/v1/messages/{message.pk}/").json()

    assert (body["status"], body["error_code"]) == ("failed", "21610")
    assert body["error_message"] == "Attempt to send to unsubscribed recipient"
    assert body["failed_at"] is not None


def test_text_without_consent_is_refused_with_a_stable_code(api, facility, open_all_day):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550143")

    response = api.post("/api/v1/messages/", {"phone_number": phone.pk, "body": "Hello"}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == ("no_consent", "phone_number")
    assert "record it first" in body["detail"]
    assert not Message.objects.exists()


def test_text_to_someone_who_opted_out_is_refused(api, sendable):
    consent_revoke(organization=sendable.organization, number=sendable.number, source="sms_keyword", evidence="STOP")

    response = api.post("/api/v1/messages/", {"phone_number": sendable.pk, "body": "Hello"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "opted_out"
    assert response.json()["opted_out_at"]


def test_text_at_night_is_refused_with_the_next_allowed_time(api, consented_number):
    # 03:00 in Austin (America/Chicago, 512 area code): outside Texas's 09:00–21:00.
    with freeze_time("2030-01-15 09:00:00+00:00"):
        response = api.post("/api/v1/messages/", {"phone_number": consented_number.pk, "body": "Hi"}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == ("quiet_hours", "send_at")
    assert datetime.fromisoformat(body["next_allowed_at"]) == datetime.fromisoformat("2030-01-15T09:00:00-06:00")
    assert not Message.objects.exists()


def test_text_scheduled_for_later_is_scheduled(api, sendable):
    send_at = (timezone.now() + timedelta(days=2)).replace(microsecond=0)

    response = api.post(
        "/api/v1/messages/",
        {"phone_number": sendable.pk, "body": "Reminder", "send_at": send_at.isoformat()},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "scheduled"
    assert datetime.fromisoformat(response.json()["send_at"]) == send_at


def test_too_long_text_says_by_how_much(api, sendable):
    response = api.post("/api/v1/messages/", {"phone_number": sendable.pk, "body": "x" * 1600}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"], body["limit"]) == ("too_long", "body", 1600)
    assert "Shorten it by" in body["detail"]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"body": "Hi"}, "phone_number"),
        ({"phone_number": 999999, "body": "Hi"}, "phone_number"),
        ({"phone_number": "abc", "body": "Hi"}, "phone_number"),
        ({"phone_number": "SELF", "body": ""}, "body"),
        ({"phone_number": "SELF", "body": "Hi", "template": "TEMPLATE"}, "template"),
        ({"phone_number": "SELF", "template": 999999}, "template"),
        ({"phone_number": "SELF", "body": "Hi", "send_at": "tomorrow"}, "send_at"),
        ({"phone_number": "SELF", "body": "Hi", "send_at": "2099-01-01T10:00:00Z"}, "send_at"),
    ],
)
def test_bad_send_requests_name_the_field(api, sendable, payload, field):
    template = MessageTemplateFactory(organization=sendable.organization)
    replace = {"SELF": sendable.pk, "TEMPLATE": template.pk}
    payload = {key: replace.get(value, value) if isinstance(value, str) else value for key, value in payload.items()}

    response = api.post("/api/v1/messages/", payload, format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["field"] == field
    assert not Message.objects.exists()


def test_inactive_template_is_refused(api, sendable):
    template = MessageTemplateFactory(organization=sendable.organization, name="Old", active=False)

    response = api.post("/api/v1/messages/", {"phone_number": sendable.pk, "template": template.pk}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "inactive_template"


def test_list_filters_by_lead_customer_number_and_status(api, sendable, facility):
    customer_phone = PhoneNumberFactory(lead=None, customer=CustomerFactory(facility=facility))
    to_lead = MessageFactory(phone_number=sendable, status=Message.Status.DELIVERED)
    to_customer = MessageFactory(phone_number=customer_phone, status=Message.Status.QUEUED)

    def ids(query: str) -> list[int]:
        response = api.get(f"/api/v1/messages/?{query}")
        assert response.status_code == 200
        return [row["id"] for row in response.json()["results"]]

    assert ids(f"lead={sendable.lead_id}") == [to_lead.pk]
    assert ids(f"customer={customer_phone.customer_id}") == [to_customer.pk]
    assert ids(f"phone_number={customer_phone.pk}") == [to_customer.pk]
    assert ids("status=delivered") == [to_lead.pk]
    assert ids("") == [to_customer.pk, to_lead.pk]


def test_quiet_hours_fixture_really_opens_the_whole_day(open_all_day):
    assert (open_all_day.quiet_hours_start, open_all_day.quiet_hours_end) == (clock(0), clock(23, 59, 59, 999999))


def test_integrator_journey_customer_consent_idempotent_template_send_and_status(
    api, manager_api, other_api, facility, open_all_day, outbox, django_capture_on_commit_callbacks
):
    customer = api.post(
        "/api/v1/customers/",
        {
            "facility": facility.pk,
            "pms_id": "T-1042",
            "first_name": "James",
            "unit": "B204",
            "phone_numbers": [{"number": "+15125550142"}, {"number": "+15125550143", "label": "home"}],
        },
        format="json",
    ).json()
    mobile = customer["phone_numbers"][0]
    api.post("/api/v1/consent/", {"phone_number": mobile["id"], "action": "grant", "evidence": "signup"}, format="json")
    template = manager_api.post(
        "/api/v1/templates/", {"name": "Ready", "body": "Hi {{ first_name }}, unit {{ unit }} is ready."}, format="json"
    ).json()

    payload = {"phone_number": mobile["id"], "template": template["id"]}
    with django_capture_on_commit_callbacks(execute=True):
        sent = api.post("/api/v1/messages/", payload, format="json", HTTP_IDEMPOTENCY_KEY="ready-T-1042")
    retried = api.post("/api/v1/messages/", payload, format="json", HTTP_IDEMPOTENCY_KEY="ready-T-1042")
    status = api.get(f"/api/v1/messages/{sent.json()['id']}/").json()

    assert sent.status_code == retried.status_code == 201
    assert retried.json()["id"] == sent.json()["id"]
    assert len(outbox) == 1 and outbox[0]["body"].startswith("Hi James, unit B204 is ready.")
    assert (status["status"], status["to"]) == ("sent", "+15125550142")
    assert api.get(f"/api/v1/customers/{customer['id']}/").json()["phone_numbers"][0]["consent"]["status"] == "granted"
    # the other organization sees none of it
    assert other_api.get(f"/api/v1/messages/{sent.json()['id']}/").status_code == 404
    assert other_api.get(f"/api/v1/customers/{customer['id']}/").status_code == 404
    assert other_api.get("/api/v1/messages/", {"count": "1"}).json()["count"] == 0
    assert other_api.get("/api/v1/consent/", {"number": "+15125550142"}).json()["status"] == "none"
