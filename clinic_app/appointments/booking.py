"""Booking in the app, for clinics without Cliniko: book, reschedule, cancel, mark arrived or did
not arrive, change notes (docs/appointments.md).

Promises:

* A practitioner is never double-booked by this module: a booking or reschedule whose
  [starts_at, ends_at) overlaps another appointment of the same practitioner that is not cancelled,
  deleted or archived is refused with ``DoubleBooked`` (409, naming the clash). The practitioner's
  row is locked before the check, so two bookings for the same practitioner run one after the
  other and the second sees the first (the rule and the lock: ``clashes``).
* The patient, practitioner and appointment type must be the organization's (``NotFound``
  otherwise, exactly like an id that does not exist); archived ones cannot be booked (``Invalid``).
* Appointments that came from Cliniko are read-only while the organization is connected to it
  (``Conflict``): Cliniko is then the calendar, and the next sync brings its changes here. New
  bookings are refused then too, since they would never reach Cliniko's calendar.
* After every change the patient's figures are recomputed (``service.recompute_stats``) and the
  dashboard told (``dashboard.service.invalidate``, when that module is installed); every change
  is audited with ids only, never notes or reasons.

Loading and reading one appointment is ``records`` (re-exported here). Functions take the
organization explicitly and only flush; the caller commits.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from typing import Any

from clinic_app.appointments import service
from clinic_app.appointments.clashes import (
    DEFAULT_LENGTH,
    LONGEST,
    LONGEST_MINUTES,
    DoubleBooked,
    find_clash,
    load_practitioner,
    refuse_clash,
)
from clinic_app.appointments.models import (
    CANCELLATION_REASON_FIELD,
    CANCELLED,
    NOTES_FIELD,
    Appointment,
    AppointmentType,
    Practitioner,
)
from clinic_app.appointments.records import (
    AppointmentView,
    cliniko_connected,
    get_appointment,
    is_read_only,
    view_appointment,
)
from clinic_app.core import audit, crypto
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.time import moment_in_range, out_of_range, utcnow
from clinic_app.extensions import db
from clinic_app.patients import service as patients
from clinic_app.patients.models import Patient

NOTES_MAX, REASON_MAX = 2000, 500
# Re-exported: the pages and the API reach these through ``booking``.
__all__ = [
    "DEFAULT_LENGTH",
    "AppointmentView",
    "DoubleBooked",
    "book",
    "cancel",
    "change_notes",
    "cliniko_connected",
    "find_clash",
    "get_appointment",
    "invalidate_dashboard",
    "is_read_only",
    "mark_arrived",
    "mark_did_not_arrive",
    "reschedule",
    "view_appointment",
    "why_unchangeable",
]


# --- loading ---------------------------------------------------------------------------------


def _appointment_type(organization_id: str, appointment_type_id: str | None) -> AppointmentType:
    found = db.session.get(AppointmentType, appointment_type_id) if appointment_type_id else None
    if found is None or found.organization_id != organization_id:
        raise NotFound("No such appointment type.")
    return found


def _bookable_patient(organization_id: str, patient_id: str | None) -> Patient:
    patient = patients.get_patient(organization_id, patient_id or "")
    if patient.archived:
        raise Invalid(errors=[FieldError("patient_id", "This patient is archived: restore them before booking.")])
    return patient


def _refuse_when_cliniko(organization_id: str, appointment: Appointment | None = None) -> None:
    if not cliniko_connected(organization_id):
        return
    if appointment is None:
        raise Conflict(
            "This clinic's calendar is in Cliniko: book the appointment there; the next sync brings it here."
        )
    if appointment.cliniko_id is not None:
        raise Conflict("This appointment comes from Cliniko: change it there; the next sync brings the change here.")


# --- checks ----------------------------------------------------------------------------------


def _length_of(appointment_type: AppointmentType) -> timedelta:
    minutes = appointment_type.duration_minutes
    # A synced type may say anything; more than the longest appointment is refused by _check_times.
    return timedelta(minutes=min(minutes, LONGEST_MINUTES + 1)) if minutes and minutes > 0 else DEFAULT_LENGTH


def _check_times(starts_at: datetime | None, ends_at: datetime | None) -> None:
    """Both times aware and within the accepted range (checked before any arithmetic on them),
    the end after the start and at most 12 hours later. Raises Invalid naming the field."""
    errors = []
    if starts_at is None or starts_at.tzinfo is None:
        errors.append(FieldError("starts_at", "Give the start as a date and time with its time zone."))
    elif not moment_in_range(starts_at):
        errors.append(FieldError("starts_at", out_of_range("a start")))
    elif ends_at is not None and ends_at.tzinfo is None:
        errors.append(FieldError("ends_at", "Give the end as a date and time with its time zone."))
    elif ends_at is not None and not moment_in_range(ends_at):
        errors.append(FieldError("ends_at", out_of_range("an end")))
    elif ends_at is not None and ends_at <= starts_at:
        errors.append(FieldError("ends_at", "The end must be after the start."))
    elif ends_at is not None and ends_at - starts_at > LONGEST:
        errors.append(FieldError("ends_at", "An appointment can last at most 12 hours."))
    if errors:
        raise Invalid(errors=errors)


def _clean_notes(notes: str | None) -> str | None:
    notes = (notes or "").strip()
    if len(notes) > NOTES_MAX:
        raise Invalid(errors=[FieldError("notes", f"Keep notes under {NOTES_MAX} characters.")])
    return notes or None


def _check_bookable(practitioner: Practitioner, appointment_type: AppointmentType) -> None:
    errors = []
    if practitioner.archived_at is not None or not practitioner.active:
        errors.append(FieldError("practitioner_id", "This practitioner is archived and takes no bookings."))
    if appointment_type.archived_at is not None:
        errors.append(FieldError("appointment_type_id", "This appointment type is archived."))
    if errors:
        raise Invalid(errors=errors)


# --- after every change -------------------------------------------------------------------------


def _after_change(organization_id: str, patient_ids: list[str | None]) -> None:
    """Refresh the patients' figures and tell the dashboard its numbers may have moved."""
    wanted = [patient_id for patient_id in patient_ids if patient_id]
    if wanted:
        service.recompute_stats(organization_id, wanted)
    invalidate_dashboard(organization_id)


