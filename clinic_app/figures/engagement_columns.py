"""The engagement part of each patient's stored figures (docs/rules.md), computed set-based.

``figures.compute`` counts a patient's appointments; this module adds what
engagement needs on the same row: the next appointment's ids, the primary appointment type, the
activity status, the re-engagement risk with its reasons, whether a recorded contact still hides
the patient from the worklist, and the moments time alone changes any of that (``valid_until``).
Every query here is one statement per chunk of patients (or one for the whole organization),
never one per patient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Select, func, select

from clinic_app.appointments.models import Appointment
from clinic_app.appointments.service import chunks
from clinic_app.core.time import local_date, local_midnight
from clinic_app.extensions import db
from clinic_app.figures import rules
from clinic_app.figures.models import EngagementContact

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Extras:
    """What the organization-wide queries found for each patient, by patient id."""

    next_appointments: dict[str, Any]
    primary_types: dict[str, str]
    contacts: dict[str, Any]


# What the queries find for patients with nothing recorded (registered a moment ago).
NOTHING_RECORDED = Extras(next_appointments={}, primary_types={}, contacts={})


def _counted(organization_id: str) -> list[Any]:
    return [
        Appointment.organization_id == organization_id,
        Appointment.archived_at.is_(None),
        Appointment.deleted_at.is_(None),
        Appointment.patient_id.is_not(None),
    ]


def _first_ranked(inner: Select[Any], patient_column: Any, patient_ids: Sequence[str] | None) -> dict[str, Any]:
    """The rows of ``inner`` (which labels a per-patient ``rank``) ranked first, by patient id:
    one statement for the whole organization, or one per chunk of ``patient_ids``."""
    if patient_ids is None:
        batches = [inner]
    else:
        batches = [inner.where(patient_column.in_(chunk)) for chunk in chunks(patient_ids)]
    found: dict[str, Any] = {}
    for batch in batches:
        ranked = batch.subquery()
        found.update({row.patient_id: row for row in db.session.execute(select(ranked).where(ranked.c.rank == 1))})
    return found


def _next_appointments(organization_id: str, patient_ids: Sequence[str] | None, now: datetime) -> dict[str, Any]:
    """Each patient's next upcoming (booked) appointment: the earliest start, then the lowest id."""
    rank = func.row_number().over(partition_by=Appointment.patient_id, order_by=(Appointment.starts_at, Appointment.id))
    inner = select(
        Appointment.patient_id,
        Appointment.id,
        Appointment.appointment_type_id,
        Appointment.practitioner_id,
        rank.label("rank"),
    ).where(
        *_counted(organization_id),
        Appointment.cancelled_at.is_(None),
        Appointment.did_not_arrive.is_(False),
        Appointment.patient_arrived.is_(False),
        Appointment.starts_at > now,
    )
    return _first_ranked(inner, Appointment.patient_id, patient_ids)


def _primary_types(organization_id: str, patient_ids: Sequence[str] | None) -> dict[str, str]:
    """Each patient's most frequent appointment type among counted, not cancelled appointments;
    a tie goes to the type with the latest start (then the lowest id, so it is deterministic)."""
    rank = func.row_number().over(
        partition_by=Appointment.patient_id,
        order_by=(func.count().desc(), func.max(Appointment.starts_at).desc(), Appointment.appointment_type_id),
    )
    grouped = (
        select(Appointment.patient_id, Appointment.appointment_type_id, rank.label("rank"))
        .where(
            *_counted(organization_id),
            Appointment.cancelled_at.is_(None),
            Appointment.appointment_type_id.is_not(None),
        )
        .group_by(Appointment.patient_id, Appointment.appointment_type_id)
    )
    first = _first_ranked(grouped, Appointment.patient_id, patient_ids)
    return {patient_id: row.appointment_type_id for patient_id, row in first.items()}


def _latest_contacts(organization_id: str, patient_ids: Sequence[str] | None) -> dict[str, Any]:
    """Each patient's latest recorded contact (the only one that can hide them)."""
    contact = EngagementContact
    rank = func.row_number().over(
        partition_by=contact.patient_id, order_by=(contact.contacted_at.desc(), contact.id.desc())
    )
    inner = select(
        contact.patient_id,
        contact.outcome,
        contact.contacted_at,
        contact.risk_level,
        contact.figures_key,
        rank.label("rank"),
    ).where(contact.organization_id == organization_id)
    return _first_ranked(inner, contact.patient_id, patient_ids)


def gather(organization_id: str, patient_ids: Sequence[str] | None, now: datetime) -> Extras:
    """Run the organization-wide queries once for ``patient_ids`` (all patients when None)."""
    return Extras(
        next_appointments=_next_appointments(organization_id, patient_ids, now),
        primary_types=_primary_types(organization_id, patient_ids),
        contacts=_latest_contacts(organization_id, patient_ids),
    )


