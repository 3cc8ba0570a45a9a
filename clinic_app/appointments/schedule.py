"""Reading appointments for the calendar pages and the JSON API: a practitioner's days, the
organization's upcoming appointments and their summary, one patient's upcoming and past ones.

Days and weeks are the organization's (its time zone: a day runs from local midnight to local
midnight, a week from Monday). Every query is an index range over (organization, practitioner,
starts_at) or (organization, starts_at); only names are read (no decryption), so nothing here is
audited as a PHI read. Statuses are the rule of docs/rules.md at ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Any

from sqlalchemy import Date, Select, and_, case, cast, false, func, or_, select

from clinic_app.appointments import service
from clinic_app.appointments.clashes import LONGEST_MINUTES
from clinic_app.appointments.models import BOOKED, CANCELLED, Appointment, AppointmentType, Practitioner
from clinic_app.core.time import local_date, local_midnight, organization_zone, shifted
from clinic_app.extensions import db
from clinic_app.patients.models import Patient

DAY_VIEW, WEEK_VIEW = "day", "week"
VIEWS = (DAY_VIEW, WEEK_VIEW)


def local_today(organization_id: str, now: datetime) -> date:
    return local_date(now, organization_zone(organization_id))


def days_shown(day: date, view: str) -> list[date]:
    """The day itself, or the Monday-to-Sunday week it falls in."""
    if view == DAY_VIEW:
        return [day]
    monday = day - timedelta(days=day.weekday())
    return [monday + timedelta(days=offset) for offset in range(7)]


@dataclass(frozen=True)
class Entry:
    """One appointment as lists and calendars show it (names only; nothing decrypted)."""

    id: str
    starts_at: datetime
    ends_at: datetime
    status: str
    patient_id: str | None
    patient_name: str
    patient_first_name: str | None
    patient_last_name: str | None
    practitioner_id: str | None
    practitioner_name: str | None
    appointment_type_id: str | None
    appointment_type: str | None
    color: str | None
    from_cliniko: bool

    @property
    def cancelled(self) -> bool:
        return self.status == CANCELLED


def _entries(query: Select[Any], now: datetime) -> list[Entry]:
    rows = db.session.execute(query).all()
    return [_entry(row, now) for row in rows]


def _select() -> Select[Any]:
    return (
        select(
            Appointment.id,
            Appointment.starts_at,
            Appointment.ends_at,
            Appointment.cancelled_at,
            Appointment.did_not_arrive,
            Appointment.patient_arrived,
            Appointment.patient_id,
            Appointment.practitioner_id,
            Appointment.appointment_type_id,
            Appointment.cliniko_id,
            Patient.first_name,
            Patient.last_name,
            Practitioner.title,
            Practitioner.first_name.label("practitioner_first_name"),
            Practitioner.last_name.label("practitioner_last_name"),
            AppointmentType.name.label("type_name"),
            AppointmentType.color,
            AppointmentType.duration_minutes,
        )
        .outerjoin(Patient, Patient.id == Appointment.patient_id)
        .outerjoin(Practitioner, Practitioner.id == Appointment.practitioner_id)
        .outerjoin(AppointmentType, AppointmentType.id == Appointment.appointment_type_id)
    )


def _entry(row: Any, now: datetime) -> Entry:
    # A row without an end lasts its type's duration, kept to what an appointment may last (a
    # synced type's duration is whatever the other system said).
    length = timedelta(minutes=min(max(row.duration_minutes or 30, 1), LONGEST_MINUTES))
    names = [part for part in (row.title, row.practitioner_first_name, row.practitioner_last_name) if part]
    patient_name = " ".join(part for part in (row.first_name, row.last_name) if part) or "Patient not yet known"
    return Entry(
        id=row.id,
        starts_at=row.starts_at,
        ends_at=row.ends_at or shifted(row.starts_at, length),
        status=service.appointment_status(
            starts_at=row.starts_at,
            cancelled_at=row.cancelled_at,
            did_not_arrive=row.did_not_arrive,
            patient_arrived=row.patient_arrived,
            now=now,
        ),
        patient_id=row.patient_id,
        patient_name=patient_name,
        patient_first_name=row.first_name,
        patient_last_name=row.last_name,
        practitioner_id=row.practitioner_id,
        practitioner_name=" ".join(names) if names else None,
        appointment_type_id=row.appointment_type_id,
        appointment_type=row.type_name,
        color=row.color,
        from_cliniko=row.cliniko_id is not None,
    )


# --- a practitioner's days ----------------------------------------------------------------------


def practitioner_days(
    organization_id: str, practitioner_id: str, days: list[date], *, now: datetime
) -> dict[date, list[Entry]]:
    """The practitioner's appointments on each of ``days`` (cancelled ones included, flagged),
    in start order; days with none map to an empty list."""
    zone = organization_zone(organization_id)
    start, end = local_midnight(days[0], zone), local_midnight(days[-1] + timedelta(days=1), zone)
    query = (
        _select()
        .where(
            *service.counted(organization_id),
            Appointment.practitioner_id == practitioner_id,
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
        .order_by(Appointment.starts_at, Appointment.id)
    )
    by_day: dict[date, list[Entry]] = {day: [] for day in days}
    for entry in _entries(query, now):
        by_day.setdefault(local_date(entry.starts_at, zone), []).append(entry)
    return by_day


# --- upcoming -------------------------------------------------------------------------------------


def _upcoming_conditions(organization_id: str, now: datetime, days_ahead: int) -> list[Any]:
    """ "Upcoming" of docs/rules.md (status ``booked``: counted, not cancelled, not marked, starting
    after ``now``) spelled out column by column, so PostgreSQL answers from the partial index
    ``ix_appointments_org_upcoming`` alone (an index-only scan of the window)."""
    return [
        *service.counted(organization_id),
        Appointment.cancelled_at.is_(None),
        # "= false", not "IS false": the index's predicate, word for word, so the planner uses it
        Appointment.did_not_arrive == false(),
        Appointment.patient_arrived == false(),
        Appointment.starts_at > now,
        Appointment.starts_at <= now + timedelta(days=days_ahead),
    ]


def upcoming(
    organization_id: str,
    *,
    now: datetime,
    days_ahead: int,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> tuple[list[Entry], int]:
    """The next ``limit`` upcoming (booked, not cancelled) appointments starting within
    ``days_ahead`` days of ``now``, soonest first (after the ``(starts_at, id)`` position
    ``after`` when given: the API's next page), and how many there are in the whole window."""
    conditions = _upcoming_conditions(organization_id, now, days_ahead)
    total = db.session.scalar(select(func.count()).select_from(Appointment).where(*conditions)) or 0
    query = _select().where(*conditions)
    if after is not None:
        starts_at, appointment_id = after
        query = query.where(
            or_(
                Appointment.starts_at > starts_at,
                and_(Appointment.starts_at == starts_at, Appointment.id > appointment_id),
            )
        )
    query = query.order_by(Appointment.starts_at, Appointment.id).limit(limit)
    return _entries(query, now), int(total)


def upcoming_summary(organization_id: str, *, now: datetime, days_ahead: int) -> dict[str, Any]:
    """Counts of the upcoming appointments within ``days_ahead`` days: per local day (every day
    of the window, zeros included), per appointment type and per practitioner, plus the next
    start. Counted by the database (index-only on PostgreSQL): one row per day, type or
    practitioner comes back, never one per appointment."""
    zone = organization_zone(organization_id)
    conditions = _upcoming_conditions(organization_id, now, days_ahead)
    today = local_date(now, zone)
    last = local_date(now + timedelta(days=days_ahead), zone)
    days = [today + timedelta(days=offset) for offset in range((last - today).days + 1)]
    total, next_at = db.session.execute(select(func.count(), func.min(Appointment.starts_at)).where(*conditions)).one()
    counts = _per_local_day(conditions, zone, days)

    def grouped(column: Any, model: Any) -> list[tuple[str | None, str | None, int]]:
        counts = db.session.execute(select(column, func.count()).where(*conditions).group_by(column)).all()
        ids = [key for key, _ in counts if key is not None]
        named = db.session.scalars(select(model).where(model.id.in_(ids))).all() if ids else []
        names = {row.id: row.display_name if model is Practitioner else row.name for row in named}
        rows = [(key, names.get(key), int(number)) for key, number in counts]
        return sorted(rows, key=lambda item: (-item[2], item[1] or ""))

    return {
        "total": int(total or 0),
        "next_starts_at": next_at,
        "days": [(day, counts.get(day, 0)) for day in days],
        "types": grouped(Appointment.appointment_type_id, AppointmentType),
        "practitioners": grouped(Appointment.practitioner_id, Practitioner),
    }


def _per_local_day(conditions: list[Any], zone: tzinfo, days: list[date]) -> dict[date, int]:
    """How many of the appointments ``conditions`` select start on each of the clinic's days.
    PostgreSQL groups by the local date itself; elsewhere (SQLite, which has no time zones) one
    sum per day over the window's rows."""
    if db.session.get_bind().dialect.name == "postgresql":
        local_day = cast(func.timezone(str(zone), Appointment.starts_at), Date)
        rows = db.session.execute(select(local_day, func.count()).where(*conditions).group_by(local_day)).all()
        return {day: int(number) for day, number in rows}
    bounds = [local_midnight(day, zone) for day in [*days, days[-1] + timedelta(days=1)]]
    sums = [
        func.sum(case((and_(Appointment.starts_at >= start, Appointment.starts_at < end), 1), else_=0))
        for start, end in pairwise(bounds)
    ]
    row = db.session.execute(select(*sums).where(*conditions)).one()
    return {day: int(number or 0) for day, number in zip(days, row, strict=True)}


# --- one patient ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientSchedule:
    upcoming: list[Entry]
    past: list[Entry]
    upcoming_total: int
    past_total: int


def patient_schedule(organization_id: str, patient_id: str, *, now: datetime, limit: int = 10) -> PatientSchedule:
    """The patient's next ``limit`` appointments (not cancelled, soonest first) and their latest
    ``limit`` past or cancelled ones (latest first), with how many there are of each."""
    base = [*service.counted(organization_id), Appointment.patient_id == patient_id]
    status = service.status_expression(now)
    ahead = [*base, status == BOOKED]
    behind = [*base, status != BOOKED]
    count = select(func.count()).select_from(Appointment)
    return PatientSchedule(
        upcoming=_entries(_select().where(*ahead).order_by(Appointment.starts_at, Appointment.id).limit(limit), now),
        past=_entries(
            _select().where(*behind).order_by(Appointment.starts_at.desc(), Appointment.id).limit(limit), now
        ),
        upcoming_total=int(db.session.scalar(count.where(*ahead)) or 0),
        past_total=int(db.session.scalar(count.where(*behind)) or 0),
    )
