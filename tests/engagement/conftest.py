"""Builders for engagement tests: patients registered at a chosen moment and appointments."""

from __future__ import annotations

from datetime import datetime

from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.patients import service as patients


def make_patient(organization_id: str, first: str = "Ada", last: str = "Lovelace", *, registered: datetime):
    """A patient whose record was created at ``registered`` (the start of "days since last contact"
    for someone who never attended)."""
    data = patients.validate_for(organization_id, {"first_name": first, "last_name": last})
    patient = patients.create_patient(organization_id, data, actor=audit.Actor())
    patient.created_at = registered
    db.session.flush()
    return patient


def make_appointment(organization_id: str, patient, starts_at: datetime, **facts) -> Appointment:
    row = Appointment(organization_id=organization_id, patient_id=patient.id, starts_at=starts_at, **facts)
    db.session.add(row)
    db.session.flush()
    return row


def make_type(organization_id: str, name: str) -> AppointmentType:
    row = AppointmentType(organization_id=organization_id, name=name)
    db.session.add(row)
    db.session.flush()
    return row


def make_practitioner(organization_id: str, first: str, last: str) -> Practitioner:
    row = Practitioner(organization_id=organization_id, first_name=first, last_name=last)
    db.session.add(row)
    db.session.flush()
    return row