def _next_day_moment(contact_day: date, days: int, tz: tzinfo) -> datetime | None:
    """The local midnight at which the days since the last contact next pass a threshold (30, 60,
    90 or 180 days), or None past the last one."""
    threshold = next((t for t in rules.DAY_THRESHOLDS if days <= t), None)
    return None if threshold is None else _midnight_after(contact_day, threshold + 1, tz)


def _midnight_after(day: date, days: int, tz: tzinfo) -> datetime | None:
    """Local midnight ``days`` after ``day``; None past the calendar's end (a stored appointment
    in year 9999: time alone never changes its figures)."""
    try:
        return local_midnight(day + days * DAY, tz)
    except OverflowError:
        return None


def complete(
    row: dict[str, Any],
    *,
    figures: Any,
    archived: bool,
    registered_at: datetime,
    extras: Extras,
    now: datetime,
    tz: tzinfo,
    today: date | None = None,
) -> None:
    """Fill the engagement columns of one ``PatientAppointmentStats`` row (already holding the
    appointment counts and a ``valid_until`` for them), and move ``valid_until`` earlier where
    time alone would change the engagement figures. ``today`` is ``now``'s day in ``tz`` (passed
    in by a caller completing many rows)."""
    today = today or local_date(now, tz)
    patient_id = row["patient_id"]
    nxt = extras.next_appointments.get(patient_id)
    row["next_appointment_id"] = nxt.id if nxt else None
    row["next_appointment_type_id"] = nxt.appointment_type_id if nxt else None
    row["next_practitioner_id"] = nxt.practitioner_id if nxt else None
    row["primary_appointment_type_id"] = extras.primary_types.get(patient_id)
    recent, upcoming = row["recent_attended"], row["upcoming"]
    row["activity_status"] = rules.INACTIVE if archived else rules.activity_status(recent, upcoming)
    if figures is None:
        row["attended_90"] = row["did_not_arrive_90"] = row["late_cancelled_90"] = 0
    else:
        row["attended_90"] = int(figures.attended_90 or 0)
        row["did_not_arrive_90"] = int(figures.did_not_arrive_90 or 0)
        row["late_cancelled_90"] = int(figures.late_cancelled_90 or 0)

    last_visit = row["last_attended_at"]
    contact_day = local_date(last_visit or registered_at, tz)
    days = (today - contact_day).days
    risk = rules.reengagement_risk(
        days_since_last_contact=days,
        has_history=row["total"] > 0,
        upcoming=upcoming,
        attended_90=row["attended_90"],
        did_not_arrive_90=row["did_not_arrive_90"],
        late_cancelled_90=row["late_cancelled_90"],
        appointments_90=row["attended_90"] + row["did_not_arrive_90"] + row["late_cancelled_90"],
        never_attended=last_visit is None,
        last_contact_on=contact_day,
        archived=archived,
    )
    row["risk_level"], row["risk_score"] = risk.level, risk.score
    row["action_priority"], row["risk_reasons"] = risk.action_priority, list(risk.reasons)

    moments: list[datetime] = [] if row["valid_until"] is None else [row["valid_until"]]
    if not archived and upcoming == 0:
        day_moment = _next_day_moment(contact_day, days, tz)
        if day_moment is not None:
            moments.append(day_moment)
    oldest_in_window = figures.oldest_window_at if figures is not None else None
    if not archived and oldest_in_window is not None:
        # It leaves the 90-day window at local midnight 91 days after its day.
        leaves = _midnight_after(local_date(oldest_in_window, tz), rules.WINDOW_DAYS + 1, tz)
        if leaves is not None and leaves > now:
            moments.append(leaves)

    row["contacted_at"] = None
    contact = extras.contacts.get(patient_id)
    if contact is not None:
        hidden, until = rules.contact_hides(
            outcome=contact.outcome,
            contacted_at=contact.contacted_at,
            risk_level_then=contact.risk_level,
            figures_key_then=contact.figures_key,
            risk_level_now=risk.level,
            figures_key_now=key_of(row),
            now=now,
        )
        if hidden:
            row["contacted_at"] = contact.contacted_at
            if until is not None:
                moments.append(until)
    row["valid_until"] = min(moments, default=None)


def key_of(row: Any) -> str:
    """``rules.figures_key`` of a stats row (a dict or a ``PatientAppointmentStats``)."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    return rules.figures_key(
        total=get("total"),
        attended=get("attended"),
        cancelled=get("cancelled"),
        did_not_arrive=get("did_not_arrive"),
        upcoming=get("upcoming"),
    )
