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
* While the organization is connected to Cliniko, Cliniko is the calendar: bookings, moves and
  cancellations made here use Cliniko's practitioners and types (``Invalid`` otherwise) and reach
  Cliniko through the sync's outbox, which subscribes to ``appointments_changed``; arrivals and
  notes of an appointment from Cliniko are Cliniko's to record (``Conflict``).
* After every change ``signals.appointments_changed`` is sent (the patients' figures and the
  dashboard subscribe); every change is audited with ids only, never notes or reasons.

Loading and reading one appointment is ``detail`` (re-exported here); the checks a booking
passes are ``booking_checks``. Functions take the organization explicitly and only flush; the
caller commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from clinic_app.appointments import service
from clinic_app.appointments.booking_checks import (
    REASON_MAX,
    appointment_type_of,
    bookable_patient,
    check_bookable,
    check_cliniko_bookable,
    check_cliniko_free,
    check_times,
    clean_notes,
    length_of,
)
from clinic_app.appointments.calendar_source import cliniko_connected
from clinic_app.appointments.clashes import (
    DEFAULT_LENGTH,
    LONGEST,
    DoubleBooked,
    find_clash,
    load_practitioner,
    refuse_clash,
)
from clinic_app.appointments.detail import AppointmentView, get_appointment, is_read_only, view_appointment
from clinic_app.appointments.models import CANCELLATION_REASON_FIELD, CANCELLED, NOTES_FIELD, Appointment
from clinic_app.appointments.signals import appointments_changed
from clinic_app.core import audit, crypto
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

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
    "is_read_only",
    "mark_arrived",
    "mark_did_not_arrive",
    "reschedule",
    "view_appointment",
    "why_unchangeable",
]


# --- after every change -------------------------------------------------------------------------


def _after_change(organization_id: str, patient_ids: list[str | None], appointment_id: str, change: str) -> None:
    """Tell whoever builds on appointments (the patients' figures, then the dashboard, webhooks)
    that these patients' appointments changed; their receivers write in this transaction."""
    wanted = [patient_id for patient_id in patient_ids if patient_id]
    appointments_changed.send(
        __name__, organization_id=organization_id, patient_ids=wanted, appointment_id=appointment_id, change=change
    )


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
    patient = bookable_patient(organization_id, patient_id)
    appointment_type = appointment_type_of(organization_id, appointment_type_id)
    practitioner = load_practitioner(organization_id, practitioner_id, lock=True)
    check_bookable(practitioner, appointment_type)
    check_cliniko_bookable(organization_id, practitioner, appointment_type)
    check_times(starts_at, ends_at)
    ends_at = ends_at or starts_at + length_of(appointment_type)
    check_times(starts_at, ends_at)
    notes = clean_notes(notes)
    refuse_clash(organization_id, practitioner, starts_at, ends_at, None)
    check_cliniko_free(organization_id, practitioner, appointment_type, starts_at)

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
    _after_change(organization_id, [patient.id], appointment.id, "booked")
    return appointment


def why_unchangeable(
    organization_id: str, appointment: Appointment, now: datetime, *, moving: bool = False
) -> str | None:
    """Why the appointment cannot be changed here (moved when ``moving``), or None when it can."""
    if appointment.deleted_at is not None or appointment.archived_at is not None:
        return "This appointment was removed and cannot be changed."
    if appointment.cliniko_id is not None and not moving and cliniko_connected(organization_id):
        # Moves and cancellations go to Cliniko through the outbox; the rest is Cliniko's to record.
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
    bookable_patient(organization_id, appointment.patient_id)
    new_type_id = appointment_type_id or appointment.appointment_type_id
    appointment_type = appointment_type_of(organization_id, new_type_id)
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
        check_bookable(practitioner, appointment_type)
        check_cliniko_bookable(organization_id, practitioner, appointment_type)
    check_times(starts_at, ends_at)
    if ends_at is None:
        if appointment_type.id != appointment.appointment_type_id:
            ends_at = starts_at + length_of(appointment_type)
        else:
            length = appointment.ends_at - appointment.starts_at if appointment.ends_at else DEFAULT_LENGTH
            # A stored length outside (0, 12 h] (written by a sync, say) is refused below, never
            # added as it is: it could carry the end past the calendar's last day.
            ends_at = starts_at + max(timedelta(0), min(length, LONGEST + timedelta(minutes=1)))
    check_times(starts_at, ends_at)
    refuse_clash(organization_id, practitioner, starts_at, ends_at, appointment.id)
    if starts_at != appointment.starts_at or practitioner.id != appointment.practitioner_id:
        check_cliniko_free(organization_id, practitioner, appointment_type, starts_at)

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
    _after_change(organization_id, [appointment.patient_id], appointment.id, "rescheduled")
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
    _after_change(organization_id, [appointment.patient_id], appointment.id, "cancelled")
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
    _after_change(organization_id, [appointment.patient_id], appointment.id, "arrived")
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
    _after_change(organization_id, [appointment.patient_id], appointment.id, "did_not_arrive")
    return appointment


def change_notes(organization_id: str, appointment_id: str, *, notes: str | None, actor: audit.Actor) -> Appointment:
    """Replace the appointment's notes (encrypted; the audit records that they changed, not what)."""
    appointment = _changeable(organization_id, appointment_id, utcnow())
    vault = crypto.vault_for(organization_id)
    cleaned = clean_notes(notes)
    if vault.decrypt(NOTES_FIELD, appointment.notes_enc, target_id=appointment.id) == cleaned:
        return appointment
    appointment.notes_enc = vault.encrypt(NOTES_FIELD, cleaned)
    db.session.flush()
    _record("appointment.notes_changed", appointment, actor)
    return appointment
