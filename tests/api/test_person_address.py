"""A person's state and ZIP code (which state's texting law applies): the API, the PMS import and admin take them."""

from __future__ import annotations

from io import StringIO

from interactions.models import Customer, Lead
from interactions.pms import import_pms_customers


def test_the_api_takes_a_lead_state_and_zip_and_refuses_a_typo(api, facility):
    created = api.post(
        "/api/v1/leads/",
        {"facility": facility.pk, "first_name": "Rosa", "state": "fl", "postal_code": "33101"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert (created.json()["state"], created.json()["postal_code"]) == ("FL", "33101")

    typo = api.patch(f"/api/v1/leads/{created.json()['id']}/", {"postal_code": "3310"}, format="json")
    assert (typo.status_code, typo.json()["code"], typo.json()["field"]) == (400, "invalid_postal_code", "postal_code")
    assert api.patch(f"/api/v1/leads/{created.json()['id']}/", {"state": "Florida"}, format="json").json()["field"] == (
        "state"
    )
    assert Lead.objects.get().state == "FL"


def test_the_pms_import_takes_the_address_and_a_file_without_it_keeps_it(facility):
    org = facility.organization
    with_address = f"facility,pms_id,first_name,state,postal_code\n{facility.name},T-1,Ana,OK,74103\n"
    assert import_pms_customers(organization=org, stream=StringIO(with_address)).errors == []
    assert (Customer.objects.get().state, Customer.objects.get().postal_code) == ("OK", "74103")

    without = f"facility,pms_id,first_name\n{facility.name},T-1,Ana\n"
    import_pms_customers(organization=org, stream=StringIO(without))
    assert Customer.objects.get().state == "OK"


def test_a_manager_sets_the_state_in_admin(client, manager, facility):
    client.force_login(manager)
    lead = Lead.objects.create(organization=facility.organization, facility=facility, first_name="Ben")
    page = client.get(f"/admin/interactions/lead/{lead.pk}/change/").content.decode()
    assert 'name="state"' in page and 'name="postal_code"' in page
