"""The interaction cards: what they show, tenancy, and a query count that ignores history length."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from interactions.models import PhoneNumber
from interactions.services import consent_grant, consent_revoke
from tests.factories import CustomerFactory, HistoryFactory, LeadFactory, MessageTemplateFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db


def test_lead_card_ribbon_shows_name_facility_status_primary_number_and_text_icon(agent_client, consented_number):
    lead = consented_number.lead
    html = agent_client.get(f"/leads/{lead.pk}/").content.decode()
    assert 'aria-label="Information ribbon"' in html
    assert lead.full_name in html
    assert lead.facility.name in html
    assert lead.get_status_display() in html
    assert "(512) 555-0142" in html
    assert f'hx-get="{reverse("text_panel", args=[consented_number.pk])}"' in html
    assert 'aria-label="Text (512) 555-0142 (primary)"' in html


def test_customer_card_lists_other_numbers_and_says_added_numbers_stay_here(agent_client, facility):
    customer = CustomerFactory(facility=facility, balance_due="45.00")
    PhoneNumberFactory(lead=None, customer=customer, number="+15125550160", source=PhoneNumber.Source.PMS)
    PhoneNumberFactory(
        lead=None, customer=customer, number="+15125550161", is_primary=False, label=PhoneNumber.Label.WORK
    )
    html = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    assert "Balance due" in html
    assert "(512) 555-0161" in html and "Work" in html
    assert "Numbers added here stay in Textdesk and are not sent to your PMS." in html


def test_record_with_no_other_numbers_offers_only_add_new(agent_client, consented_number):
    html = agent_client.get(f"/leads/{consented_number.lead.pk}/").content.decode()
    assert "Add New" in html
    assert "Other numbers" not in html
    assert "not sent to your PMS" not in html  # a lead has no PMS


def test_history_card_shows_the_interaction_and_its_persons_ribbon(agent_client, consented_number, agent):
    entry = HistoryFactory(lead=consented_number.lead, summary="Asked about a 5x10 near the gate.", agent=agent)
    html = agent_client.get(f"/history/{entry.pk}/").content.decode()
    assert "Asked about a 5x10 near the gate." in html
    assert 'aria-label="Information ribbon"' in html
    assert consented_number.lead.full_name in html
    assert "data-text-button" in html


def test_history_times_name_their_zone_as_the_texts_beside_them_do(agent_client, consented_number, agent):
    HistoryFactory(
        lead=consented_number.lead,
        summary="Called about gate hours.",
        agent=agent,
        occurred_at=datetime(2026, 7, 1, 15, 30, tzinfo=UTC),
    )
    html = agent_client.get(f"/leads/{consented_number.lead.pk}/").content.decode()
    zone = zoneinfo.ZoneInfo(consented_number.lead.facility.time_zone)
    shown = datetime(2026, 7, 1, 15, 30, tzinfo=UTC).astimezone(zone)
    assert f"Jul 1, {shown:%-I:%M} {shown:%p} {shown.tzname()}</time>" in html


def test_text_icon_is_disabled_with_the_reason_and_permission_can_be_recorded(agent_client, facility):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550170")
    html = agent_client.get(f"/leads/{phone.lead.pk}/").content.decode()
    assert 'aria-disabled="true"' in html
    assert "There is no text permission on record for (512) 555-0170" in html
    assert "data-text-button" not in html
    assert reverse("text_consent_record", args=[phone.pk]) in html
    assert "(required)" in html


def test_after_the_persons_opt_out_the_card_explains_only_they_can_opt_back_in(agent_client, org, facility):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550171")
    consent_grant(organization=org, number=phone.number, source="web_form", evidence="form")
    consent_revoke(organization=org, number=phone.number, source="sms_keyword", evidence="STOP")
    html = agent_client.get(f"/leads/{phone.lead.pk}/").content.decode()
    assert "opted out on" in html
    assert "texting START" in html
    assert reverse("text_consent_record", args=[phone.pk]) not in html


@pytest.mark.parametrize("kind", ["leads", "customers", "history"])
def test_a_card_of_another_organization_answers_404(agent_client, other_org, kind):
    facility = LeadFactory(facility__organization=other_org).facility
    obj = {
        "leads": lambda: LeadFactory(facility=facility),
        "customers": lambda: CustomerFactory(facility=facility),
        "history": lambda: HistoryFactory(lead=LeadFactory(facility=facility)),
    }[kind]()
    assert agent_client.get(f"/{kind}/{obj.pk}/").status_code == 404


def test_cards_require_sign_in(client, consented_number):
    response = client.get(f"/leads/{consented_number.lead.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def _card_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_card_query_count_is_the_same_for_10_and_200_history_rows(agent_client, consented_number, agent):
    lead = consented_number.lead
    PhoneNumberFactory(lead=lead, number="+15125550180", is_primary=False)
    HistoryFactory.create_batch(10, lead=lead, agent=agent, phone_number=consented_number)
    few = _card_queries(agent_client, f"/leads/{lead.pk}/")
    HistoryFactory.create_batch(190, lead=lead, agent=agent, phone_number=consented_number)
    many = _card_queries(agent_client, f"/leads/{lead.pk}/")
    assert few == many
    entry = lead.history.first()
    assert _card_queries(agent_client, f"/history/{entry.pk}/") == many


def test_compose_params_open_the_panel_for_that_number_with_template_and_task(agent_client, consented_number, org):
    other = PhoneNumberFactory(lead=consented_number.lead, number="+15125550181", is_primary=False)
    template = MessageTemplateFactory(organization=org)
    url = f"/leads/{other.lead.pk}/?compose=1&phone={other.pk}&template={template.pk}&task=77"
    html = agent_client.get(url).content.decode()
    panel_url = reverse("text_panel", args=[other.pk])
    assert f'hx-get="{panel_url}?template={template.pk}&amp;task=77" hx-trigger="load"' in html


def test_compose_param_for_a_number_not_on_the_record_falls_back_to_the_primary(
    agent_client, consented_number, other_org_number
):
    url = f"/leads/{consented_number.lead.pk}/?compose=1&phone={other_org_number.pk}"
    html = agent_client.get(url).content.decode()
    assert reverse("text_panel", args=[consented_number.pk]) + "?template=" in html
    assert reverse("text_panel", args=[other_org_number.pk]) not in html


def test_home_search_by_number_links_to_the_card(agent_client, consented_number):
    html = agent_client.get("/", {"q": "555-0142"}).content.decode()
    assert f'href="/leads/{consented_number.lead.pk}/"' in html


def test_a_record_without_numbers_shows_no_text_icon_but_offers_add_new(agent_client, facility):
    lead = LeadFactory(facility=facility)
    html = agent_client.get(f"/leads/{lead.pk}/").content.decode()
    assert "None saved" in html
    assert "Add New" in html
    assert "data-text-button" not in html and 'id="conversation"' not in html
