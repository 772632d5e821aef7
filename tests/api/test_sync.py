"""Lossless sync: updated_since on every list, cursor pages that survive writes, unknown parameters refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from interactions.models import Lead
from interactions.services import consent_revoke, lead_update
from tests.factories import LeadFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/v1/leads/",
    "/api/v1/customers/",
    "/api/v1/phone-numbers/",
    "/api/v1/templates/",
    "/api/v1/messages/",
    "/api/v1/tasks/",
    "/api/v1/enrollments/",
    "/api/v1/workflows/",
    "/api/v1/webhook-endpoints/",
    "/api/v1/webhook-deliveries/",
    "/api/v1/api-keys/",
]


def _all(client, url: str) -> list[dict]:
    rows = []
    while url:
        body = client.get(url).json()
        rows += body["results"]
        url = body["next"]
    return rows


@pytest.mark.parametrize("path", LISTS)
def test_a_page_does_not_count_the_whole_list_unless_asked(manager_api, facility, path):
    """COUNT(*) reads every matching row: at an operator's size it cost more than the page itself."""
    LeadFactory(facility=facility)

    with CaptureQueriesContext(connection) as page:
        body = manager_api.get(path, {"page_size": 1}).json()
    counted = manager_api.get(path, {"page_size": 1, "count": "1"}).json()

    assert "count" not in body
    assert not [q["sql"] for q in page.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counted["count"] >= len(counted["results"])


@pytest.mark.parametrize("path", LISTS)
def test_every_list_takes_updated_since_a_cursor_and_page_size_and_refuses_a_typo(manager_api, path):
    later = (timezone.now() + timedelta(days=1)).isoformat().replace("+00:00", "Z")

    assert manager_api.get(path, {"updated_since": later}).json()["results"] == []
    body = manager_api.get(path, {"page_size": 1, "ordering": "updated_at"}).json()
    assert set(body) == {"next", "previous", "results"}
    typo = manager_api.get(path, {"updated_sinse": later})
    assert typo.status_code == 400
    assert typo.json()["field"] == "updated_sinse" and "Unknown query parameter" in typo.json()["detail"]


def test_phone_numbers_updated_since_filters_and_a_revocation_bumps_the_number_and_its_person(api, facility):
    with freeze_time("2030-05-01T10:00:00Z"):
        phone = PhoneNumberFactory(lead__facility=facility, number="+15125550142")
        PhoneNumberFactory(lead__facility=facility, number="+15125550143")
    with freeze_time("2030-05-02T10:00:00Z"):
        consent_revoke(organization=facility.organization, number="+15125550142", source="sms_keyword")

    since = {"updated_since": "2030-05-02T00:00:00Z"}
    numbers = api.get("/api/v1/phone-numbers/", since).json()["results"]
    leads = api.get("/api/v1/leads/", since).json()["results"]

    assert [row["id"] for row in numbers] == [phone.pk]
    assert [row["id"] for row in leads] == [phone.lead_id]
    assert leads[0]["phone_numbers"][0]["consent"]["status"] == "revoked"


def test_following_next_misses_no_row_changed_or_added_while_paging(api, facility):
    with freeze_time("2030-05-01T10:00:00Z"):
        leads = [LeadFactory(facility=facility, first_name=f"L{i}") for i in range(5)]

    first = api.get("/api/v1/leads/", {"ordering": "updated_at", "page_size": 2}).json()
    seen = [row["id"] for row in first["results"]]
    # meanwhile: a row already seen changes, and a new one arrives
    with freeze_time("2030-05-01T11:00:00Z"):
        lead_update(lead=Lead.objects.get(pk=leads[0].pk), first_name="Changed")
        added = LeadFactory(facility=facility, first_name="New")
    rest = _all(api, first["next"])

    ids = seen + [row["id"] for row in rest]
    assert set(ids) == {lead.pk for lead in leads} | {added.pk}
    assert ids[-2:] == [leads[0].pk, added.pk]  # the changed row comes again, after the rest
    assert [row["first_name"] for row in rest if row["id"] == leads[0].pk] == ["Changed"]


def test_page_size_has_a_maximum_and_ordering_only_documented_fields(api, facility):
    for i in range(3):
        LeadFactory(facility=facility, first_name=f"L{i}")

    assert len(api.get("/api/v1/leads/", {"page_size": 200}).json()["results"]) == 3
    too_many = api.get("/api/v1/leads/", {"page_size": 1000})  # beyond the schema's maximum: refused, not clamped
    assert too_many.status_code == 400 and too_many.json()["field"] == "page_size"
    wrong = api.get("/api/v1/leads/", {"ordering": "last_name"})
    assert wrong.status_code == 400 and wrong.json()["field"] == "ordering"
    assert api.get("/api/v1/leads/", {"cursor": "garbage"}).status_code == 400
    newest = api.get("/api/v1/leads/", {"ordering": "-id"}).json()["results"]
    assert [row["id"] for row in newest] == sorted((row["id"] for row in newest), reverse=True)


def test_page_numbers_still_work_during_the_deprecation_period(api, facility):
    for i in range(3):
        LeadFactory(facility=facility, first_name=f"L{i}")

    response = api.get("/api/v1/leads/", {"page": 2, "page_size": 2})

    assert response.status_code == 200
    assert response["Deprecation"] == "true"
    assert response.json()["count"] == 3 and len(response.json()["results"]) == 1