def invalidate_dashboard(organization_id: str) -> None:
    """``dashboard.service.invalidate`` when the dashboard is installed (it is optional here)."""
    try:
        dashboard = importlib.import_module("clinic_app.dashboard.service")
    except ModuleNotFoundError:
        return
    invalidate = getattr(dashboard, "invalidate", None)
    if invalidate is not None:
        invalidate(organization_id)


def _record(action: str, appointment: Appointment, actor: audit.Actor, **details: Any) -> None:
    audit.record(
        action,
        organization_id=appointment.organization_id,
        actor=actor,
        target_type="appointment",
        target_id=appointment.id,
        patient_id=appointment.patient_id,
        details={key: value for key, value in details.items() if value is not None},
    )


def _set_status(appointment: Appointment, now: datetime) -> None:
    appointment.status = service.appointment_status(
        starts_at=appointment.starts_at,
        cancelled_at=appointment.cancelled_at,
        did_not_arrive=appointment.did_not_arrive,
        patient_arrived=appointment.patient_arrived,
        now=now,
    )


# --- booking ------------------------------------------------------------------------------------


def book(
    organization_id: str,
    *,
    patient_id: str,
    practitioner_id: str,
    appointment_type_id: str,
    starts_at: datetime,
    ends_at: datetime | None = None,
    notes: str | None = None,
    actor: audit.Actor,
) -> Appointment:
    """Book the patient with the practitioner. ``ends_at`` defaults to the start plus the type's
    duration (30 minutes when it has none). Raises NotFound (patient, practitioner or type not the
    organization's), Invalid (archived, bad times, notes too long), DoubleBooked, or Conflict (the
    organization books in Cliniko)."""
    _refuse_when_cliniko(organization_id)
    patient = _bookable_patient(organization_id, patient_id)
    appointment_type = _appointment_type(organization_id, appointment_type_id)
    practitioner = load_practitioner(organization_id, practitioner_id, lock=True)
    _check_bookable(practitioner, appointment_type)
    _check_times(starts_at, ends_at)
    ends_at = ends_at or starts_at + _length_of(appointment_type)
    _check_times(starts_at, ends_at)
    notes = _clean_notes(notes)
    refuse_clash(organization_id, practitioner, starts_at, ends_at, None)

    appointment = Appointment(
        organization_id=organization_id,
        patient_id=patient.id,
        practitioner_id=practitioner.id,
        appointment_type_id=appointment_type.id,
        starts_at=starts_at,
        ends_at=ends_at,
        patient_arrived=False,
        did_not_arrive=False,
    )
    appointment.notes_enc = crypto.vault_for(organization_id).encrypt(NOTES_FIELD, notes)
    _set_status(appointment, utcnow())
    db.session.add(appointment)
    db.session.flush()
    _record(
        "appointment.booked",
        appointment,
        actor,
        practitioner_id=practitioner.id,
        appointment_type_id=appointment_type.id,
    )
    _after_change(organization_id, [patient.id])
    return appointment


