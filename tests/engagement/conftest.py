"""Builders for engagement tests: patients registered at a chosen moment and appointments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.core import audit
from clinic_app.core.time import local_date, local_midnight, organization_zone
from clinic_app.extensions import db
from clinic_app.patients import service as patients


def days_ago(organization_id: str, days: int, now: datetime) -> datetime:
    """Noon, in the organization's time zone, ``days`` calendar days before ``now``'s local date
    (negative: after), in UTC. "Days since" counts calendar days in that zone, so ``now - days``
    in hours is a day off whenever a daylight-saving change lies between the two moments and the
    suite runs near the zone's midnight."""
    zone = organization_zone(organization_id)
    day = local_date(now, zone) - timedelta(days=days)
    return (local_midnight(day, zone) + timedelta(hours=12)).astimezone(UTC)


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
