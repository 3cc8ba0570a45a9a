"""Done-when 2 of issue 18: with a fifth of the sandbox's writes refused (429 and 502) and one write
that times out after it was applied, 100 registrations and 100 bookings end with exactly 100
new patients and 100 new appointments in Cliniko, none twice, and the outbox empty."""

import random
from collections import Counter

import pytest
from sqlalchemy import func, select

from clinic_app.appointments import booking
from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.patients import service as patients
from clinic_app.sync import service
from clinic_app.sync.models import OutboxEntry, SyncRun
from tests.sync.test_outbox import free_starts


class NoJitter(random.Random):
    def uniform(self, a, b):
        return a


FAST = {"requests_per_minute": 100_000, "backoff_base": 0.002, "backoff_cap": 0.01, "timeout": 1.0,
        "max_retries": 12, "rng": NoJitter()}  # fmt: skip
N = 100


@pytest.fixture
def app(make_app):
    return make_app(SYNC_CLIENT_OPTIONS=FAST)


def test_faulty_writes_end_with_each_record_in_cliniko_exactly_once(app_context, tenants, make_cliniko_sandbox):
    server = make_cliniko_sandbox(patients=20, appointments=40)
    actor = audit.Actor(user_id=tenants.user("owner").id)
    service.connect(tenants.a.id, server.clinic.api_key, base_url_template=server.base_url_template, actor=actor)
    db.session.commit()
    run, _ = service.start_sync(tenants.a.id, "comprehensive", actor=actor)
    db.session.commit()
    assert db.session.get(SyncRun, run.id, populate_existing=True).status == "completed"
    before = server.clinic.counts()
    practitioner = db.session.scalars(select(Practitioner).where(Practitioner.active.is_(True))).first()
    kind = db.session.scalars(select(AppointmentType).where(AppointmentType.archived_at.is_(None))).first()
    # One write is applied and answered only after the client's 1 s timeout.
    server.clinic.set_faults(write_error_rate=0.2, lost_write_answers=1, lost_write_seconds=1.5)

    starts = free_starts(server, practitioner, kind, days=30, span=6)
    starts += free_starts(server, practitioner, kind, days=37, span=6)
    assert len(starts) >= N
    for number in range(N):
        data = patients.validate_for(tenants.a.id, {"first_name": f"Fault{number}", "last_name": "Tolerant"})
        patient = patients.create_patient(tenants.a.id, data, actor=actor)
        db.session.commit()
        booking.book(
            tenants.a.id, patient_id=patient.id, practitioner_id=practitioner.id, appointment_type_id=kind.id,
            starts_at=starts[number], actor=actor,
        )  # fmt: skip
        db.session.commit()

    after = server.clinic.counts()
    assert after["patients"]["total"] == before["patients"]["total"] + N
    assert after["appointments"]["total"] == before["appointments"]["total"] + N
    markers = Counter(p["old_reference_id"] for p in server.clinic.records("patients") if p["old_reference_id"])
    assert len(markers) == N and set(markers.values()) == {1}
    with server.clinic.lock:
        booked = Counter(
            (row.patient.old_reference_id, row.starts_at)
            for row in server.clinic.all("individual_appointments")
            if row.patient.old_reference_id
        )
    assert len(booked) == N and set(booked.values()) == {1}  # each new patient booked once, at their start
    assert {marker for marker, _ in booked} == set(markers)
    assert db.session.scalar(select(func.count()).select_from(OutboxEntry)) == 0
    assert db.session.scalar(select(func.count()).where(Appointment.cliniko_id.is_(None))) == 0
    refused = server.clinic.stats.by_status
    assert refused.get(429, 0) + refused.get(502, 0) > 10
    assert server.clinic.injector._lost_left == 0  # the late answer did happen
