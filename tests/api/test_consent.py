from __future__ import annotations

import pytest

from interactions.models import Consent, ConsentEvent
from interactions.services import consent_revoke
from tests.factories import PhoneNumberFactory

pytestmark = pytest.mark.django_db


def test_grant_by_e164_string_is_recorded_with_evidence_and_who(api, agent, facility):
    response = api.post(
        "/api/v1/consent/",
        {"phone_number": "+15125550142", "action": "grant", "evidence": "Web quote form, checkbox"},
        format="json",
        HTTP_USER_AGENT="crm-sync/1.0",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["number"], body["status"], body["source"]) == ("+15125550142", "granted", "api")
    event = body["history"][0]
    assert (event["action"], event["evidence"], event["actor"], event["user_agent"]) == (
        "grant",
        "Web quote form, checkbox",
        agent.username,
        "crm-sync/1.0",
    )
    assert Consent.objects.get(organization=facility.organization, number="+15125550142").status == "granted"


def test_grant_by_saved_number_id(api, facility):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550142")

    response = api.post(
        "/api/v1/consent/", {"phone_number": phone.pk, "action": "grant", "evidence": "verbal"}, format="json"
    )

    assert response.status_code == 201
    lead = api.get(f"/api/v1/leads/{phone.lead_id}/").json()
    assert lead["phone_numbers"][0]["consent"]["status"] == "granted"


def test_grant_without_evidence_is_refused_on_evidence(api, facility):
    response = api.post("/api/v1/consent/", {"phone_number": "+15125550142", "action": "grant"}, format="json")

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("evidence_required", "evidence")
    assert not ConsentEvent.objects.exists()


def test_grant_after_the_person_opted_out_is_a_409_saying_only_they_can(api, facility):
    consent_revoke(organization=facility.organization, number="+15125550142", source="sms_keyword", evidence="STOP")

    response = api.post(
        "/api/v1/consent/",
        {"phone_number": "+15125550142", "action": "grant", "evidence": "they said yes"},
        format="json",
    )

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "opted_out"
    assert "START" in body["detail"]
    assert body["opted_out_at"]
    assert Consent.objects.get(number="+15125550142").status == "revoked"


def test_revoke_then_read_state_and_history(api, facility):
    api.post("/api/v1/consent/", {"phone_number": "+15125550142", "action": "grant", "evidence": "form"}, format="json")
    api.post("/api/v1/consent/", {"phone_number": "+15125550142", "action": "revoke"}, format="json")

    response = api.get("/api/v1/consent/", {"number": "+1 512 555 0142"})

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["source"], body["opted_out_at"]) == ("revoked", "api", None)
    assert [e["action"] for e in body["history"]] == ["revoke", "grant"]


def test_state_of_an_unknown_number_is_none(api):
    body = api.get("/api/v1/consent/", {"number": "+15125550199"}).json()

    assert (body["status"], body["history"]) == ("none", [])


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"phone_number": "not a number", "action": "grant", "evidence": "x"}, "phone_number"),
        ({"phone_number": 987654, "action": "grant", "evidence": "x"}, "phone_number"),
        ({"phone_number": ["+15125550142"], "action": "grant", "evidence": "x"}, "phone_number"),
        ({"phone_number": "+15125550142", "action": "maybe"}, "action"),
    ],
)
def test_bad_consent_requests_name_the_field(api, payload, field):
    response = api.post("/api/v1/consent/", payload, format="json")

    assert response.status_code == 400
    assert response.json()["field"] == field


def test_reading_consent_needs_a_valid_number(api):
    missing = api.get("/api/v1/consent/")
    bad = api.get("/api/v1/consent/", {"number": "12"})

    assert missing.status_code == bad.status_code == 400
    assert missing.json()["field"] == bad.json()["field"] == "number"


def test_another_organizations_saved_number_id_is_unknown(api, other_org):
    phone = PhoneNumberFactory(lead__facility__organization=other_org)

    response = api.post(
        "/api/v1/consent/", {"phone_number": phone.pk, "action": "revoke", "evidence": ""}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["field"] == "phone_number"
    assert not ConsentEvent.objects.exists()
