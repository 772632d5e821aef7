"""The memoized validity check answers exactly as phonenumbers does."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumber_field.phonenumber import PhoneNumber, to_python

from core.phonenumbers import is_valid


@pytest.mark.parametrize(
    "raw",
    [
        "+15125550142",  # valid US mobile
        "+15125550100",
        "+1512555014",  # too short
        "+4915123456789",  # German mobile
        "+819012345678",  # Japanese mobile
        "+390612345678",  # Italian, leading zero
        "+15125550142;ext=12",
        "not a number",
        "+999123",
    ],
)
def test_same_answer_as_phonenumbers(raw):
    number = to_python(raw)
    if isinstance(number, PhoneNumber):
        assert number.is_valid() == phonenumbers.is_valid_number(number) == is_valid(number)
        assert str(number)  # str() and hash() go through it
        assert hash(number) == hash(to_python(raw))


def test_installed_for_every_phone_number():
    assert PhoneNumber.is_valid is is_valid
