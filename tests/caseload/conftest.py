"""A hand-built caseload at a frozen clock: organization A (Australia/Sydney) with practitioners,
appointment types and patients whose activity, priority and types are known by construction.

``NOW`` is Tuesday 9 March 2027, 09:00 UTC (20:00 in Sydney, daylight saving time, UTC+11).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from clinic_app.patients import service as patients

NOW = datetime(2027, 3, 9, 9, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def add_practitioner(organization_id: str, first: str, last: str, **facts: Any) -> Practitioner:
    row = Practitioner(organization_id=organization_id, first_name=first, last_name=last, **facts)
    db.session.add(row)
    db.session.flush()
    return row


def add_type(organization_id: str, name: str) -> AppointmentType:
    row = AppointmentType(organization_id=organization_id, name=name, duration_minutes=30)
    db.session.add(row)
    db.session.flush()
    return row


def add_patient(organization_id: str, first: str, last: str, **fields: Any) -> Any:
    data = patients.validate_for(organization_id, {"first_name": first, "last_name": last, **fields})
    return patients.create_patient(organization_id, data, actor=audit.Actor())


def add_appointment(
    organization_id: str,
    patient: Any,
    starts_at: datetime,
    *,
    kind: AppointmentType | None = None,
    practitioner: Practitioner | None = None,
    **facts: Any,
) -> Appointment:
    row = Appointment(
        organization_id=organization_id,
        patient_id=patient.id if patient is not None else None,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=30),
        appointment_type_id=kind.id if kind else None,
        practitioner_id=practitioner.id if practitioner else None,
        **facts,
    )
    db.session.add(row)
    db.session.flush()
    return row


@dataclass
class Caseload:
    """Ids (not rows, which outlive their session) by short names."""

    org: str
    patients: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    practitioners: dict[str, str] = field(default_factory=dict)

    def ids(self, *names: str) -> list[str]:
        return [self.patients[name] for name in names]

    def name_of(self, patient_id: str) -> str:
        return next(name for name, found in self.patients.items() if found == patient_id)


def build_caseload(organization_id: str, now: datetime = NOW) -> Caseload:
    """Eleven patients; the comment on each says what every filter should make of them."""
    c = Caseload(org=organization_id)
    physio, massage = add_type(organization_id, "Physiotherapy"), add_type(organization_id, "Massage")
    p1 = add_practitioner(organization_id, "Priya", "Raman", title="Dr")
    p2 = add_practitioner(organization_id, "Sam", "Ortiz")
    c.types = {"physio": physio.id, "massage": massage.id}
    c.practitioners = {"p1": p1.id, "p2": p2.id}
    rows: dict[str, Any] = {}

    def patient(key: str, first: str, last: str, **fields: Any) -> Any:
        rows[key] = add_patient(organization_id, first, last, **fields)
        c.patients[key] = rows[key].id
        return rows[key]

    def visit(key: str, offset: timedelta, kind: AppointmentType, who: Practitioner, **facts: Any) -> None:
        add_appointment(organization_id, rows[key], now + offset, kind=kind, practitioner=who, **facts)

    # active (recent and upcoming), next in 12 h: high; physio with p1
    patient("alice", "Alice", "Both", phones=[{"type": "mobile", "number": "0412 345 678"}], email="alice@example.com")
    visit("alice", -5 * DAY, physio, p1)
    visit("alice", 12 * HOUR, physio, p1)
    # recently active: attended 10 days ago, nothing booked
    patient("bob", "Bob", "Recent")
    visit("bob", -10 * DAY, massage, p2)
    # upcoming only, in 48 h: medium; massage with p2
    patient("cara", "Cara", "Upcoming")
    visit("cara", 48 * HOUR, massage, p2)
    # upcoming only, in 10 days: low; physio with p2
    patient("dan", "Dan", "Later")
    visit("dan", 10 * DAY, physio, p2)
    # inactive: last visit 40 days ago
    patient("eve", "Eve", "Old")
    visit("eve", -40 * DAY, massage, p2)
    # inactive: no appointments at all
    patient("fay", "Fay", "None")
    # archived with a booking in 6 hours: in no list
    gus = patient("gus", "Gus", "Archived")
    visit("gus", 6 * HOUR, physio, p1)
    patients.archive_patient(organization_id, gus.id, actor=audit.Actor())
    # inactive: a cancelled booking and a did-not-arrive
    patient("hal", "Hal", "Cancelled")
    visit("hal", DAY, physio, p1, cancelled_at=now - DAY)
    visit("hal", -3 * DAY, physio, p1, did_not_arrive=True)
    # upcoming only, exactly 24 h ahead: high; massage with p1
    patient("ivy", "Ivy", "Boundary")
    visit("ivy", 24 * HOUR, massage, p1)
    # upcoming only, exactly 72 h ahead: medium; massage with p1
    patient("jon", "Jon", "Edgeway")
    visit("jon", 72 * HOUR, massage, p1)
    # recently active: attended exactly 30 days ago (still recent); physio with p1
    patient("kim", "Kim", "Edge")
    visit("kim", -30 * DAY, physio, p1)
    figures.recompute(organization_id, now=now)
    db.session.commit()
    return c


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def caseload(app, tenants, frozen) -> Caseload:
    with app.app_context():
        return build_caseload(tenants.a.id)
