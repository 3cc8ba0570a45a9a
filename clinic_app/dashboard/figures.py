"""Counting the dashboard's figures from the tables, once per snapshot (see ``service``).

Every figure uses the words of docs/rules.md through ``appointments.service`` (status, counted)
and ``figures.rules`` (percentages, averages, attendance), and reads as
little as it can:

* patient figures are sums over ``patient_appointment_stats`` (one row per patient);
* the weekly series, the types and the next seven days are index range scans of appointments by
  (organization_id, starts_at) over 12 weeks — never the whole table;
* the activity feed reads the latest sync runs and audit events by their (organization, time)
  indexes.

Definitions (the page and the JSON say the same):

* ``total_patients``: patients who are not archived (the patient list's default);
* ``active_patients``, ``patients_with_recent``, ``patients_with_upcoming``: active patients
  (docs/rules.md) with any / a recent attended / an upcoming appointment;
* ``total_recent_appointments``, ``total_upcoming_appointments``: those appointments of active
  patients; ``total_all_appointments``: every counted appointment of every patient (history of
  archived patients included: it happened);
* ``avg_*_per_patient``: over active patients (their recent, upcoming and all appointments ÷
  active patients);
* ``engagement_rate``: active ÷ total patients * 100; ``sync_percentage``: patients linked to
  Cliniko ÷ total patients * 100 (both over patients who are not archived).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, and_, case, distinct, func, select

from clinic_app.appointments import service as appointments
from clinic_app.appointments.models import STATUSES, Appointment, AppointmentType
from clinic_app.core.time import isoformat, local_date, local_midnight
from clinic_app.extensions import db
from clinic_app.figures import rules
from clinic_app.figures.models import PatientAppointmentStats
from clinic_app.patients.models import Patient
from clinic_app.sync.models import COMPLETED, FINISHED_STATUSES, ClinikoConnection, ClinikoLink, OutboxEntry, SyncRun
from clinic_app.sync.models import PENDING as OUTBOX_PENDING
from clinic_app.sync.models import SENDING as OUTBOX_SENDING

WEEKS = 12
UPCOMING_DAYS = 7
TYPES_SHOWN = 8  # the rest are summed as "Other types"
NO_TYPE = "No type"
OTHER_TYPES = "Other types"


def _int(value: Any) -> int:
    return int(value or 0)


def integration_status(connected: bool, synced: int, total: int, last_sync_ok: bool) -> str:
    """``Not Connected`` without a Cliniko connection; ``Connected`` when the last sync succeeded
    and every patient is synced (an organization with no patients counts as fully synced);
    ``Partial`` otherwise (never synced, last sync failed, or some patients are not in Cliniko).
    ``synced`` counts the patients registered here that are waiting in the outbox to be sent: they
    are on their way, not missing."""
    if not connected:
        return "Not Connected"
    if last_sync_ok and synced >= total:
        return "Connected"
    return "Partial"


def activity_status(active_patients: int) -> str:
    """``Active`` when the organization has at least one active patient, else ``Inactive``."""
    return "Active" if active_patients > 0 else "Inactive"


# --- weeks in the organization's time zone ----------------------------------------------------


def week_starts(now: datetime, tz: tzinfo, weeks: int = WEEKS) -> list[datetime]:
    """``weeks + 1`` boundaries: local Monday midnights from ``weeks - 1`` weeks before this week's
    Monday to next Monday, as aware datetimes. A week across a DST change is 167 or 169 hours."""
    today = local_date(now, tz)
    monday = today - timedelta(days=today.weekday())
    first = monday - timedelta(weeks=weeks - 1)
    return [local_midnight(first + timedelta(weeks=index), tz) for index in range(weeks + 1)]


def _bucket(column: Any, boundaries: list[datetime]) -> ColumnElement[int]:
    """The index of the week ``column`` falls in (callers keep it within the boundaries)."""
    whens = [(column >= boundaries[index], index) for index in range(len(boundaries) - 2, 0, -1)]
    return case(*whens, else_=0)


def _in_weeks(column: Any, boundaries: list[datetime]) -> ColumnElement[bool]:
    return and_(column >= boundaries[0], column < boundaries[-1])


# --- the parts --------------------------------------------------------------------------------


def patient_figures(organization_id: str, now: datetime) -> dict[str, Any]:
    """Sums over the stored per-patient figures (as they are stored), and the
    first moment after ``now`` at which one of them expires."""
    stats = PatientAppointmentStats
    active = stats.is_active.is_(True)
    row = db.session.execute(
        select(
            func.sum(case((active, 1), else_=0)).label("active"),
            func.sum(case((and_(active, stats.upcoming > 0), 1), else_=0)).label("with_upcoming"),
            func.sum(case((and_(active, stats.recent_attended > 0), 1), else_=0)).label("with_recent"),
            func.sum(case((active, stats.upcoming), else_=0)).label("upcoming"),
            func.sum(case((active, stats.recent_attended), else_=0)).label("recent"),
            func.sum(case((active, stats.total), else_=0)).label("active_total"),
            func.sum(stats.total).label("all_total"),
            func.sum(stats.attended_90).label("attended_90"),
            func.sum(stats.did_not_arrive_90).label("did_not_arrive_90"),
            func.sum(stats.late_cancelled_90).label("late_cancelled_90"),
            func.min(case((stats.valid_until > now, stats.valid_until))).label("valid_until"),
        ).where(stats.organization_id == organization_id)
    ).one()
    total_patients = db.session.scalar(
        select(func.count())
        .select_from(Patient)
        .where(Patient.organization_id == organization_id, Patient.archived.is_(False))
    )
    return {
        "total_patients": _int(total_patients),
        "active_patients": _int(row.active),
        "patients_with_upcoming": _int(row.with_upcoming),
        "patients_with_recent": _int(row.with_recent),
        "total_upcoming_appointments": _int(row.upcoming),
        "total_recent_appointments": _int(row.recent),
        "active_total_appointments": _int(row.active_total),
        "total_all_appointments": _int(row.all_total),
        "attended_90": _int(row.attended_90),
        "did_not_arrive_90": _int(row.did_not_arrive_90),
        "late_cancelled_90": _int(row.late_cancelled_90),
        "stats_valid_until": row.valid_until,
    }


def sync_figures(organization_id: str) -> dict[str, Any]:
    """Connection, patients linked to Cliniko (not archived), the last and the running sync."""
    connection = db.session.scalar(
        select(ClinikoConnection).where(ClinikoConnection.organization_id == organization_id)
    )
    linked = select(ClinikoLink.local_id).where(
        ClinikoLink.organization_id == organization_id, ClinikoLink.resource == "patients"
    )
    synced = db.session.scalar(
        select(func.count())
        .select_from(Patient)
        .where(Patient.organization_id == organization_id, Patient.archived.is_(False), Patient.id.in_(linked))
    )
    finished = db.session.scalar(
        select(SyncRun)
        .where(SyncRun.organization_id == organization_id, SyncRun.status.in_(FINISHED_STATUSES))
        .order_by(SyncRun.created_at.desc(), SyncRun.id)
        .limit(1)
    )
    running = db.session.scalar(
        select(SyncRun.id).where(
            SyncRun.organization_id == organization_id, SyncRun.status.in_(("starting", "running"))
        )
    )
    # Registered here and still in the outbox on their way to Cliniko: waiting, not missing. A
    # create Cliniko refused or held as a conflict is not on its way: that patient is missing.
    creating = select(OutboxEntry.local_id).where(
        OutboxEntry.organization_id == organization_id,
        OutboxEntry.resource == "patients",
        OutboxEntry.action == "create",
        OutboxEntry.status.in_((OUTBOX_PENDING, OUTBOX_SENDING)),
    )
    waiting = db.session.scalar(
        select(func.count())
        .select_from(Patient)
        .where(
            Patient.organization_id == organization_id,
            Patient.archived.is_(False),
            Patient.id.in_(creating),
            Patient.id.not_in(linked),
        )
    )
    return {
        "connected": connection is not None,
        "last_sync_time": connection.last_successful_sync_at if connection else None,
        "last_run_status": finished.status if finished else None,
        "last_sync_ok": finished is not None and finished.status == COMPLETED,
        "running_sync_id": running,
        "synced_patients": _int(synced),
        "waiting_patients": _int(waiting),
    }


def summary(organization_id: str, patients: dict[str, Any], sync: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The seed's ``summary`` object (times as ISO strings)."""
    total, active = patients["total_patients"], patients["active_patients"]
    return {
        "organization_id": organization_id,
        "total_patients": total,
        "active_patients": active,
        "patients_with_upcoming": patients["patients_with_upcoming"],
        "patients_with_recent": patients["patients_with_recent"],
        "total_upcoming_appointments": patients["total_upcoming_appointments"],
        "total_recent_appointments": patients["total_recent_appointments"],
        "total_all_appointments": patients["total_all_appointments"],
        "avg_upcoming_per_patient": rules.average(patients["total_upcoming_appointments"], active),
        "avg_recent_per_patient": rules.average(patients["total_recent_appointments"], active),
        "avg_total_per_patient": rules.average(patients["active_total_appointments"], active),
        "engagement_rate": rules.percentage(active, total),
        "last_sync_time": isoformat(sync["last_sync_time"]),
        "synced_patients": sync["synced_patients"],
        "sync_percentage": rules.percentage(sync["synced_patients"], total),
        "integration_status": integration_status(
            sync["connected"], sync["synced_patients"] + sync.get("waiting_patients", 0), total, sync["last_sync_ok"]
        ),
        "activity_status": activity_status(active),
        "generated_at": isoformat(now),
    }


