"""The rule for an appointment's status and which appointments count (docs/rules.md), in one place.

Everything that says "attended", "upcoming", "recent" or "active" (the sync, dashboards, patient
lists, the API) asks this module, so the words mean the same thing everywhere:

* ``appointment_status`` is the rule for one appointment, in Python;
* ``status_expression`` is the same rule as SQL, for counting and for refreshing stored statuses;
* ``counted`` says which appointments count at all.

What a patient's appointments add up to (``PatientAppointmentStats``) is ``clinic_app.figures``'s:
it recomputes them when ``signals.appointments_changed`` says they moved.

Archived or deleted appointments keep their status but are left out of every figure. Functions take
the organization explicitly and only flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update

from clinic_app.appointments.models import (
    ATTENDED,
    BOOKED,
    CANCELLATION_REASON_FIELD,
    CANCELLED,
    DID_NOT_ARRIVE,
    NOTES_FIELD,
    STATUSES,
    Appointment,
)
from clinic_app.appointments.timing import LATE_CANCELLATION, RECENT_DAYS
from clinic_app.core.crypto import Vault
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

RECENT = timedelta(days=RECENT_DAYS)
_CHUNK = 500  # ids per IN (...) list: well under every database's parameter limit

__all__ = [
    "ATTENDED",
    "BOOKED",
    "CANCELLED",
    "DID_NOT_ARRIVE",
    "RECENT_DAYS",
    "STATUSES",
    "appointment_status",
    "chunks",
    "column_values",
    "counted",
    "late_cancellation_expression",
    "patient_appointments",
    "refresh_statuses",
    "status_counts",
    "status_expression",
]


def appointment_status(
    *,
    starts_at: datetime,
    cancelled_at: datetime | None,
    did_not_arrive: bool,
    patient_arrived: bool,
    now: datetime,
) -> str:
    """The status of one appointment at ``now``: cancelled, did_not_arrive, attended or booked.

    In this order: a cancellation wins; then a did-not-arrive mark; then an arrival mark or a
    start time that has passed makes it attended (many clinics never mark arrivals, so "it
    started, nobody cancelled it and nobody marked it DNA" is how we know it happened); otherwise
    it is still booked.
    """
    if cancelled_at is not None:
        return CANCELLED
    if did_not_arrive:
        return DID_NOT_ARRIVE
    if patient_arrived or starts_at <= now:
        return ATTENDED
    return BOOKED


def column_values(values: dict[str, Any], vault: Vault, *, now: datetime) -> dict[str, Any]:
    """An appointment's stored columns for a bulk write (the sync): ``values`` with plaintext
    ``notes`` and ``cancellation_reason`` encrypted into their columns and the status of the rule
    above at ``now``."""
    stored = dict(values)
    notes, reason = stored.pop("notes"), stored.pop("cancellation_reason")
    stored["notes_enc"] = vault.encrypt(NOTES_FIELD, notes)
    stored["cancellation_reason_enc"] = vault.encrypt(CANCELLATION_REASON_FIELD, reason)
    stored["status"] = appointment_status(
        starts_at=stored["starts_at"],
        cancelled_at=stored["cancelled_at"],
        did_not_arrive=stored["did_not_arrive"],
        patient_arrived=stored["patient_arrived"],
        now=now,
    )
    return stored


def status_expression(now: datetime) -> ColumnElement[str]:
    """``appointment_status`` as a SQL expression over the appointments table."""
    return case(
        (Appointment.cancelled_at.is_not(None), CANCELLED),
        (Appointment.did_not_arrive.is_(True), DID_NOT_ARRIVE),
        (or_(Appointment.patient_arrived.is_(True), Appointment.starts_at <= now), ATTENDED),
        else_=BOOKED,
    )


def late_cancellation_expression() -> ColumnElement[bool]:
    """``timing.is_late_cancellation`` as SQL: cancelled less than 24 hours before the
    start (or after it). Exactly 24 hours before is not late."""
    cancelled = Appointment.cancelled_at.is_not(None)
    if db.engine.dialect.name == "sqlite":
        # SQLite stores times as text: compare whole milliseconds (julianday is exact to ~50 us).
        gap_ms = func.round(
            (func.julianday(Appointment.starts_at) - func.julianday(Appointment.cancelled_at)) * 86_400_000
        )
        return and_(cancelled, gap_ms < LATE_CANCELLATION.total_seconds() * 1000)
    return and_(cancelled, Appointment.starts_at - Appointment.cancelled_at < LATE_CANCELLATION)


def counted(organization_id: str) -> list[ColumnElement[bool]]:
    """The appointments that count: the organization's, not archived, not deleted."""
    return [
        Appointment.organization_id == organization_id,
        Appointment.archived_at.is_(None),
        Appointment.deleted_at.is_(None),
    ]


def refresh_statuses(
    organization_id: str, *, now: datetime | None = None, patient_ids: Sequence[str] | None = None
) -> int:
    """Bring stored statuses up to ``now`` (bookings whose start has passed become attended), for
    the organization or only ``patient_ids``' appointments. Returns how many rows changed."""
    expression = status_expression(now or utcnow())
    statement = (
        update(Appointment)
        .where(Appointment.organization_id == organization_id, Appointment.status != expression)
        .values(status=expression)
        .execution_options(synchronize_session=False)
    )
    batches = (
        [statement]
        if patient_ids is None
        else [statement.where(Appointment.patient_id.in_(chunk)) for chunk in chunks(patient_ids)]
    )
    return sum(int(getattr(db.session.execute(batch), "rowcount", 0) or 0) for batch in batches)


def chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    """``ids`` in slices short enough for one ``IN (...)`` list on every database."""
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


# --- reading ----------------------------------------------------------------------------------


def status_counts(organization_id: str, *, now: datetime | None = None) -> dict[str, int]:
    """How many counted appointments have each status at ``now`` (every status present, maybe 0)."""
    status = status_expression(now or utcnow())
    counts = dict.fromkeys(STATUSES, 0)
    for value, number in db.session.execute(
        select(status, func.count()).where(*counted(organization_id)).group_by(status)
    ):
        counts[value] = int(number)
    return counts


def patient_appointments(
    organization_id: str,
    patient_id: str,
    *,
    upcoming: bool,
    limit: int = 10,
    now: datetime | None = None,
) -> list[Appointment]:
    """The patient's next ``limit`` upcoming appointments (soonest first), or their attended ones
    of the last 30 days (latest first). Encrypted columns are not decrypted here."""
    now = now or utcnow()
    status = status_expression(now)
    query = select(Appointment).where(*counted(organization_id), Appointment.patient_id == patient_id)
    if upcoming:
        query = query.where(status == BOOKED).order_by(Appointment.starts_at, Appointment.id)
    else:
        query = query.where(status == ATTENDED, Appointment.starts_at >= now - RECENT).order_by(
            Appointment.starts_at.desc(), Appointment.id
        )
    return list(db.session.scalars(query.limit(limit)))
