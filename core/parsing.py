"""Strict reading of numbers from requests: ASCII digits only, within the range the database holds.

``str.isdigit()`` and ``int()`` accept far more than a URL converter or PostgreSQL does: ``"١"``
(an Arabic-Indic one) and ``"５"`` (a full-width five) are digits to Python, ``int(" 7 ")`` is 7
and ``int("1_000")`` is 1000. A value that passed such a check used to reach ``reverse()`` (whose
``<int:>`` converter wants ``[0-9]+``) or the database and answer 500. Every id or count read
from a query string, a form or a cursor goes through here instead.
"""

from __future__ import annotations

import re
from typing import Any

# The largest value of PostgreSQL's bigint (and SQLite's integer): every primary key fits in it.
MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"-?[0-9]{1,19}")


def strict_int(value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """``value`` as an int when it is one (not a bool) or is written in ASCII digits, within the bounds.

    ``None`` for anything else: ``"١"``, ``"５"``, ``" 7"``, ``"1_000"``, ``"1e3"``, ``True``, ``1.0``.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    else:
        return None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        return None
    return number


def strict_id(value: Any) -> int | None:
    """``value`` as a row id (1 to ``MAX_ID``, ASCII digits), or ``None``."""
    return strict_int(value, minimum=1, maximum=MAX_ID)