def upcoming_week(organization_id: str, now: datetime, days: int = UPCOMING_DAYS) -> dict[str, Any]:
    """Upcoming appointments starting in the next ``days`` * 24 hours, of patients who are not
    archived, and how many patients they are (the patients the card links to)."""
    until = now + timedelta(days=days)
    row = db.session.execute(
        select(func.count().label("appointments"), func.count(distinct(Appointment.patient_id)).label("patients"))
        .select_from(Appointment)
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(
            *appointments.counted(organization_id),
            Appointment.starts_at > now,
            Appointment.starts_at <= until,
            appointments.status_expression(now) == appointments.BOOKED,
            Patient.archived.is_(False),
        )
    ).one()
    return {
        "appointments": _int(row.appointments),
        "patients": _int(row.patients),
        "days": days,
        "until": isoformat(until),
    }


def attendance(patients: dict[str, Any], now: datetime, tz: tzinfo) -> dict[str, Any]:
    """Attendance over the 90-day window: attended ÷ (attended + did not arrive + late cancelled)."""
    attended, missed, late = patients["attended_90"], patients["did_not_arrive_90"], patients["late_cancelled_90"]
    rate = rules.attendance_rate(attended, missed, late)
    return {
        "attended": attended,
        "did_not_arrive": missed,
        "late_cancelled": late,
        "appointments": attended + missed + late,
        "rate": round(rate, 4),
        "percentage": rules.percentage(attended, attended + missed + late) if attended + missed + late else 100.0,
        "since": isoformat(rules.window_start(now, tz)),
        "days": rules.WINDOW_DAYS,
    }


