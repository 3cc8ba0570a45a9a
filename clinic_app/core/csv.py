"""Cells of the CSV files the app exports, safe to open in a spreadsheet.

The rule: a cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
written with a leading apostrophe (``'``); every other cell is written as it is, and an empty value
(None) as an empty cell.

Why: spreadsheet programs take a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and some also
one that starts with a tab or a carriage return) for a formula and evaluate it when the file is
opened. Exported cells hold text people typed (a patient registered as ``=HYPERLINK(...)``), so
without the apostrophe opening an export could run whatever someone wrote into a name field. With
it, spreadsheets always show the cell as text and never evaluate it.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell's text (``str(value)``, empty for None), with a leading apostrophe when a
    spreadsheet would take it for a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
