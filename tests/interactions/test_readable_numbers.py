"""Numbers are written one way for agents everywhere: national at home (+1), international abroad."""

from __future__ import annotations

import pytest
from phonenumber_field.phonenumber import to_python

from core.phonenumbers import readable
from interactions.models import History
from interactions.selectors import lead_card
from interactions.services import consent_grant
from tests.factories import PhoneNumberFactory

pytestmark = pytest.mark.django_db


def test_readable_is_national_at_home_and_international_abroad():
    assert readable(to_python("+15125550142")) == "(512) 555-0142"
    assert readable(to_python("+819055500137")) == "+81 90-5550-0137"
    assert readable(to_python("+4915205550125")) == "+49 1520 5550125"
    assert readable(None) == ""


def test_a_foreign_number_s_consent_line_on_the_card_reads_as_the_number_does_elsewhere(facility):
    phone = PhoneNumberFactory(lead__facility=facility, number="+819055500137")
    consent_grant(organization=facility.organization, number=phone.number, source="pms_import", evidence="import")
    card = lead_card(organization=facility.organization, pk=phone.lead_id)
    consent_lines = [entry.summary for entry in card.history if entry.kind == History.Kind.CONSENT]
    assert consent_lines == ["Text permission recorded for +81 90-5550-0137 from the PMS import"]
    assert phone.national == "+81 90-5550-0137"


def test_a_foreign_number_not_on_the_record_is_labelled_as_numbers_are_elsewhere():
    from messaging.selectors.conversations import _number_label

    assert _number_label({}, "+819055500137") == "+81 90-5550-0137"
    assert _number_label({}, "+15125550199") == "(512) 555-0199"