def weekly(organization_id: str, now: datetime, tz: tzinfo) -> list[dict[str, Any]]:
    """Twelve weeks (this one last) of appointments by status, and patients seen, new or returning.

    A patient is counted in a week when they have an appointment that week that was not cancelled;
    they are *new* that week when their first appointment (the earliest not cancelled) falls in it.
    """
    boundaries = week_starts(now, tz)
    bucket = _bucket(Appointment.starts_at, boundaries)
    status = appointments.status_expression(now)
    scope = [*appointments.counted(organization_id), _in_weeks(Appointment.starts_at, boundaries)]
    weeks: list[dict[str, Any]] = []
    for index in range(WEEKS):
        start: date = boundaries[index].date()
        weeks.append(
            {
                "week_start": start.isoformat(),
                "starts_at": isoformat(boundaries[index]),
                "ends_at": isoformat(boundaries[index + 1]),
                "attended": 0,
                "cancelled": 0,
                "did_not_arrive": 0,
                "booked": 0,
                "patients": 0,
                "new_patients": 0,
                "returning_patients": 0,
            }
        )
    # One pass over the twelve weeks' appointments: counts by status and the distinct patients
    # with an appointment that was not cancelled (COUNT DISTINCT leaves out the NULLs).
    patient_if_kept = case((Appointment.cancelled_at.is_(None), Appointment.patient_id))
    by_week = (
        select(
            bucket.label("week"),
            *(func.sum(case((status == name, 1), else_=0)).label(name) for name in STATUSES),
            func.count(distinct(patient_if_kept)).label("patients"),
        )
        .where(*scope)
        .group_by(bucket)
    )
    for row in db.session.execute(by_week):
        week = weeks[row.week]
        week.update({name: _int(getattr(row, name)) for name in STATUSES}, patients=_int(row.patients))
    stats = PatientAppointmentStats
    first_bucket = _bucket(stats.first_appointment_at, boundaries)
    new = (
        select(first_bucket.label("week"), func.count().label("n"))
        .where(stats.organization_id == organization_id, _in_weeks(stats.first_appointment_at, boundaries))
        .group_by(first_bucket)
    )
    for row in db.session.execute(new):
        weeks[row.week]["new_patients"] = _int(row.n)
    for week in weeks:
        week["returning_patients"] = max(0, week["patients"] - week["new_patients"])
    return weeks


def by_type(organization_id: str, now: datetime, tz: tzinfo) -> list[dict[str, Any]]:
    """Appointments of the same twelve weeks that were not cancelled, by appointment type, most
    first; beyond ``TYPES_SHOWN`` types the rest are one "Other types" row."""
    boundaries = week_starts(now, tz)
    rows = db.session.execute(
        select(Appointment.appointment_type_id, func.count().label("n"))
        .where(
            *appointments.counted(organization_id),
            _in_weeks(Appointment.starts_at, boundaries),
            Appointment.cancelled_at.is_(None),
        )
        .group_by(Appointment.appointment_type_id)
    ).all()
    ids = [row.appointment_type_id for row in rows if row.appointment_type_id]
    names = (
        dict(
            db.session.execute(
                select(AppointmentType.id, AppointmentType.name).where(
                    AppointmentType.organization_id == organization_id, AppointmentType.id.in_(ids)
                )
            ).all()
        )
        if ids
        else {}
    )
    types = sorted(
        (
            {
                "appointment_type_id": row.appointment_type_id,
                "name": (names.get(row.appointment_type_id) or "Unnamed type") if row.appointment_type_id else NO_TYPE,
                "appointments": _int(row.n),
            }
            for row in rows
        ),
        key=lambda item: (-item["appointments"], item["name"]),
    )
    if len(types) > TYPES_SHOWN:
        rest = sum(item["appointments"] for item in types[TYPES_SHOWN - 1 :])
        types = [*types[: TYPES_SHOWN - 1], {"appointment_type_id": None, "name": OTHER_TYPES, "appointments": rest}]
    return types
