"""Writing many ``PatientAppointmentStats`` rows at once.

A full recompute replaces every patient's row (100,000 at a time at scale): on PostgreSQL one
``COPY`` does it in a fraction of what a many-row INSERT costs; SQLite, in-process, takes plain
multi-row INSERTs. Both only join the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import insert, text

from clinic_app.extensions import db
from clinic_app.figures.models import PatientAppointmentStats

COPY_FROM = 2_000  # below this many rows a plain INSERT is as quick
_COLUMNS = [column.key for column in PatientAppointmentStats.__table__.columns if column.key != "id"]


def widen_memory_for_this_transaction() -> None:
    """PostgreSQL: let this transaction group and sort a whole organization's appointments in
    memory (the default work_mem spills a 1,000,000-row aggregate to disk)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL work_mem = '128MB'"))


def write_rows(rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts keyed by column name, without ``id``) into patient_appointment_stats."""
    if not rows:
        return
    if len(rows) < COPY_FROM or db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(insert(PatientAppointmentStats.__table__), list(rows))
        return
    connection = db.session.connection().connection.driver_connection
    statement = f"COPY patient_appointment_stats ({', '.join(_COLUMNS)}) FROM STDIN"
    values_of = itemgetter(*_COLUMNS)  # every row carries every column (service.recompute builds them)
    reasons_at = _COLUMNS.index("risk_reasons")
    with connection.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for row in rows:
            values = list(values_of(row))
            values[reasons_at] = json.dumps(values[reasons_at] or [])
            copy.write_row(values)
