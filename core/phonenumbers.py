"""A memoized validity check for django-phonenumber-field's ``PhoneNumber``, and ``readable``:
how a number is written for agents everywhere (history entries, messages, labels).

``phonenumbers.is_valid_number`` is pure Python (it walks the region's number patterns), and
django-phonenumber-field calls it on every ``str()``, ``hash()`` and ``==`` of a number and on
every query parameter: about ten times per text sent, a tenth of the Send API's own CPU before
this (bench/README.md). Whether a number is valid depends only on the fields that identify it
and on the library's metadata, which does not change while the process runs, so the answer is
kept per identity in a bounded cache. Nothing else about the numbers changes.
"""

from __future__ import annotations

import functools

import phonenumbers
from phonenumber_field.phonenumber import PhoneNumber


@functools.lru_cache(maxsize=65_536)
def _valid(country_code, national_number, extension, italian_leading_zero, leading_zeros) -> bool:
    number = phonenumbers.PhoneNumber(
        country_code=country_code,
        national_number=national_number,
        extension=extension,
        italian_leading_zero=italian_leading_zero,
        number_of_leading_zeros=leading_zeros,
    )
    return phonenumbers.is_valid_number(number)


def is_valid(self: PhoneNumber) -> bool:
    """``PhoneNumber.is_valid``, memoized by the number's identity."""
    if self.country_code is None or self.national_number is None:
        return phonenumbers.is_valid_number(self)  # unparsed raw input: nothing to key it by
    return _valid(
        self.country_code,
        self.national_number,
        self.extension,
        self.italian_leading_zero,
        self.number_of_leading_zeros,
    )


def install() -> None:
    """Use the memoized check for every ``PhoneNumber`` (called once, from an app's ``ready``)."""
    PhoneNumber.is_valid = is_valid


def readable(number: PhoneNumber | None) -> str:
    """How agents read a number: (512) 555-0142 at home (+1), +49 1520 5550125 abroad.

    A foreign number in its own national format ("01520 5550125", "090-5550-0137") would look
    like a mistyped US number and could not be dialled from here.
    """
    if not number:
        return ""
    return number.as_national if number.country_code == 1 else number.as_international
