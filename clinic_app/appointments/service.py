"""The rule for an appointment's status and a patient's activity (docs/rules.md), in one place.

Everything that says "attended", "upcoming", "recent" or "active" (the sync, dashboards, patient
lists, the API) asks this module, so the words mean the same thing everywhere:

* ``appointment_status`` is the rule for one appointment, in Python;
* ``status_expression`` is the same rule as SQL, for counting and for refreshing stored statuses;
* ``recompute_stats`` turns a patient's appointments into ``PatientAppointmentStats`` (the
  engagement columns and risk are filled by ``engagement.figures`` with ``engagement.rules``).

Archived or deleted appointments keep their status but are left out of every figure. Functions take
the organization explicitly and only flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, func, or_, select, text, update

from clinic_app.appointments.models import (
    ATTENDED,
    BOOKED,
    CANCELLED,
    DID_NOT_ARRIVE,
    STATUSES,
    Appointment,
    PatientAppointmentStats,
)
from clinic_app.core.time import shifted, utcnow
from clinic_app.engagement import rules
from clinic_app.extensions import db
from clinic_app.orgs.models import Organization
from clinic_app.patients.models import Patient

RECENT_DAYS = rules.RECENT_DAYS
RECENT = timedelta(days=RECENT_DAYS)
# The smallest step of a stored time: an attendance exactly RECENT ago still counts as recent, so
# the figure changes one step after that moment, not at it.
_TICK = timedelta(microseconds=1)
_CHUNK = 500  # ids per IN (...) list: well under every database's parameter limit

__all__ = [
    "ATTENDED",
    "BOOKED",
    "CANCELLED",
    "DID_NOT_ARRIVE",
    "RECENT_DAYS",
    "STATUSES",
    "activity_summary",
    "appointment_status",
    "counted",
    "late_cancellation_expression",
    "lock_stats",
    "organization_zone",
    "patient_appointments",
    "patient_stats",
    "recompute_stats",
    "refresh_statuses",
    "stale_stats_patient_ids",
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


def status_expression(now: datetime) -> ColumnElement[str]:
    """``appointment_status`` as a SQL expression over the appointments table."""
    return case(
        (Appointment.cancelled_at.is_not(None), CANCELLED),
        (Appointment.did_not_arrive.is_(True), DID_NOT_ARRIVE),
        (or_(Appointment.patient_arrived.is_(True), Appointment.starts_at <= now), ATTENDED),
        else_=BOOKED,
    )


def late_cancellation_expression() -> ColumnElement[bool]:
    """``engagement.rules.is_late_cancellation`` as SQL: cancelled less than 24 hours before the
    start (or after it). Exactly 24 hours before is not late."""
    cancelled = Appointment.cancelled_at.is_not(None)
    if db.engine.dialect.name == "sqlite":
        # SQLite stores times as text: compare whole milliseconds (julianday is exact to ~50 us).
        gap_ms = func.round(
            (func.julianday(Appointment.starts_at) - func.julianday(Appointment.cancelled_at)) * 86_400_000
        )
        return and_(cancelled, gap_ms < rules.LATE_CANCELLATION.total_seconds() * 1000)
    return and_(cancelled, Appointment.starts_at - Appointment.cancelled_at < rules.LATE_CANCELLATION)


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
        else [statement.where(Appointment.patient_id.in_(chunk)) for chunk in _chunks(patient_ids)]
    )
    return sum(int(getattr(db.session.execute(batch), "rowcount", 0) or 0) for batch in batches)


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _aggregates(
    organization_id: str, patient_ids: Sequence[str] | None, now: datetime, window_start: datetime
) -> dict[str, Any]:
    """One row of figures per patient with counted appointments, keyed by patient id."""
    status = status_expression(now)
    cutoff = now - RECENT
    attended, booked = status == ATTENDED, status == BOOKED
    recent = and_(attended, Appointment.starts_at >= cutoff)
    in_window = Appointment.starts_at >= window_start
    attended_90 = and_(in_window, attended)
    missed_90 = and_(in_window, status == DID_NOT_ARRIVE)
    late_90 = and_(in_window, status == CANCELLED, late_cancellation_expression())
    query = (
        select(
            Appointment.patient_id,
            func.count().label("total"),
            func.sum(case((attended, 1), else_=0)).label("attended"),
            func.sum(case((status == CANCELLED, 1), else_=0)).label("cancelled"),
            func.sum(case((status == DID_NOT_ARRIVE, 1), else_=0)).label("did_not_arrive"),
            func.sum(case((booked, 1), else_=0)).label("upcoming"),
            func.sum(case((recent, 1), else_=0)).label("recent_attended"),
            func.min(case((status != CANCELLED, Appointment.starts_at))).label("first_appointment_at"),
            func.max(case((attended, Appointment.starts_at))).label("last_attended_at"),
            func.min(case((booked, Appointment.starts_at))).label("next_appointment_at"),
            func.min(case((recent, Appointment.starts_at))).label("oldest_recent_at"),
            func.sum(case((attended_90, 1), else_=0)).label("attended_90"),
            func.sum(case((missed_90, 1), else_=0)).label("did_not_arrive_90"),
            func.sum(case((late_90, 1), else_=0)).label("late_cancelled_90"),
            func.min(case((or_(attended_90, missed_90, late_90), Appointment.starts_at))).label("oldest_window_at"),
        )
        .where(*counted(organization_id), Appointment.patient_id.is_not(None))
        .group_by(Appointment.patient_id)
    )
    if patient_ids is None:
        return {row.patient_id: row for row in db.session.execute(query)}
    rows: dict[str, Any] = {}
    for chunk in _chunks(patient_ids):
        rows.update({row.patient_id: row for row in db.session.execute(query.where(Appointment.patient_id.in_(chunk)))})
    return rows


def _patients(organization_id: str, patient_ids: Sequence[str] | None) -> list[Any]:
    """(id, archived, created_at) of the organization's patients among ``patient_ids``."""
    query = select(Patient.id, Patient.archived, Patient.created_at).where(Patient.organization_id == organization_id)
    if patient_ids is None:
        return list(db.session.execute(query))
    found: list[Any] = []
    for chunk in _chunks(patient_ids):
        found += list(db.session.execute(query.where(Patient.id.in_(chunk))))
    return found