def why_unchangeable(
    organization_id: str, appointment: Appointment, now: datetime, *, moving: bool = False
) -> str | None:
    """Why the appointment cannot be changed here (moved when ``moving``), or None when it can."""
    if appointment.deleted_at is not None or appointment.archived_at is not None:
        return "This appointment was removed and cannot be changed."
    if appointment.cliniko_id is not None and cliniko_connected(organization_id):
        return "This appointment comes from Cliniko: change it there; the next sync brings the change here."
    if appointment.cancelled_at is not None:
        return "This appointment is cancelled and cannot be changed."
    if moving and (appointment.starts_at <= now or appointment.patient_arrived or appointment.did_not_arrive):
        return (
            "This appointment has started, so it can no longer be moved or cancelled "
            "(mark it as did not arrive instead)."
        )
    return None


def _changeable(organization_id: str, appointment_id: str, now: datetime, *, moving: bool = False) -> Appointment:
    appointment = get_appointment(organization_id, appointment_id)
    problem = why_unchangeable(organization_id, appointment, now, moving=moving)
    if problem is not None:
        raise Conflict(problem)
    return appointment


def reschedule(
    organization_id: str,
    appointment_id: str,
    *,
    starts_at: datetime,
    ends_at: datetime | None = None,
    practitioner_id: str | None = None,
    appointment_type_id: str | None = None,
    actor: audit.Actor,
    now: datetime | None = None,
) -> Appointment:
    """Move a booking that has not started yet to another time (and maybe practitioner or type).
    Without ``ends_at`` it keeps its length, or takes the new type's duration when the type
    changes. Raises NotFound, Invalid, DoubleBooked or Conflict (cancelled, started, or Cliniko's)."""
    now = now or utcnow()
    appointment = _changeable(organization_id, appointment_id, now, moving=True)
    _bookable_patient(organization_id, appointment.patient_id)
    new_type_id = appointment_type_id or appointment.appointment_type_id
    appointment_type = _appointment_type(organization_id, new_type_id)
    # Lock both practitioners, in id order, so two moves in opposite directions cannot deadlock.
    practitioner_ids = {appointment.practitioner_id or "", practitioner_id or appointment.practitioner_id or ""}
    locked = {pid: load_practitioner(organization_id, pid, lock=True) for pid in sorted(practitioner_ids) if pid}
    if not (practitioner_id or appointment.practitioner_id):
        # A booking (synced from Cliniko, say) with no practitioner: the move must name one.
        raise Invalid(errors=[FieldError("practitioner_id", "Choose a practitioner for this appointment.")])
    practitioner = locked.get(practitioner_id or appointment.practitioner_id or "")
    if practitioner is None:
        raise NotFound("No such practitioner.")
    if practitioner.id != appointment.practitioner_id or appointment_type.id != appointment.appointment_type_id:
        _check_bookable(practitioner, appointment_type)
    _check_times(starts_at, ends_at)
    if ends_at is None:
        if appointment_type.id != appointment.appointment_type_id:
            ends_at = starts_at + _length_of(appointment_type)
        else:
            length = appointment.ends_at - appointment.starts_at if appointment.ends_at else DEFAULT_LENGTH
            # A stored length outside (0, 12 h] (written by a sync, say) is refused below, never
            # added as it is: it could carry the end past the calendar's last day.
            ends_at = starts_at + max(timedelta(0), min(length, LONGEST + timedelta(minutes=1)))
    _check_times(starts_at, ends_at)
    refuse_clash(organization_id, practitioner, starts_at, ends_at, appointment.id)

    changed = [
        name
        for name, old, new in (
            ("starts_at", appointment.starts_at, starts_at),
            ("ends_at", appointment.ends_at, ends_at),
            ("practitioner_id", appointment.practitioner_id, practitioner.id),
            ("appointment_type_id", appointment.appointment_type_id, appointment_type.id),
        )
        if old != new
    ]
    if not changed:
        return appointment
    previous_practitioner = appointment.practitioner_id
    appointment.starts_at, appointment.ends_at = starts_at, ends_at
    appointment.practitioner_id, appointment.appointment_type_id = practitioner.id, appointment_type.id
    _set_status(appointment, now)
    db.session.flush()
    _record(
        "appointment.rescheduled",
        appointment,
        actor,
        changed=changed,
        practitioner_id=practitioner.id,
        previous_practitioner_id=previous_practitioner if previous_practitioner != practitioner.id else None,
        appointment_type_id=appointment_type.id,
    )
    _after_change(organization_id, [appointment.patient_id])
    return appointment


