"""``is_valid``: a memoized validity check for phone numbers; ``present``: whether a value holds a
number, without asking its truth; and ``readable``: how a number is written for agents everywhere
(history entries, messages, labels).

``phonenumbers.is_valid_number`` is pure Python (it walks the region's number patterns). Whether
a number is valid depends only on the fields that identify it and on the library's metadata,
which does not change while the process runs, so this project's own checks keep the answer per
identity in a bounded cache (``functools.lru_cache``). django-phonenumber-field's own calls
(``str()``, ``hash()``, ``==`` of a number) are its business and are left alone: no library is
patched (bench/README.md measured what that cost).
"""

from __future__ import annotations

import functools
from typing import TypeGuard

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


def is_valid(number: phonenumbers.PhoneNumber) -> bool:
    """``number.is_valid()`` (``phonenumbers.is_valid_number``), memoized by the number's identity."""
    if number.country_code is None or number.national_number is None:
        return phonenumbers.is_valid_number(number)  # unparsed raw input: nothing to key it by
    return _valid(
        number.country_code,
        number.national_number,
        number.extension,
        number.italian_leading_zero,
        number.number_of_leading_zeros,
    )


def present(number: object) -> TypeGuard[PhoneNumber]:
    """Whether ``number`` holds a number (a parsed one, valid or not), where ``if number`` would ask its
    truth: django-phonenumber-field's ``len()`` validates and formats it (``str()``), about a tenth of a
    millisecond each, several times on every send (bench/out/profile-api.prof). An empty column loads
    as ``""`` or ``None``, never as a number."""
    return isinstance(number, PhoneNumber)


def readable(number: PhoneNumber | None) -> str:
    """How agents read a number: (512) 555-0142 at home (+1), +49 1520 5550125 abroad.

    A foreign number in its own national format ("01520 5550125", "090-5550-0137") would look
    like a mistyped US number and could not be dialled from here.
    """
    if not isinstance(number, PhoneNumber):  # not ``if not number``: see ``present``
        return ""
    return number.as_national if number.country_code == 1 else number.as_international
