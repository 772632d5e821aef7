from __future__ import annotations

import pytest

from interactions.models import PhoneNumber
from tests.factories import CustomerFactory, LeadFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db


def test_number_added_to_a_customer_is_local_and_first_becomes_primary(api, facility):
    customer = CustomerFactory(facility=facility)

    response = api.post(
        "/api/v1/phone-numbers/", {"customer": customer.pk, "number": "512-555-0142", "label": "work"}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["number"], body["label"], body["source"], body["is_primary"]) == (
        "+15125550142",
        "work",
        "local",
        True,
    )
    assert (body["customer"], body["lead"]) == (customer.pk, None)
    assert body["consent"]["status"] == "none"


def test_adding_a_number_already_on_the_record_is_refused(api, facility):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550142")

    response = api.post("/api/v1/phone-numbers/", {"lead": phone.lead_id, "number": "+15125550142"}, format="json")

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("duplicate_number", "number")


def test_a_number_needs_exactly_one_owner(api, facility):
    lead = LeadFactory(facility=facility)
    customer = CustomerFactory(facility=facility)

    both = api.post(
        "/api/v1/phone-numbers/", {"lead": lead.pk, "customer": customer.pk, "number": "+15125550142"}, format="json"
    )
    neither = api.post("/api/v1/phone-numbers/", {"number": "+15125550142"}, format="json")

    assert both.status_code == neither.status_code == 400
    assert both.json()["field"] == "lead"
    assert not PhoneNumber.objects.exists()


def test_unparseable_number_names_the_field(api, facility):
    lead = LeadFactory(facility=facility)

    response = api.post("/api/v1/phone-numbers/", {"lead": lead.pk, "number": "call me maybe"}, format="json")

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("invalid_number", "number")


def test_set_primary_moves_the_primary_flag(api, facility):
    first = PhoneNumberFactory(lead__facility=facility, number="+15125550142")
    second = PhoneNumberFactory(lead=first.lead, number="+15125550143", is_primary=False)

    response = api.post(f"/api/v1/phone-numbers/{second.pk}/set-primary/")

    assert response.status_code == 200
    assert response.json()["is_primary"] is True
    first.refresh_from_db()
    assert first.is_primary is False


def test_deleting_a_local_primary_number_promotes_the_next_one(api, facility):
    first = PhoneNumberFactory(lead__facility=facility, number="+15125550142")
    second = PhoneNumberFactory(lead=first.lead, number="+15125550143", is_primary=False)

    response = api.delete(f"/api/v1/phone-numbers/{first.pk}/")

    assert response.status_code == 204
    assert not PhoneNumber.objects.filter(pk=first.pk).exists()
    second.refresh_from_db()
    assert second.is_primary is True


def test_a_pms_number_cannot_be_deleted_here(api, facility):
    phone = PhoneNumberFactory(
        lead=None, customer=CustomerFactory(facility=facility), source=PhoneNumber.Source.PMS, number="+15125550142"
    )

    response = api.delete(f"/api/v1/phone-numbers/{phone.pk}/")

    assert response.status_code == 400
    assert response.json()["code"] == "pms_number"
    assert "property management system" in response.json()["detail"]
    assert PhoneNumber.objects.filter(pk=phone.pk).exists()


def test_list_filters_by_owner(api, facility):
    phone = PhoneNumberFactory(lead__facility=facility)
    PhoneNumberFactory(lead__facility=facility)

    body = api.get(f"/api/v1/phone-numbers/?lead={phone.lead_id}").json()

    assert [row["id"] for row in body["results"]] == [phone.pk]
