"""The organization's audit trail for a date range, as CSV or JSON, with the verification of its
whole chain at the moment of export (owners; docs/audit.md, "Export").

The export carries each event's ``seq``, ``prev_hash`` and ``hash``, so whoever receives it can
check the links again; the verification result says whether the chain in the database, from its
first event, was intact when the file was made."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from typing import Any

from sqlalchemy import func, select

from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.core.csv import safe_cell
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.time import day_in_range, isoformat, local_midnight, organization_zone, utcnow
from clinic_app.extensions import db

MAX_DAYS = 366
MAX_EVENTS = 200_000
COLUMNS = (
    "id",
    "seq",
    "created_at",
    "action",
    "outcome",
    "actor_user_id",
    "actor_token_id",
    "target_type",
    "target_id",
    "patient_id",
    "request_id",
    "ip_address",
    "details",
    "prev_hash",
    "hash",
)


@dataclass
class AuditExport:
    organization_id: str
    date_from: date
    date_to: date
    events: list[dict[str, Any]]
    verification: dict[str, Any]
    exported_at: str


def _bounds(organization_id: str, date_from: date, date_to: date) -> tuple[Any, Any]:
    errors = []
    if not day_in_range(date_from):
        errors.append(FieldError("from", "Choose a date between 1900 and 2100."))
    if not day_in_range(date_to):
        errors.append(FieldError("to", "Choose a date between 1900 and 2100."))
    if not errors and date_to < date_from:
        errors.append(FieldError("to", "The end date is before the start date."))
    if not errors and (date_to - date_from).days >= MAX_DAYS:
        errors.append(FieldError("to", f"Export at most {MAX_DAYS} days at a time."))
    if errors:
        raise Invalid(errors=errors)
    zone = organization_zone(organization_id)
    since = local_midnight(date_from, zone).astimezone(UTC)
    until = local_midnight(date_to + timedelta(days=1), zone).astimezone(UTC)
    return since, until


def _row(event: AuditEvent) -> dict[str, Any]:
    row = {column: getattr(event, column) for column in COLUMNS}
    row["created_at"] = isoformat(event.created_at)
    row["details"] = event.details or {}
    return row


def export_trail(organization_id: str, date_from: date, date_to: date, *, actor: audit.Actor) -> AuditExport:
    """The organization's events from ``date_from`` to ``date_to`` (whole days in its time zone),
    in sequence order, and the verification of its chain. Raises Invalid for a reversed or longer
    than 366-day range, or more than 200,000 events (narrow the range)."""
    since, until = _bounds(organization_id, date_from, date_to)
    mine = (
        AuditEvent.chain == organization_id,
        AuditEvent.created_at >= since,
        AuditEvent.created_at < until,
    )
    if (db.session.scalar(select(func.count()).select_from(AuditEvent).where(*mine)) or 0) > MAX_EVENTS:
        raise Invalid(errors=[FieldError("to", f"More than {MAX_EVENTS} events: choose a shorter range.")])
    events = [_row(e) for e in db.session.scalars(select(AuditEvent).where(*mine).order_by(AuditEvent.seq))]
    report = audit.verify_chain(organization_id)
    verification = {
        "intact": not report.problems,
        "events_checked": report.checked,
        "problems": [{"seq": p.seq, "event_id": p.event_id, "problem": p.problem} for p in report.problems[:100]],
    }
    audit.record(
        "audit.exported",
        organization_id=organization_id,
        actor=actor,
        target_type="organization",
        target_id=organization_id,
        details={"from": date_from.isoformat(), "to": date_to.isoformat(), "events": len(events)},
    )
    return AuditExport(organization_id, date_from, date_to, events, verification, isoformat(utcnow()) or "")


def as_csv(export: AuditExport) -> str:
    """One row per event, spreadsheet-safe cells; ``details`` as compact JSON."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for event in export.events:
        cells = dict(event)
        cells["details"] = _json_text(event["details"])
        writer.writerow([safe_cell(cells[column]) for column in COLUMNS])
    return buffer.getvalue()


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
