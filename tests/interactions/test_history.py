"""A person's history (interactions/services/history.py): one builder, one write, whoever the entry is for."""

from __future__ import annotations

import pytest

from interactions.models import History, PhoneNumber
from interactions.services import history_entry, history_record
from tests.factories import CustomerFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db


def test_an_entry_on_a_number_goes_to_whoever_holds_it_without_loading_them(facility, django_assert_num_queries):
    lead_phone = PhoneNumberFactory(lead__facility=facility)
    customer_phone = PhoneNumberFactory(lead=None, customer=CustomerFactory(facility=facility))
    numbers = list(PhoneNumber.objects.filter(pk__in=[lead_phone.pk, customer_phone.pk]).order_by("pk"))

    with django_assert_num_queries(0):
        entries = [history_entry(phone_number=n, kind=History.Kind.TEXT, summary="Text received") for n in numbers]

    whose = [(e.lead_id, e.customer_id) for e in entries]
    assert whose == [(lead_phone.lead_id, None), (None, customer_phone.customer_id)]
    assert {e.organization_id for e in entries} == {facility.organization_id}
    assert all(e.pk is None and e.actor_name == "" for e in entries)  # built, not saved; nobody acted


def test_a_recorded_entry_names_the_agent_who_acted(consented_number, agent):
    agent.first_name, agent.last_name = "Dana", "Reyes"

    entry = history_record(owner=consented_number.lead, kind=History.Kind.CALL, summary="Called.", agent=agent)

    saved = History.objects.get(pk=entry.pk)
    assert (saved.lead_id, saved.agent_id, saved.actor_name) == (consented_number.lead_id, agent.pk, "Dana Reyes")


def test_an_entry_needs_someone_to_be_about(consented_number):
    with pytest.raises(TypeError):
        history_entry(kind=History.Kind.NOTE, summary="About nobody")
