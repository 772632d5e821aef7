from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from interactions.models import ConsentEvent, Lead, PhoneNumber
from interactions.services import consent_grant
from messaging.models import Message, MessageMedia, MessageTemplate
from messaging.services import media_create
from tests.api.conftest import token_client
from tests.factories import (
    CustomerFactory,
    LeadFactory,
    MessageFactory,
    MessageTemplateFactory,
    PhoneNumberFactory,
    UserFactory,
)
from tests.pictures import jpeg, png

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(facility):
    """One of everything in ``org``; the other organization's token must see none of it."""
    lead = LeadFactory(facility=facility, first_name="Maria")
    lead_phone = PhoneNumberFactory(lead=lead, number="+15125550142")
    customer = CustomerFactory(facility=facility)
    customer_phone = PhoneNumberFactory(lead=None, customer=customer, number="+15125550143")
    consent_grant(organization=facility.organization, number=lead_phone.number, source="web_form", evidence="form")
    template = MessageTemplateFactory(organization=facility.organization)
    message = MessageFactory(phone_number=lead_phone)
    picture = media_create(organization=facility.organization, file=jpeg())
    failed_mms = MessageFactory(phone_number=lead_phone, status="failed", error_code="30019", media_count=1)
    MessageMedia.objects.create(organization=facility.organization, message=failed_mms, media=picture, position=0)
    return {
        "picture": picture,
        "failed_mms": failed_mms,
        "lead": lead,
        "customer": customer,
        "lead_phone": lead_phone,
        "customer_phone": customer_phone,
        "template": template,
        "message": message,
    }


OBJECT_ENDPOINTS = [
    ("get", "/api/v1/leads/{lead}/", None),
    ("put", "/api/v1/leads/{lead}/", {"facility": "FACILITY", "first_name": "X"}),
    ("patch", "/api/v1/leads/{lead}/", {"first_name": "X"}),
    ("get", "/api/v1/customers/{customer}/", None),
    ("put", "/api/v1/customers/{customer}/", {"facility": "FACILITY", "first_name": "X", "pms_id": "P"}),
    ("patch", "/api/v1/customers/{customer}/", {"first_name": "X"}),
    ("get", "/api/v1/phone-numbers/{lead_phone}/", None),
    ("delete", "/api/v1/phone-numbers/{customer_phone}/", None),
    ("post", "/api/v1/phone-numbers/{customer_phone}/set-primary/", None),
    ("get", "/api/v1/templates/{template}/", None),
    ("put", "/api/v1/templates/{template}/", {"name": "X", "body": "Hi", "category": "general"}),
    ("patch", "/api/v1/templates/{template}/", {"body": "Hi"}),
    ("post", "/api/v1/templates/{template}/archive/", None),
    ("get", "/api/v1/messages/{message}/", None),
    ("post", "/api/v1/messages/{message}/cancel/", None),
    ("post", "/api/v1/messages/{failed_mms}/resend-without-media/", None),
    ("get", "/api/v1/media/{picture}/", None),
    ("get", "/api/v1/media/{picture}/content/", None),
]


@pytest.mark.parametrize("method, path, payload", OBJECT_ENDPOINTS)
def test_another_organizations_ids_answer_404(world, other_api, other_facility, method, path, payload):
    url = path.format(**{name: obj.pk for name, obj in world.items()})
    if payload and payload.get("facility") == "FACILITY":
        payload = {**payload, "facility": other_facility.pk}

    response = getattr(other_api, method)(url, payload, format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "Maria" not in response.content.decode()
    # nothing changed
    assert Lead.objects.get(pk=world["lead"].pk).first_name == "Maria"
    assert PhoneNumber.objects.filter(pk=world["customer_phone"].pk, is_primary=True).exists()
    assert MessageTemplate.objects.get(pk=world["template"].pk).body == world["template"].body
    assert MessageTemplate.objects.get(pk=world["template"].pk).archived_at is None
    assert Message.objects.get(pk=world["message"].pk).status == world["message"].status
    assert Message.objects.filter(to_number=world["lead_phone"].number).count() == 2  # nothing resent


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/leads/",
        "/api/v1/customers/",
        "/api/v1/phone-numbers/",
        "/api/v1/templates/",
        "/api/v1/messages/",
        "/api/v1/media/",
    ],
)
def test_lists_never_include_another_organizations_rows(world, api, other_api, other_facility, path):
    # the other organization has rows of its own, which it does see
    other_lead = LeadFactory(facility=other_facility)
    other_phone = PhoneNumberFactory(lead=other_lead, number="+15125550142")
    MessageTemplateFactory(organization=other_facility.organization)
    MessageFactory(phone_number=other_phone)
    CustomerFactory(facility=other_facility)
    media_create(organization=other_facility.organization, file=png())

    mine = {row["id"] for row in api.get(path).json()["results"]}
    theirs = {row["id"] for row in other_api.get(path).json()["results"]}

    assert mine and theirs
    assert not mine & theirs


