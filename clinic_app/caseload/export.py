"""The active-patients list as CSV.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and some also a
tab or carriage return) as a formula, so such a cell is written with a leading apostrophe: a
patient registered as ``=HYPERLINK(...)`` is exported as text, never as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime, tzinfo

from clinic_app.caseload.active import ActiveRow
from clinic_app.core.time import in_zone, isoformat

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = (
    "patient_id",
    "first_name",
    "last_name",
    "activity_status",
    "priority",
    "next_appointment_local",
    "next_appointment_utc",
    "next_appointment_type",
    "next_practitioner",
    "primary_appointment_type",
    "recent_appointment_count",
    "upcoming_appointment_count",
    "total_appointment_count",
    "last_attended_utc",
)


def safe_cell(value: object) -> str:
    """The cell's text, with a leading apostrophe when a spreadsheet would take it for a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _local(moment: datetime | None, zone: tzinfo) -> str:
    return in_zone(moment, zone).strftime("%Y-%m-%d %H:%M") if moment is not None else ""


def csv_text(rows: Iterable[ActiveRow], zone: tzinfo) -> str:
    """The header and one line per row (times local to the clinic and in UTC)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        values = (
            row.patient_id,
            row.first_name,
            row.last_name,
            row.activity_status,
            row.priority,
            _local(row.next_appointment_at, zone),
            isoformat(row.next_appointment_at),
            row.next_type,
            row.practitioner,
            row.primary_type,
            row.recent,
            row.upcoming,
            row.total,
            isoformat(row.last_attended_at),
        )
        writer.writerow([safe_cell(value) for value in values])
    return out.getvalue()
