"""Loading and reading one appointment: the organization's own (NotFound otherwise), whether it
is read-only (Cliniko's while connected), and the view with its text decrypted (audited)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clinic_app.appointments import service
from clinic_app.appointments.calendar_source import cliniko_connected
from clinic_app.appointments.models import (
    CANCELLATION_REASON_FIELD,
    NOTES_FIELD,
    Appointment,
    AppointmentType,
    Practitioner,
)
from clinic_app.core import audit, crypto
from clinic_app.core.errors import NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.patients.models import Patient

NOT_FOUND = "No such appointment."


def get_appointment(organization_id: str, appointment_id: str) -> Appointment:
    """The organization's appointment (deleted ones included). Raises NotFound otherwise."""
    appointment = db.session.get(Appointment, appointment_id) if appointment_id else None
    if appointment is None or appointment.organization_id != organization_id:
        raise NotFound(NOT_FOUND)
    return appointment


def is_read_only(appointment: Appointment, *, connected: bool) -> bool:
    """Synced appointments cannot be changed here while Cliniko is connected."""
    return connected and appointment.cliniko_id is not None


@dataclass(frozen=True)
class AppointmentView:
    """One appointment with its names and decrypted text, for the detail page and the API."""

    appointment: Appointment
    status: str
    patient: Patient | None
    practitioner: Practitioner | None
    appointment_type: AppointmentType | None
    notes: Any  # str, None, or crypto.Unreadable
    cancellation_reason: Any
    read_only: bool


def view_appointment(
    organization_id: str,
    appointment_id: str,
    *,
    actor: audit.Actor,
    channel: str = "web",
    record_view: bool = True,
    now: datetime | None = None,
) -> AppointmentView:
    """The appointment with its notes and cancellation reason decrypted; records
    ``appointment.viewed`` (those are about the patient) unless ``record_view`` is off (reading
    back what the caller has just written). Raises NotFound."""
    appointment = get_appointment(organization_id, appointment_id)
    vault = crypto.vault_for(organization_id)
    patient = db.session.get(Patient, appointment.patient_id) if appointment.patient_id else None
    practitioner = db.session.get(Practitioner, appointment.practitioner_id) if appointment.practitioner_id else None
    kind = db.session.get(AppointmentType, appointment.appointment_type_id) if appointment.appointment_type_id else None
    view = AppointmentView(
        appointment=appointment,
        status=service.appointment_status(
            starts_at=appointment.starts_at,
            cancelled_at=appointment.cancelled_at,
            did_not_arrive=appointment.did_not_arrive,
            patient_arrived=appointment.patient_arrived,
            now=now or utcnow(),
        ),
        patient=patient,
        practitioner=practitioner,
        appointment_type=kind,
        notes=vault.decrypt(NOTES_FIELD, appointment.notes_enc, target_id=appointment.id),
        cancellation_reason=vault.decrypt(
            CANCELLATION_REASON_FIELD, appointment.cancellation_reason_enc, target_id=appointment.id
        ),
        read_only=is_read_only(appointment, connected=cliniko_connected(organization_id)),
    )
    if record_view:
        audit.record(
            "appointment.viewed",
            organization_id=organization_id,
            actor=actor,
            target_type="appointment",
            target_id=appointment.id,
            patient_id=appointment.patient_id,
            details={"channel": channel},
        )
    return view
