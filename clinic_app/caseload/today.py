"""A practitioner's day: the appointments of one calendar day in the organization's time zone.

"Today" is the organization's local day (a Sydney clinic's Tuesday starts at Tuesday 00:00 in
Sydney, Monday 13:00 or 14:00 UTC), so the window is computed from local midnights, which also
handles the 23- and 25-hour days when clocks change. Archived and deleted appointments are left
out, as everywhere (docs/rules.md); cancelled ones stay visible, marked, because the slot they
freed is part of the day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import select

from clinic_app.appointments import service as appointments
from clinic_app.appointments import timing
from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.caseload.references import practitioner_name
from clinic_app.core.errors import FieldError
from clinic_app.core.time import day_in_range, day_window, in_zone, out_of_range
from clinic_app.extensions import db
from clinic_app.patients.models import Patient

ALL = "all"


def parse_day(value: str | None, today: date) -> tuple[date, FieldError | None]:
    """The day asked for (``YYYY-MM-DD``), or ``today`` with an error when it is not a date."""
    if not value:
        return today, None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return today, FieldError("date", "Enter a date as YYYY-MM-DD.")
    if not day_in_range(day):  # and no arithmetic at the ends of the calendar
        return today, FieldError("date", out_of_range("a date"))
    return day, None


@dataclass(frozen=True)
class PractitionerChoice:
    id: str
    name: str


def practitioners(organization_id: str) -> list[PractitionerChoice]:
    """The organization's practitioners who are not archived, by name."""
    rows = db.session.execute(
        select(Practitioner.id, Practitioner.title, Practitioner.first_name, Practitioner.last_name)
        .where(Practitioner.organization_id == organization_id, Practitioner.archived_at.is_(None))
        .order_by(Practitioner.last_name, Practitioner.first_name, Practitioner.id)
    )
    return [
        PractitionerChoice(row.id, practitioner_name(row.title, row.first_name, row.last_name) or "Unnamed")
        for row in rows
    ]


def linked_practitioner_id(organization_id: str, user_id: str | None) -> str | None:
    """The practitioner record linked to this user (set on the practitioners page), if any."""
    if user_id is None:
        return None
    return db.session.scalar(
        select(Practitioner.id)
        .where(
            Practitioner.organization_id == organization_id,
            Practitioner.user_id == user_id,
            Practitioner.archived_at.is_(None),
        )
        .order_by(Practitioner.id)
        .limit(1)
    )


def choose_practitioner(
    organization_id: str,
    *,
    asked: str | None,
    remembered: str | None,
    user_id: str | None,
    known: list[PractitionerChoice],
) -> tuple[str, FieldError | None]:
    """Whose day to show: ``asked`` (a practitioner id or "all") when it is one of ``known``;
    otherwise the remembered choice, the practitioner linked to the user, or everyone."""
    ids = {choice.id for choice in known}
    error = None
    if asked:
        if asked == ALL or asked in ids:
            return asked, None
        error = FieldError("practitioner", "Choose a practitioner from the list.")
    if remembered and (remembered == ALL or remembered in ids):
        return remembered, error
    linked = linked_practitioner_id(organization_id, user_id)
    return (linked if linked in ids else ALL), error


@dataclass(frozen=True)
class DayAppointment:
    appointment: Appointment
    patient_id: str | None
    patient_name: str | None
    type_name: str | None
    practitioner: str | None
    status: str
    priority: str | None
    local_start: datetime
    local_end: datetime | None


def day_appointments(
    organization_id: str, day: date, *, practitioner_id: str, now: datetime, zone: tzinfo
) -> list[DayAppointment]:
    """The counted appointments starting on ``day`` (local), in time order, for one practitioner
    (or everyone with "all"). ``priority`` is that appointment's own priority when it is still to
    come (``appointments.timing.priority``), None once it has started, was cancelled or marked."""
    start, end = day_window(day, zone)
    status = appointments.status_expression(now)
    query: Any = (
        select(
            Appointment,
            status.label("status_now"),
            Patient.first_name,
            Patient.last_name,
            AppointmentType.name.label("type_name"),
            Practitioner.title.label("practitioner_title"),
            Practitioner.first_name.label("practitioner_first_name"),
            Practitioner.last_name.label("practitioner_last_name"),
        )
        .outerjoin(Patient, Patient.id == Appointment.patient_id)
        .outerjoin(AppointmentType, AppointmentType.id == Appointment.appointment_type_id)
        .outerjoin(Practitioner, Practitioner.id == Appointment.practitioner_id)
        .where(*appointments.counted(organization_id), Appointment.starts_at >= start, Appointment.starts_at < end)
        .order_by(Appointment.starts_at, Appointment.id)
    )
    if practitioner_id != ALL:
        query = query.where(Appointment.practitioner_id == practitioner_id)
    shown = []
    for row in db.session.execute(query):
        appointment: Appointment = row[0]
        known_patient = appointment.patient_id is not None and row.first_name is not None
        shown.append(
            DayAppointment(
                appointment=appointment,
                patient_id=appointment.patient_id if known_patient else None,
                patient_name=f"{row.first_name} {row.last_name}" if known_patient else None,
                type_name=row.type_name,
                practitioner=practitioner_name(
                    row.practitioner_title, row.practitioner_first_name, row.practitioner_last_name
                ),
                status=row.status_now,
                priority=timing.priority(appointment.starts_at, now) if row.status_now == appointments.BOOKED else None,
                local_start=in_zone(appointment.starts_at, zone),
                local_end=in_zone(appointment.ends_at, zone) if appointment.ends_at else None,
            )
        )
    return shown
