"""The active-patients list as CSV.

Every cell goes through ``core.csv.safe_cell``: a cell that a spreadsheet would take for a formula
(it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is written with a leading
apostrophe, so a patient registered as ``=HYPERLINK(...)`` is exported as text, never as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime, tzinfo

from clinic_app.caseload.active import ActiveRow
from clinic_app.core.csv import safe_cell
from clinic_app.core.time import in_zone, isoformat

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