def _stats_row(organization_id: str, patient_id: str, archived: bool, figures: Any, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {
        "organization_id": organization_id,
        "patient_id": patient_id,
        "computed_at": now,
        "total": 0,
        "attended": 0,
        "cancelled": 0,
        "did_not_arrive": 0,
        "upcoming": 0,
        "recent_attended": 0,
        "first_appointment_at": None,
        "last_attended_at": None,
        "next_appointment_at": None,
        "valid_until": None,
    }
    if figures is not None:
        for name in ("total", "attended", "cancelled", "did_not_arrive", "upcoming", "recent_attended"):
            row[name] = int(getattr(figures, name) or 0)
        for name in ("first_appointment_at", "last_attended_at", "next_appointment_at"):
            row[name] = getattr(figures, name)
        # The first moment time alone changes a figure: the next booking starts, or the oldest
        # recent attendance leaves the window (just after it is RECENT old: the window includes
        # its start; stored at the boundary itself, the row would be stale again the moment it
        # was computed).
        moments = [figures.next_appointment_at]
        if figures.oldest_recent_at is not None:
            moments.append(shifted(figures.oldest_recent_at, RECENT + _TICK))
        row["valid_until"] = min((m for m in moments if m is not None), default=None)
    row["is_active"] = not archived and (row["recent_attended"] > 0 or row["upcoming"] > 0)
    return row


def lock_stats(organization_id: str, *, wait: bool = True) -> bool:
    """Take the organization's statistics lock until the transaction ends (PostgreSQL; SQLite
    already lets one writer in at a time). Two recomputes of the same patients would otherwise
    both delete and re-insert their rows, and the second insert would hit the unique key.
    With ``wait=False``, returns False at once when another transaction holds it."""
    if db.session.get_bind().dialect.name != "postgresql":
        return True
    key = {"key": f"patient_appointment_stats:{organization_id}"}
    if wait:
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), key)
        return True
    return bool(db.session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"), key))


def organization_zone(organization_id: str) -> tzinfo:
    """The organization's time zone (UTC when unknown), for "today" and calendar days."""
    name = db.session.scalar(select(Organization.time_zone).where(Organization.id == organization_id))
    return rules.zone(name)


def recompute_stats(
    organization_id: str, patient_ids: Iterable[str] | None = None, *, now: datetime | None = None
) -> int:
    """Recompute ``PatientAppointmentStats`` as of ``now`` for ``patient_ids`` (every patient of
    the organization when None), refreshing stored statuses first: the appointment counts here,
    the engagement figures and risk by ``engagement.figures`` (docs/rules.md). Patients without
    appointments get a row of zeros. Takes the organization's statistics lock (``lock_stats``)
    and tells the dashboard its figures changed. Returns how many patients were computed."""
    from clinic_app.engagement import bulk  # engagement builds on this module's rules
    from clinic_app.engagement import figures as engagement_figures

    now = now or utcnow()
    lock_stats(organization_id)
    wanted = None if patient_ids is None else sorted(set(patient_ids))
    if wanted is None:
        bulk.widen_memory_for_this_transaction()
    refresh_statuses(organization_id, now=now, patient_ids=wanted)
    tz = organization_zone(organization_id)
    figures = _aggregates(organization_id, wanted, now, rules.window_start(now, tz))
    extras = engagement_figures.gather(organization_id, wanted, now)
    today = rules.local_date(now, tz)
    rows = []
    for patient in _patients(organization_id, wanted):
        patient_figures = figures.get(patient.id)
        row = _stats_row(organization_id, patient.id, patient.archived, patient_figures, now)
        engagement_figures.complete(
            row,
            figures=patient_figures,
            archived=patient.archived,
            registered_at=patient.created_at,
            extras=extras,
            now=now,
            tz=tz,
            today=today,
        )
        rows.append(row)
    stats = PatientAppointmentStats
    if wanted is None:
        db.session.execute(delete(stats).where(stats.organization_id == organization_id))
    else:
        for chunk in _chunks(wanted):
            db.session.execute(
                delete(stats).where(stats.organization_id == organization_id, stats.patient_id.in_(chunk))
            )
    bulk.write_rows(rows)  # the table's INSERT (COPY for many rows on PostgreSQL): no per-row ORM work
    db.session.flush()
    _invalidate_dashboard(organization_id)
    return len(rows)


def _invalidate_dashboard(organization_id: str) -> None:
    from clinic_app.dashboard import service as dashboard  # the dashboard reads these figures

    dashboard.invalidate(organization_id)


def stale_stats_patient_ids(organization_id: str, *, now: datetime | None = None) -> list[str]:
    """Patients whose figures time has changed since they were computed (see ``valid_until``)."""
    return list(
        db.session.scalars(
            select(PatientAppointmentStats.patient_id).where(
                PatientAppointmentStats.organization_id == organization_id,
                PatientAppointmentStats.valid_until <= (now or utcnow()),
            )
        )
    )


# --- reading ----------------------------------------------------------------------------------


def patient_stats(organization_id: str, patient_id: str) -> PatientAppointmentStats | None:
    """The patient's stored figures, or None when none were computed yet."""
    return db.session.scalar(
        select(PatientAppointmentStats).where(
            PatientAppointmentStats.organization_id == organization_id,
            PatientAppointmentStats.patient_id == patient_id,
        )
    )


def status_counts(organization_id: str, *, now: datetime | None = None) -> dict[str, int]:
    """How many counted appointments have each status at ``now`` (every status present, maybe 0)."""
    status = status_expression(now or utcnow())
    counts = dict.fromkeys(STATUSES, 0)
    for value, number in db.session.execute(
        select(status, func.count()).where(*counted(organization_id)).group_by(status)
    ):
        counts[value] = int(number)
    return counts


def activity_summary(organization_id: str) -> dict[str, Any]:
    """Organization-wide figures from the stored statistics (as of their ``computed_at``)."""
    stats = PatientAppointmentStats
    row = db.session.execute(
        select(
            func.count().label("patients"),
            func.sum(case((stats.is_active.is_(True), 1), else_=0)).label("active"),
            func.sum(case((stats.recent_attended > 0, 1), else_=0)).label("with_recent"),
            func.sum(case((stats.upcoming > 0, 1), else_=0)).label("with_upcoming"),
            func.sum(stats.recent_attended).label("recent_total"),
            func.sum(stats.upcoming).label("upcoming_total"),
            func.sum(stats.total).label("appointments_total"),
            func.max(stats.computed_at).label("computed_at"),
        ).where(stats.organization_id == organization_id)
    ).one()
    return {
        "patients": int(row.patients or 0),
        "active_patients": int(row.active or 0),
        "patients_with_recent": int(row.with_recent or 0),
        "patients_with_upcoming": int(row.with_upcoming or 0),
        "total_recent_appointments": int(row.recent_total or 0),
        "total_upcoming_appointments": int(row.upcoming_total or 0),
        "total_appointments": int(row.appointments_total or 0),
        "computed_at": row.computed_at,
    }


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
