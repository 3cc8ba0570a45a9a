"""Builders for patient tests: patients registered through the service, raw table reads, audit
events, and the sentinel values that must never be stored in plaintext."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select, text

from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from clinic_app.patients import service

SENTINEL = {
    "first_name": "Sentinel",
    "last_name": "Patient",
    "date_of_birth": "1971-03-04",
    "sex": "female",
    "gender": "SENTINEL-GENDER",
    "phones": [{"type": "mobile", "number": "0412 345 678"}, {"type": "home", "number": "(02) 9876 5432"}],
    "email": "sentinel.patient@example.com",
    "address": {
        "line1": "42 Sentinel Street",
        "suburb": "Sentinelville",
        "state": "NSW",
        "postcode": "2999",
        "country": "Australia",
    },
    "emergency_contact": {"name": "SENTINEL-CONTACT", "relationship": "Sister", "phone": "0499 888 777"},
    "notes": "SENTINEL-NOTE",
    "external_ids": {"cliniko": "SENTINEL-CLINIKO-77"},
}
# What must not appear anywhere in the raw tables (formats a careless store might use included).
SECRET_FRAGMENTS = (
    "1971-03-04",
    "1971",
    "0412345678",
    "0412 345 678",
    "+61412345678",
    "61412345678",
    "412345678",
    "98765432",
    "sentinel.patient",
    "example.com",
    "42 Sentinel Street",
    "Sentinel Street",
    "Sentinelville",
    "SENTINEL-NOTE",
    "SENTINEL-GENDER",
    "SENTINEL-CONTACT",
    "SENTINEL-CLINIKO",
    "0499888777",
    "female",
)


def leaked(text: str) -> list[str]:
    """The ``SECRET_FRAGMENTS`` in ``text`` (case-insensitive). A fragment of digits only counts
    standing alone, not inside a longer run of letters and digits: a random id, a hex request id
    or a timestamp's microseconds hold "1971" by chance now and then; a stored date, year or phone
    number is set off by separators."""
    text = text.lower()
    found = []
    for fragment in SECRET_FRAGMENTS:
        if fragment.isdigit():
            if re.search(rf"(?<![0-9a-z]){fragment}(?![0-9a-z])", text):
                found.append(fragment)
        elif fragment.lower() in text:
            found.append(fragment)
    return found


def register(app: Any, organization: Any, **values: Any) -> str:
    """A patient of ``organization`` made through the service; returns the id."""
    raw = {"first_name": "Jane", "last_name": "Citizen", **values}
    with app.app_context():
        data = service.validate_for(organization.id, raw)
        patient = service.create_patient(organization.id, data, actor=audit.Actor())
        db.session.commit()
        return patient.id


def raw_rows(app: Any, table: str) -> list[dict[str, Any]]:
    """Every row of ``table`` exactly as the database holds it."""
    with app.app_context(), db.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(f"SELECT * FROM {table}"))]  # noqa: S608


def events(app: Any, action: str | None = None, **where: Any) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.chain, AuditEvent.seq)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        rows = db.session.scalars(query).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def corrupt(app: Any, patient_id: str, column: str = "email_enc") -> None:
    """Tamper with one stored ciphertext, as a disk fault or a hand-edited row would."""
    with app.app_context():
        stored = db.session.scalar(text(f"SELECT {column} FROM patients WHERE id = :id"), {"id": patient_id})  # noqa: S608
        tampered = stored[:-6] + ("AAAAAA" if not stored.endswith("AAAAAA") else "BBBBBB")
        db.session.execute(text(f"UPDATE patients SET {column} = :v WHERE id = :id"), {"v": tampered, "id": patient_id})  # noqa: S608
        db.session.commit()


@pytest.fixture
def receptionist(login_as):
    return login_as("receptionist")


@pytest.fixture
def admin(login_as):
    return login_as("admin")


@pytest.fixture
def clinician(login_as):
    return login_as("clinician")
