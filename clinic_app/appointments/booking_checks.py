"""What a booking must pass before ``booking`` writes it: the organization's patient, practitioner
and type (NotFound otherwise), none of them archived, times within range and at most 12 hours
long, notes short enough, and, while the calendar is Cliniko's, Cliniko's practitioner and type
(docs/appointments.md, docs/sync.md "Writing to Cliniko").
Each check raises the error the pages and the API show; none writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from clinic_app.appointments.calendar_source import cliniko_connected, cliniko_free_starts
from clinic_app.appointments.clashes import DEFAULT_LENGTH, LONGEST, LONGEST_MINUTES
from clinic_app.appointments.models import AppointmentType, Practitioner
from clinic_app.core.errors import FieldError, Invalid, NotFound
from clinic_app.core.time import moment_in_range, out_of_range
from clinic_app.extensions import db
from clinic_app.patients import service as patients
from clinic_app.patients.models import Patient

NOTES_MAX, REASON_MAX = 2000, 500


def appointment_type_of(organization_id: str, appointment_type_id: str | None) -> AppointmentType:
    found = db.session.get(AppointmentType, appointment_type_id) if appointment_type_id else None
    if found is None or found.organization_id != organization_id:
        raise NotFound("No such appointment type.")
    return found


def bookable_patient(organization_id: str, patient_id: str | None) -> Patient:
    patient = patients.get_patient(organization_id, patient_id or "")
    if patient.archived:
        raise Invalid(errors=[FieldError("patient_id", "This patient is archived: restore them before booking.")])
    return patient


def check_cliniko_bookable(organization_id: str, practitioner: Practitioner, appointment_type: AppointmentType) -> None:
    """In a clinic connected to Cliniko a booking goes to Cliniko too (through the sync's outbox),
    so the practitioner and the type must be Cliniko's (synced) ones."""
    if not cliniko_connected(organization_id):
        return
    errors = []
    if practitioner.cliniko_id is None:
        errors.append(FieldError("practitioner_id", "Choose a practitioner from Cliniko: this clinic books there."))
    if appointment_type.cliniko_id is None:
        errors.append(FieldError("appointment_type_id", "Choose an appointment type from Cliniko."))
    if errors:
        raise Invalid(errors=errors)


def check_cliniko_free(
    organization_id: str, practitioner: Practitioner, appointment_type: AppointmentType, starts_at: datetime
) -> None:
    """In a clinic connected to Cliniko, the start must be one of Cliniko's free times for the
    practitioner and type (``available_times``), so nothing is booked here that Cliniko would refuse.
    When Cliniko cannot say (unreachable), the booking goes ahead and the outbox reports the answer."""
    if practitioner.cliniko_id is None or appointment_type.cliniko_id is None:
        return
    if not cliniko_connected(organization_id):
        return
    free = cliniko_free_starts(organization_id, practitioner.cliniko_id, appointment_type.cliniko_id, starts_at)
    if free is not None and starts_at not in free:
        raise Invalid(
            errors=[FieldError("starts_at", "Cliniko has no free time for this practitioner then: choose a free time.")]
        )


def length_of(appointment_type: AppointmentType) -> timedelta:
    minutes = appointment_type.duration_minutes
    # A synced type may say anything; more than the longest appointment is refused by check_times.
    return timedelta(minutes=min(minutes, LONGEST_MINUTES + 1)) if minutes and minutes > 0 else DEFAULT_LENGTH


def check_times(starts_at: datetime | None, ends_at: datetime | None) -> None:
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


def clean_notes(notes: str | None) -> str | None:
    notes = (notes or "").strip()
    if len(notes) > NOTES_MAX:
        raise Invalid(errors=[FieldError("notes", f"Keep notes under {NOTES_MAX} characters.")])
    return notes or None


def check_bookable(practitioner: Practitioner, appointment_type: AppointmentType) -> None:
    errors = []
    if practitioner.archived_at is not None or not practitioner.active:
        errors.append(FieldError("practitioner_id", "This practitioner is archived and takes no bookings."))
    if appointment_type.archived_at is not None:
        errors.append(FieldError("appointment_type_id", "This appointment type is archived."))
    if errors:
        raise Invalid(errors=errors)
