"""Phone numbers: parsing with clear reasons, and exactly one primary number per record."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from core.errors import ServiceError
from interactions.models import PhoneNumber
from interactions.services import phone_number_add, phone_number_delete, phone_number_parse, phone_number_set_primary
from tests.factories import CustomerFactory, LeadFactory, PhoneNumberFactory


@pytest.mark.parametrize("typed", ["(512) 555-0142", "512.555.0142", "512-555-0142", "+1 512 555 0142", " 5125550142 "])
def test_us_numbers_are_read_in_any_common_format(typed):
    assert phone_number_parse(typed).as_e164 == "+15125550142"


def test_international_numbers_keep_their_country():
    assert phone_number_parse("+44 20 7946 0958").as_e164 == "+442079460958"


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("12345", "it has too few digits"),
        ("5125550142999", "it has too many digits"),
        ("555-0142", "it needs an area code"),
        ("+999 1234", "its country code is not valid"),
        ("(123) 456-7890", "it is not a valid phone number"),
        ("call me", "it is not a phone number"),
    ],
)
def test_a_bad_number_is_refused_with_the_reason_and_a_format_to_follow(typed, reason):
    with pytest.raises(ServiceError) as refusal:
        phone_number_parse(typed)

    assert refusal.value.code == "invalid_number"
    assert refusal.value.field == "number"
    assert f"“{typed}” can’t be texted: {reason}." in refusal.value.message
    assert "(512) 555-0142" in refusal.value.message


def test_an_empty_number_asks_for_one():
    with pytest.raises(ServiceError) as refusal:
        phone_number_parse("  ")

    assert (refusal.value.message, refusal.value.field) == ("Enter a phone number.", "number")


def test_adding_a_bad_number_saves_nothing(facility):
    lead = LeadFactory(facility=facility)

    with pytest.raises(ServiceError) as refusal:
        phone_number_add(owner=lead, number="512-555")

    assert refusal.value.field == "number"
    assert not PhoneNumber.objects.exists()


def test_an_unknown_label_is_refused(facility):
    lead = LeadFactory(facility=facility)

    with pytest.raises(ServiceError) as refusal:
        phone_number_add(owner=lead, number="(512) 555-0142", label="pager")

    assert refusal.value.field == "label"
    assert not PhoneNumber.objects.exists()


def test_the_same_number_twice_on_one_record_is_refused(facility):
    lead = LeadFactory(facility=facility, first_name="Dana", last_name="Ruiz")
    phone_number_add(owner=lead, number="(512) 555-0142")

    with pytest.raises(ServiceError, match="already saved on Dana Ruiz’s record") as refusal:
        phone_number_add(owner=lead, number="+15125550142", label="home")

    assert refusal.value.code == "duplicate_number"
    assert lead.phone_numbers.count() == 1


def test_the_same_number_may_sit_on_a_lead_and_a_customer(facility):
    lead = LeadFactory(facility=facility)
    customer = CustomerFactory(facility=facility)

    phone_number_add(owner=lead, number="(512) 555-0142")
    phone_number_add(owner=customer, number="(512) 555-0142")

    assert PhoneNumber.objects.filter(number="+15125550142").count() == 2


def primaries(owner) -> list[str]:
    return [p.e164 for p in owner.phone_numbers.filter(is_primary=True)]


def test_the_first_number_becomes_primary_and_later_ones_do_not(facility):
    lead = LeadFactory(facility=facility)

    first = phone_number_add(owner=lead, number="(512) 555-0142")
    second = phone_number_add(owner=lead, number="(512) 555-0143", label="home")

    assert (first.is_primary, second.is_primary) == (True, False)
    assert primaries(lead) == ["+15125550142"]
    assert first.organization == facility.organization
    assert first.source == PhoneNumber.Source.LOCAL


def test_adding_a_number_as_primary_demotes_the_old_primary(facility):
    customer = CustomerFactory(facility=facility)
    phone_number_add(owner=customer, number="(512) 555-0142")

    phone_number_add(owner=customer, number="(512) 555-0143", make_primary=True)

    assert primaries(customer) == ["+15125550143"]


def test_setting_the_primary_moves_it(facility):
    lead = LeadFactory(facility=facility)
    phone_number_add(owner=lead, number="(512) 555-0142")
    second = phone_number_add(owner=lead, number="(512) 555-0143")

    phone_number_set_primary(phone_number=second)

    assert primaries(lead) == ["+15125550143"]


def test_deleting_the_primary_promotes_the_oldest_remaining_number(facility):
    lead = LeadFactory(facility=facility)
    first = phone_number_add(owner=lead, number="(512) 555-0142")
    phone_number_add(owner=lead, number="(512) 555-0143")
    phone_number_add(owner=lead, number="(512) 555-0144")

    phone_number_delete(phone_number=first)

    assert primaries(lead) == ["+15125550143"]


def test_deleting_the_last_number_leaves_none(facility):
    lead = LeadFactory(facility=facility)
    only = phone_number_add(owner=lead, number="(512) 555-0142")

    phone_number_delete(phone_number=only)

    assert not lead.phone_numbers.exists()


def test_a_pms_number_cannot_be_deleted_here(facility):
    customer = CustomerFactory(facility=facility)
    pms = phone_number_add(owner=customer, number="(512) 555-0142", source=PhoneNumber.Source.PMS)

    with pytest.raises(ServiceError, match="property management system") as refusal:
        phone_number_delete(phone_number=pms)

    assert refusal.value.code == "pms_number"
    assert customer.phone_numbers.count() == 1


@pytest.mark.parametrize("owner", ["lead", "customer"])
def test_the_database_refuses_a_second_primary(facility, owner):
    record = LeadFactory(facility=facility) if owner == "lead" else CustomerFactory(facility=facility)
    other = {"lead": None, "customer": None, owner: record}
    PhoneNumberFactory(**other, number="+15125550142", is_primary=True)

    with pytest.raises(IntegrityError), transaction.atomic():
        PhoneNumberFactory(**other, number="+15125550143", is_primary=True)


def test_the_database_refuses_a_number_with_no_owner_or_two(facility):
    lead = LeadFactory(facility=facility)
    customer = CustomerFactory(facility=facility)

    with pytest.raises(IntegrityError), transaction.atomic():
        PhoneNumber.objects.create(organization=facility.organization, number="+15125550142")
    with pytest.raises(IntegrityError), transaction.atomic():
        PhoneNumber.objects.create(
            organization=facility.organization, lead=lead, customer=customer, number="+15125550142"
        )


def test_agents_read_us_numbers_nationally_and_foreign_numbers_with_their_country_code(db):
    assert PhoneNumberFactory(number="+15125550142").national == "(512) 555-0142"
    assert PhoneNumberFactory(number="+4915205550125").national == "+49 1520 5550125"
