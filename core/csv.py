"""The one CSV writer of every export: cells a spreadsheet would run as a formula are neutralised.

Excel, LibreOffice and Google Sheets treat a cell that starts with ``=``, ``+``, ``-`` or ``@``
as a formula (``=HYPERLINK(…)`` sends the reader to a site of the writer's choosing;
``=cmd|' /C calc'!A0`` asked older Excel to run a program); OWASP adds a leading tab and
carriage return, which some readers drop before looking. Exported text comes from people who
are not the reader: the texted person's browser (the unsubscribe link records its User-Agent,
without a login), agents' notes, API keys' evidence. Every cell that starts with one of those characters gets a leading
apostrophe, which spreadsheets read as "this is text" and do not show; the rest of the value is
kept exactly as recorded (it is evidence).

This happens here, as each cell is written, after anything upstream may have stripped or
trimmed the value (a form strips ``"\\t=1+1"`` to ``"=1+1"``): nothing that reaches a file
escapes it. ``tests/security/test_csv_exports.py`` finds every export (the URLconf, the API
schema, the admin's actions) and holds each to this.

A library was considered: defusedcsv leaves a leading tab or carriage return alone, passes
number-like text such as ``-1`` and rewrites ``|`` in the value; the evidence must read as it
was recorded, and every formula lead must go.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import Any

from django.http import HttpResponse

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISER = "'"


def csv_cell(value: Any) -> str:
    """``value`` as the text of one cell: ``""`` for ``None``, a leading apostrophe before a formula lead."""
    text = "" if value is None else str(value)
    return NEUTRALISER + text if text.startswith(FORMULA_LEADS) else text


class SafeWriter:
    """``csv.writer``'s ``writerow``/``writerows`` with every cell passed through ``csv_cell``."""

    def __init__(self, stream: Any) -> None:
        self._writer = csv.writer(stream)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([csv_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_response(*, filename: str, header: Sequence[str], rows: Iterable[Iterable[Any]]) -> HttpResponse:
    """A CSV download: ``header`` then ``rows``, every cell neutralised, as ``attachment; filename=…``."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = SafeWriter(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response
