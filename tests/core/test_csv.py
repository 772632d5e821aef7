"""``core.csv``: the one writer of every export neutralises what a spreadsheet would run."""

from __future__ import annotations

import csv
import io

import pytest

from core.csv import csv_cell, csv_response


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ('=HYPERLINK("https://evil.example","x")', '\'=HYPERLINK("https://evil.example","x")'),
        ("Signup form, SMS box ticked", "Signup form, SMS box ticked"),
        (" =1+1", " =1+1"),  # a leading space is shown as text by every spreadsheet
        ("a=1", "a=1"),
        (42, "42"),
        (None, ""),
        ("", ""),
    ],
)
def test_a_cell_that_starts_a_formula_gets_a_leading_apostrophe_and_nothing_else_changes(value, cell):
    assert csv_cell(value) == cell


def test_a_response_neutralises_every_column_and_keeps_the_rest_of_the_text():
    response = csv_response(
        filename="x.csv", header=["who", "said"], rows=[["=agent", 'line one\n=line two, "quoted"'], [-5, "ok"]]
    )

    rows = list(csv.reader(io.StringIO(response.content.decode(), newline="")))
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    assert rows == [["who", "said"], ["'=agent", 'line one\n=line two, "quoted"'], ["'-5", "ok"]]
