"""The one rule for exported CSV cells: text a spreadsheet would evaluate as a formula gets a
leading apostrophe; everything else is written as it is."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from clinic_app.caseload import active_csv as caseload_export
from clinic_app.core.csv import FORMULA_STARTS, safe_cell
from clinic_app.engagement import worklist_csv as engagement_export


def test_the_dangerous_starts_are_exactly_these():
    assert set(FORMULA_STARTS) == {"=", "+", "-", "@", "\t", "\r"}


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://evil.example")', '\'=HYPERLINK("http://evil.example")'),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("=", "'="),
        ("'=1", "'=1"),  # already starts with an apostrophe: nothing to add
    ],
)
def test_a_cell_a_spreadsheet_would_evaluate_gets_a_leading_apostrophe(value, written):
    assert safe_cell(value) == written


@pytest.mark.parametrize(
    "value",
    ["plain", "Smith", "a=b", "1+1", "x@example.org", " =1", "line\nbreak", "\n=1", "", "Ōtautahi", "pat_abc-def"],
)
def test_other_text_is_written_as_it_is(value):
    assert safe_cell(value) == value


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (None, ""),
        (0, "0"),
        (3, "3"),
        (2.5, "2.5"),
        (Decimal("7.10"), "7.10"),
        (True, "True"),
        (-1, "'-1"),
        (-0.5, "'-0.5"),
    ],
)
def test_none_and_numbers(value, written):
    # Numbers are cells like any other: a negative one starts with "-" and is written as text.
    assert safe_cell(value) == written


def test_the_result_is_always_a_str():
    class Named:
        def __str__(self) -> str:
            return "@named"

    assert safe_cell(Named()) == "'@named"
    assert all(type(safe_cell(v)) is str for v in (None, 1, "x", "=x", 1.5))


def test_the_cell_survives_a_csv_round_trip_as_text():
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([safe_cell(v) for v in ("=1", "\r=2", "ok", None)])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["'=1", "'\r=2", "ok", ""]


def test_every_export_uses_the_one_rule():
    assert caseload_export.safe_cell is safe_cell
    assert engagement_export.safe_cell is safe_cell
