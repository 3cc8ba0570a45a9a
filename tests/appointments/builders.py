"""Builders for the booking tests: a clinic's practitioners and types, patients, bookings made
through the service, a Cliniko connection, and reads of the audit trail and raw rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text

from clinic_app.appointments import booking
from clinic_app.appointments import practitioners as setup
from clinic_app.appointments.models import Appointment
from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from clinic_app.patients import service as patients

ACTOR = audit.Actor()


def at(text_value: str) -> datetime:
    """An aware UTC datetime from "2025-03-04 09:00"."""
    return datetime.fromisoformat(text_value).replace(tzinfo=UTC)


@dataclass
class Clinic:
    organization_id: str
    practitioner: str
    other_practitioner: str
    standard: str  # 30 minutes
    initial: str  # 60 minutes
    patient: str
    other_patient: str


def make_patient(organization_id: str, first: str = "Jane", last: str = "Smith", *, archived: bool = False) -> str:
    data = patients.validate_for(organization_id, {"first_name": first, "last_name": last})
    patient = patients.create_patient(organization_id, data, actor=ACTOR)
    if archived:
        patients.archive_patient(organization_id, patient.id, actor=ACTOR)
    return patient.id


def make_practitioner(organization_id: str, first: str = "Priya", last: str = "Kapoor", **extra: Any) -> str:
    data = setup.validate_practitioner(
        organization_id, {"title": "Dr", "first_name": first, "last_name": last, **extra}
    )
    return setup.create_practitioner(organization_id, data, actor=ACTOR).id


def make_type(organization_id: str, name: str = "Standard consultation", minutes: int = 30) -> str:
    data = setup.validate_type(organization_id, {"name": name, "duration_minutes": minutes})
    return setup.create_type(organization_id, data, actor=ACTOR).id


def make_clinic(organization_id: str) -> Clinic:
    clinic = Clinic(
        organization_id=organization_id,
        practitioner=make_practitioner(organization_id),
        other_practitioner=make_practitioner(organization_id, "Tom", "Walsh"),
        standard=make_type(organization_id),
        initial=make_type(organization_id, "Initial consultation", 60),
        patient=make_patient(organization_id),
        other_patient=make_patient(organization_id, "Omar", "Haddad"),
    )
    db.session.commit()
    return clinic


def book(clinic: Clinic, starts: str, **changes: Any) -> Appointment:
    values: dict[str, Any] = {
        "patient_id": clinic.patient,
        "practitioner_id": clinic.practitioner,
        "appointment_type_id": clinic.standard,
        "starts_at": at(starts),
        "actor": ACTOR,
    }
    values.update(changes)
    appointment = booking.book(clinic.organization_id, **values)
    db.session.commit()
    return appointment


def connect_cliniko(organization_id: str) -> None:
    """A Cliniko connection row, as if an admin had connected (nothing is called)."""
    from clinic_app.sync.models import ClinikoConnection

    db.session.add(
        ClinikoConnection(
            organization_id=organization_id,
            api_key_enc="v1:not-a-real-key",
            key_hint="…abcd",
            shard="au1",
            businesses=[],
        )
    )
    db.session.commit()


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def raw_appointment(appointment_id: str) -> dict[str, Any]:
    row = db.session.execute(text("SELECT * FROM appointments WHERE id = :id"), {"id": appointment_id}).mappings().one()
    return dict(row)
