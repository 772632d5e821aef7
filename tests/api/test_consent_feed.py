"""The consent feed (`/api/v1/consent-events/`) and the per-number evidence export."""

from __future__ import annotations

import csv
import io

from freezegun import freeze_time

from interactions.services import consent_grant, consent_revoke
from tests.factories import PhoneNumberFactory

OTHER = "+15125550143"


def _ledger(org, agent):
    consent_grant(organization=org, number=OTHER, source="web_form", evidence="quote form")
    consent_revoke(organization=org, number=OTHER, source="agent", actor=agent, evidence="asked on the phone")


def test_the_feed_lists_the_whole_organization_oldest_first_and_pages_with_a_cursor(api, consented_number, agent):
    org = consented_number.organization
    _ledger(org, agent)
    first = api.get("/api/v1/consent-events/?limit=2").json()
    assert [(e["number"], e["action"]) for e in first["results"]] == [("+15125550142", "grant"), (OTHER, "grant")]
    assert first["next"] and first["cursor"] == first["results"][-1]["id"]

    second = api.get(first["next"]).json()
    assert [(e["number"], e["action"], e["actor_name"]) for e in second["results"]] == [
        (OTHER, "revoke", agent.get_full_name())
    ]
    assert second["next"] is None

    # Later: only what was recorded since the cursor, nothing repeated.
    consent_revoke(organization=org, number="+15125550142", source="sms_keyword", evidence="STOP")
    later = api.get(f"/api/v1/consent-events/?after={second['cursor']}").json()
    assert [(e["number"], e["source"]) for e in later["results"]] == [("+15125550142", "sms_keyword")]


def test_the_feed_filters_by_number(api, consented_number, agent):
    _ledger(consented_number.organization, agent)
    body = api.get("/api/v1/consent-events/", {"number": "(512) 555-0143"}).json()
    assert [e["action"] for e in body["results"]] == ["grant", "revoke"]
    assert api.get("/api/v1/consent-events/?number=nonsense").status_code == 400


def test_a_revocation_moves_updated_since_of_the_person_and_the_number(api, consented_number):
    with freeze_time("2030-03-01T12:00:00Z"):
        consent_revoke(organization=consented_number.organization, number=consented_number.number, source="sms_keyword")
    leads = api.get("/api/v1/leads/", {"updated_since": "2030-03-01T11:59:00Z"}).json()
    assert [lead["id"] for lead in leads["results"]] == [consented_number.lead_id]
    numbers = api.get("/api/v1/phone-numbers/", {"updated_since": "2030-03-01T11:59:00Z"}).json()
    assert consented_number.pk in [n["id"] for n in numbers["results"]]


def test_the_evidence_export_lists_every_event_with_who_how_and_where(api, agent_client, consented_number, agent):
    consent_revoke(
        organization=consented_number.organization,
        number=consented_number.number,
        source="agent",
        actor=agent,
        evidence="asked on the phone",
        ip_address="203.0.113.9",
        user_agent="Firefox",
    )
    response = api.get("/api/v1/consent/evidence.csv", {"number": consented_number.e164})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert response["Content-Type"].startswith("text/csv")
    assert [(r["action"], r["source"], r["who"]) for r in rows] == [
        ("grant", "web_form", "system"),
        ("revoke", "agent", agent.get_full_name()),
    ]
    assert (rows[1]["evidence"], rows[1]["ip_address"], rows[1]["user_agent"]) == (
        "asked on the phone",
        "203.0.113.9",
        "Firefox",
    )

    page = agent_client.get(f"/phone-numbers/{consented_number.pk}/consent-evidence/").content.decode()
    assert "Consent evidence for (512) 555-0142" in page and "asked on the phone" in page and "203.0.113.9" in page
    csv_page = agent_client.get(f"/phone-numbers/{consented_number.pk}/consent-evidence/?format=csv")
    assert csv_page.content == response.content


def test_another_organization_number_has_no_evidence_page(agent_client, other_org_number):
    assert agent_client.get(f"/phone-numbers/{other_org_number.pk}/consent-evidence/").status_code == 404


def test_the_card_phone_menu_links_the_evidence(agent_client, consented_number):
    PhoneNumberFactory(lead=consented_number.lead, number="+15125550150", is_primary=False)
    html = agent_client.get(f"/leads/{consented_number.lead_id}/").content.decode()
    assert f"/phone-numbers/{consented_number.pk}/consent-evidence/" in html


def test_feed_and_export_hide_other_organizations(api, consented_number, other_org_number):
    # The other organization has a ledger for its number, and texts the same number too.
    consent_revoke(organization=other_org_number.organization, number=consented_number.number, source="api")
    feed = api.get("/api/v1/consent-events/").json()["results"]
    assert [(e["number"], e["action"]) for e in feed] == [(consented_number.e164, "grant")]
    assert api.get("/api/v1/consent-events/", {"number": other_org_number.e164}).json()["results"] == []
    export = api.get("/api/v1/consent/evidence.csv", {"number": consented_number.e164}).content.decode()
    assert export.count("\n") == 2 and "grant" in export and "revoke" not in export  # header and its own grant
    other = api.get("/api/v1/consent/evidence.csv", {"number": other_org_number.e164}).content.decode()
    assert other.count("\n") == 1  # the header only
