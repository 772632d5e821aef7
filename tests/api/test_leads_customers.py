from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from interactions.models import Customer, Lead, PhoneNumber
from interactions.services import consent_grant, consent_revoke
from tests.factories import CustomerFactory, FacilityFactory, LeadFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db


def test_customer_is_created_with_two_local_numbers_in_one_call(api, facility):
    response = api.post(
        "/api/v1/customers/",
        {
            "facility": facility.pk,
            "pms_id": "T-1042",
            "first_name": "James",
            "last_name": "Chen",
            "phone_numbers": [
                {"number": "+15125550142", "label": "mobile"},
                {"number": "(512) 555-0143", "label": "home"},
            ],
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "current"
    numbers = body["phone_numbers"]
    assert [(n["number"], n["label"], n["is_primary"], n["source"]) for n in numbers] == [
        ("+15125550142", "mobile", True, "local"),
        ("+15125550143", "home", False, "local"),
    ]
    assert numbers[0]["consent"] == {"status": "none", "source": None, "at": None}
    assert Customer.objects.get(pk=body["id"]).phone_numbers.count() == 2


def test_primary_flag_on_a_later_number_wins(api, facility):
    response = api.post(
        "/api/v1/leads/",
        {
            "facility": facility.pk,
            "first_name": "Maria",
            "phone_numbers": [{"number": "+15125550142"}, {"number": "+15125550143", "is_primary": True}],
        },
        format="json",
    )

    assert response.status_code == 201
    primary = [n["number"] for n in response.json()["phone_numbers"] if n["is_primary"]]
    assert primary == ["+15125550143"]


def test_a_bad_second_number_names_it_and_writes_nothing(api, facility):
    response = api.post(
        "/api/v1/leads/",
        {
            "facility": facility.pk,
            "first_name": "Maria",
            "phone_numbers": [{"number": "+15125550142"}, {"number": "12"}],
        },
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_number"
    assert body["field"] == "phone_numbers[1].number"
    assert "12" in body["detail"]
    assert not Lead.objects.exists()
    assert not PhoneNumber.objects.exists()


def test_missing_fields_are_named_with_a_code(api):
    response = api.post("/api/v1/leads/", {"last_name": "Lopez"}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["errors"]) == {"facility", "first_name"}
    assert body["field"] in {"facility", "first_name"}


def test_another_organizations_facility_is_refused_by_name(api, other_facility):
    response = api.post("/api/v1/leads/", {"facility": other_facility.pk, "first_name": "Maria"}, format="json")

    assert response.status_code == 400
    assert response.json()["field"] == "facility"
    assert not Lead.objects.exists()


def test_duplicate_pms_id_in_a_facility_is_refused_on_pms_id(api, facility):
    CustomerFactory(facility=facility, pms_id="T-1")

    response = api.post(
        "/api/v1/customers/", {"facility": facility.pk, "pms_id": "T-1", "first_name": "Cass"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "duplicate_pms_id"
    assert response.json()["field"] == "pms_id"
    assert Customer.objects.count() == 1


def test_lead_is_updated_and_numbers_are_not_changed_through_it(api, facility):
    lead = LeadFactory(facility=facility, first_name="Maria", status=Lead.Status.NEW)

    response = api.patch(f"/api/v1/leads/{lead.pk}/", {"status": "reserved"}, format="json")
    refused = api.patch(f"/api/v1/leads/{lead.pk}/", {"phone_numbers": []}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "reserved"
    lead.refresh_from_db()
    assert lead.status == Lead.Status.RESERVED
    assert refused.status_code == 400
    assert refused.json()["field"] == "phone_numbers"


def test_customer_put_replaces_details(api, facility):
    customer = CustomerFactory(facility=facility, first_name="Cass", unit="A1")

    response = api.put(
        f"/api/v1/customers/{customer.pk}/",
        {"facility": facility.pk, "pms_id": customer.pms_id, "first_name": "Cassie", "balance_due": "12.50"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    customer.refresh_from_db()
    assert (customer.first_name, customer.balance_due) == ("Cassie", Decimal("12.50"))
    assert response.json()["status"] == "balance_due"


def test_list_is_paginated_and_shows_each_numbers_consent(api, facility):
    lead = LeadFactory(facility=facility)
    granted = PhoneNumberFactory(lead=lead, number="+15125550142")
    PhoneNumberFactory(lead=lead, number="+15125550143", is_primary=False)
    consent_grant(organization=facility.organization, number=granted.number, source="web_form", evidence="form")

    body = api.get("/api/v1/leads/", {"count": "1"}).json()

    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 1
    consents = {n["number"]: n["consent"] for n in body["results"][0]["phone_numbers"]}
    assert consents["+15125550142"]["status"] == "granted"
    assert consents["+15125550142"]["source"] == "web_form"
    assert consents["+15125550143"] == {"status": "none", "source": None, "at": None}


@pytest.mark.parametrize("path, factory", [("/api/v1/leads/", LeadFactory), ("/api/v1/customers/", CustomerFactory)])
def test_list_queries_do_not_grow_with_the_page(api, facility, path, factory):
    def add_people(count: int) -> None:
        for _ in range(count):
            person = factory(facility=facility)
            owner = {"lead": person} if isinstance(person, Lead) else {"lead": None, "customer": person}
            phone = PhoneNumberFactory(**owner)
            PhoneNumberFactory(**owner, is_primary=False)
            consent_grant(organization=facility.organization, number=phone.number, source="web_form", evidence="f")

    add_people(2)
    with CaptureQueriesContext(connection) as few:
        assert api.get(path).status_code == 200
    add_people(8)
    with CaptureQueriesContext(connection) as many:
        assert len(api.get(path).json()["results"]) == 10

    assert len(many) == len(few)


def test_filters_by_facility_status_and_updated_since(api, facility):
    other_facility = FacilityFactory(organization=facility.organization, name="Lakeside Round Rock")
    new = LeadFactory(facility=facility, status=Lead.Status.NEW)
    lost = LeadFactory(facility=facility, status=Lead.Status.LOST)
    elsewhere = LeadFactory(facility=other_facility, status=Lead.Status.NEW)
    Lead.objects.filter(pk=new.pk).update(updated_at=timezone.now() - timedelta(days=3))

    def ids(query: str) -> set[int]:
        response = api.get(f"/api/v1/leads/?{query}")
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    since = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"facility={facility.pk}") == {new.pk, lost.pk}
    assert ids("status=lost") == {lost.pk}
    assert ids(f"updated_since={since}") == {lost.pk, elsewhere.pk}


def test_customer_status_filter_splits_by_balance(api, facility):
    owing = CustomerFactory(facility=facility, balance_due=Decimal("40.00"))
    CustomerFactory(facility=facility, balance_due=Decimal("0"))

    body = api.get("/api/v1/customers/?status=balance_due").json()

    assert [row["id"] for row in body["results"]] == [owing.pk]


@pytest.mark.parametrize("query", ["status=bogus", "updated_since=yesterday", "facility=abc", "facility=1e30"])
def test_a_bad_filter_value_is_a_400_naming_it(api, query):
    response = api.get(f"/api/v1/leads/?{query}")

    assert response.status_code == 400
    assert response.json()["field"] == query.split("=")[0]


def test_revoked_consent_is_shown_as_revoked(api, facility):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550142")
    consent_revoke(organization=facility.organization, number=phone.number, source="agent", evidence="asked")

    body = api.get(f"/api/v1/leads/{phone.lead_id}/").json()

    assert body["phone_numbers"][0]["consent"]["status"] == "revoked"
    assert body["phone_numbers"][0]["consent"]["source"] == "agent"


def test_error_in_a_nested_number_names_its_position(api, facility):
    response = api.post(
        "/api/v1/leads/",
        {"facility": facility.pk, "first_name": "Maria", "phone_numbers": [{"number": "+15125550142"}, {"label": "x"}]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["field"] == "phone_numbers[1].number"  # missing; "x" is not a label either
    assert set(response.json()["errors"]["phone_numbers"]["1"]) == {"number", "label"}


@pytest.mark.parametrize(
    "payload, content_type, status, code",
    [
        ("{not json", "application/json", 400, "parse_error"),
        ("[1, 2]", "application/json", 400, "invalid"),
        ("first_name=Maria", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_malformed_bodies_get_a_4xx_in_the_error_shape(api, payload, content_type, status, code):
    response = api.generic("POST", "/api/v1/leads/", payload, content_type=content_type)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["detail"]


def test_unknown_ids_and_urls_answer_json_404(api):
    for url in ("/api/v1/leads/99999999999999999999/", "/api/v1/leads/abc/", "/api/v1/nothing/"):
        response = api.get(url)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
