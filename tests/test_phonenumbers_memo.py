"""The memoized validity check answers exactly as phonenumbers does, and no library is patched."""

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
        assert is_valid(number) == phonenumbers.is_valid_number(number) == number.is_valid()
        assert is_valid(number) == is_valid(to_python(raw))  # from the cache, the same answer


def test_phone_numbers_keep_their_own_check():
    assert PhoneNumber.is_valid is not is_valid
    assert "is_valid" not in vars(PhoneNumber) or PhoneNumber.is_valid.__module__.startswith("phonenumber_field")