@pytest.mark.parametrize(
    "path, filters",
    [
        ("/api/v1/messages/", "lead={lead}"),
        ("/api/v1/messages/", "phone_number={lead_phone}"),
        ("/api/v1/phone-numbers/", "customer={customer}"),
    ],
)
def test_filtering_by_another_organizations_ids_finds_nothing(world, other_api, path, filters):
    query = filters.format(**{name: obj.pk for name, obj in world.items()})

    body = other_api.get(f"{path}?{query}").json()

    assert body["results"] == []


def test_consent_of_a_number_is_per_organization(world, other_api):
    body = other_api.get("/api/v1/consent/", {"number": "+15125550142"}).json()

    assert (body["status"], body["history"]) == ("none", [])


def test_writes_cannot_reach_another_organizations_records(world, other_api):
    number = other_api.post(
        "/api/v1/phone-numbers/", {"lead": world["lead"].pk, "number": "+15125550150"}, format="json"
    )
    text = other_api.post("/api/v1/messages/", {"phone_number": world["lead_phone"].pk, "body": "Hi"}, format="json")
    consent = other_api.post(
        "/api/v1/consent/", {"phone_number": world["lead_phone"].pk, "action": "revoke"}, format="json"
    )

    assert (number.status_code, text.status_code, consent.status_code) == (400, 400, 400)
    assert (number.json()["field"], text.json()["field"], consent.json()["field"]) == (
        "lead",
        "phone_number",
        "phone_number",
    )
    assert PhoneNumber.objects.count() == 2
    assert Message.objects.count() == 2  # the two of the world
    assert ConsentEvent.objects.count() == 1


ALL_ENDPOINTS = [
    ("get", "/api/v1/leads/"),
    ("post", "/api/v1/leads/"),
    ("get", "/api/v1/customers/"),
    ("get", "/api/v1/phone-numbers/"),
    ("get", "/api/v1/consent/?number=%2B15125550142"),
    ("post", "/api/v1/consent/"),
    ("get", "/api/v1/templates/"),
    ("get", "/api/v1/messages/"),
    ("post", "/api/v1/messages/"),
    ("get", "/api/v1/leads/{lead}/"),
    ("get", "/api/v1/messages/{message}/"),
]


@pytest.mark.parametrize("method, path", ALL_ENDPOINTS)
def test_a_user_without_organization_gets_403_saying_why(world, method, path):
    client = token_client(UserFactory(username="loner"))

    response = getattr(client, method)(path.format(**{k: v.pk for k, v in world.items()}), {}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "no_organization"
    assert "not part of an organization" in response.json()["detail"]


@pytest.mark.parametrize("method, path", ALL_ENDPOINTS)
def test_no_or_wrong_token_gets_401(world, method, path):
    anonymous = APIClient()
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    url = path.format(**{k: v.pk for k, v in world.items()})

    for client in (anonymous, wrong):
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code == 401
        assert response.json()["code"] in {"not_authenticated", "authentication_failed"}
        assert response["WWW-Authenticate"] == "Token"


def test_browser_session_works_too(agent_client, world):
    response = agent_client.get("/api/v1/leads/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1