def cancel(
    organization_id: str,
    appointment_id: str,
    *,
    reason: str,
    actor: audit.Actor,
    now: datetime | None = None,
) -> Appointment:
    """Cancel a booking that has not started, with a reason (stored encrypted). Raises NotFound,
    Invalid (no reason, or too long) or Conflict (already cancelled, started, or Cliniko's)."""
    now = now or utcnow()
    appointment = _changeable(organization_id, appointment_id, now, moving=True)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(errors=[FieldError("reason", "Say why the appointment is cancelled.")])
    if len(reason) > REASON_MAX:
        raise Invalid(errors=[FieldError("reason", f"Keep the reason under {REASON_MAX} characters.")])
    appointment.cancelled_at = now
    appointment.cancellation_reason_enc = crypto.vault_for(organization_id).encrypt(CANCELLATION_REASON_FIELD, reason)
    appointment.status = CANCELLED
    db.session.flush()
    _record("appointment.cancelled", appointment, actor, hours_before_start=_hours(appointment.starts_at - now))
    _after_change(organization_id, [appointment.patient_id])
    return appointment


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def mark_arrived(
    organization_id: str, appointment_id: str, *, actor: audit.Actor, now: datetime | None = None
) -> Appointment:
    """Record that the patient arrived (clears a did-not-arrive mark). Raises NotFound or Conflict."""
    now = now or utcnow()
    appointment = _changeable(organization_id, appointment_id, now)
    if appointment.patient_arrived and not appointment.did_not_arrive:
        return appointment
    appointment.patient_arrived, appointment.did_not_arrive = True, False
    _set_status(appointment, now)
    db.session.flush()
    _record("appointment.arrived", appointment, actor)
    _after_change(organization_id, [appointment.patient_id])
    return appointment


def mark_did_not_arrive(
    organization_id: str, appointment_id: str, *, actor: audit.Actor, now: datetime | None = None
) -> Appointment:
    """Record that the patient did not come (clears an arrival mark); only once the appointment
    has started. Raises NotFound or Conflict."""
    now = now or utcnow()
    appointment = _changeable(organization_id, appointment_id, now)
    if appointment.starts_at > now:
        raise Conflict("This appointment has not started yet: cancel it instead if the patient is not coming.")
    if appointment.did_not_arrive:
        return appointment
    appointment.patient_arrived, appointment.did_not_arrive = False, True
    _set_status(appointment, now)
    db.session.flush()
    _record("appointment.did_not_arrive", appointment, actor)
    _after_change(organization_id, [appointment.patient_id])
    return appointment


def change_notes(organization_id: str, appointment_id: str, *, notes: str | None, actor: audit.Actor) -> Appointment:
    """Replace the appointment's notes (encrypted; the audit records that they changed, not what)."""
    appointment = _changeable(organization_id, appointment_id, utcnow())
    vault = crypto.vault_for(organization_id)
    cleaned = _clean_notes(notes)
    if vault.decrypt(NOTES_FIELD, appointment.notes_enc, target_id=appointment.id) == cleaned:
        return appointment
    appointment.notes_enc = vault.encrypt(NOTES_FIELD, cleaned)
    db.session.flush()
    _record("appointment.notes_changed", appointment, actor)
    return appointment
