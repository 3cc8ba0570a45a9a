"""The worklist as CSV, safe to open in a spreadsheet.

Every cell goes through ``core.csv.safe_cell``: a cell that starts with ``=``, ``+``, ``-``, ``@``
(or a tab or carriage return) would be read as a formula by spreadsheet programs, so it is prefixed
with a single quote. Times are written in the organization's time zone, as staff read them on the
page.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime, tzinfo

from clinic_app.core.csv import safe_cell
from clinic_app.core.time import in_zone
from clinic_app.engagement.worklist import WorklistRow

HEADER = (
    "patient_id",
    "last_name",
    "first_name",
    "risk_level",
    "risk_score",
    "action_priority",
    "reasons",
    "last_visit",
    "days_since_last_contact",
    "attended_90_days",
    "did_not_arrive_90_days",
    "late_cancelled_90_days",
    "attendance_percentage",
    "next_appointment",
)


def _local(value: datetime | None, tz: tzinfo, pattern: str) -> str:
    return "" if value is None else in_zone(value, tz).strftime(pattern)


def csv_text(rows: Iterable[WorklistRow], tz: tzinfo) -> tuple[str, int]:
    """The CSV document and how many patients it lists."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    count = 0
    for row in rows:
        count += 1
        cells = (
            row.patient_id,
            row.last_name,
            row.first_name,
            row.risk_level,
            row.risk_score,
            row.action_priority,
            "; ".join(row.reasons),
            _local(row.last_attended_at, tz, "%Y-%m-%d"),
            row.days_since_last_contact,
            row.attended_90,
            row.did_not_arrive_90,
            row.late_cancelled_90,
            f"{row.attendance_percentage:g}",
            _local(row.next_appointment_at, tz, "%Y-%m-%d %H:%M"),
        )
        writer.writerow([safe_cell(cell) for cell in cells])
    return out.getvalue(), count
