"""``flask seed-scale --patients N --appointments M``: a realistic spread of appointments for the
new patients, loaded in bulk, with every patient's figures computed."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import func, select

from clinic_app.appointments import service
from clinic_app.appointments.models import (
    CANCELLATION_REASON_FIELD,
    Appointment,
    AppointmentType,
    Practitioner,
)
from clinic_app.core import crypto
from clinic_app.extensions import db
from clinic_app.figures.models import PatientAppointmentStats
from clinic_app.patients.models import Patient
from devtools.scale.appointments import REASONS
from tests.appointments.builders import at

NOW = at("2025-06-02 02:00")


def test_seed_scale_loads_a_realistic_spread_of_appointments(app, tenants):
    runner = app.test_cli_runner()
    with time_machine.travel(NOW, tick=False):
        result = runner.invoke(
            args=["seed-scale", "--patients", "200", "--appointments", "2000", "--org", tenants.b.id, "--seed", "3"]
        )
    assert result.exit_code == 0, result.output
    assert "Added 200 patients" in result.output and "Added 2000 appointments (3 practitioners" in result.output
    org = tenants.b.id
    zone = ZoneInfo("Australia/Melbourne")
    with app.app_context():
        rows = db.session.scalars(select(Appointment).where(Appointment.organization_id == org)).all()
        assert len(rows) == 2000
        assert (
            db.session.scalar(
                select(func.count()).select_from(Appointment).where(Appointment.organization_id == tenants.a.id)
            )
            == 0
        )
        patients = set(db.session.scalars(select(Patient.id).where(Patient.organization_id == org)))
        assert {row.patient_id for row in rows} <= patients
        assert len(db.session.scalars(select(Practitioner).where(Practitioner.organization_id == org)).all()) == 3
        assert len(db.session.scalars(select(AppointmentType).where(AppointmentType.organization_id == org)).all()) == 5

        # From two years ago to eight weeks ahead, on weekdays in clinic hours (Melbourne's clock).
        assert min(row.starts_at for row in rows) >= NOW - timedelta(days=731)
        assert max(row.starts_at for row in rows) <= NOW + timedelta(days=57)
        future = [row for row in rows if row.starts_at > NOW]
        assert 0.04 * len(rows) < len(future) < 0.12 * len(rows)  # 8 weeks of about 112
        for row in rows:
            local_start, local_end = row.starts_at.astimezone(zone), row.ends_at.astimezone(zone)
            assert local_start.weekday() < 5 and local_start.hour >= 8
            assert (local_end.hour, local_end.minute) <= (18, 0) and local_end.date() == local_start.date()

        # Nobody is double-booked.
        by_practitioner = defaultdict(list)
        for row in rows:
            by_practitioner[row.practitioner_id].append((row.starts_at, row.ends_at))
        for slots in by_practitioner.values():
            slots.sort()
            assert all(later[0] >= earlier[1] for earlier, later in pairwise(slots))

        # About 8 % cancelled (some late: less than 24 h before the start), about 4 % of the past not attended.
        cancelled = [row for row in rows if row.cancelled_at is not None]
        late = [row for row in cancelled if row.starts_at - row.cancelled_at < timedelta(hours=24)]
        past = [row for row in rows if row.starts_at <= NOW]
        missed = [row for row in past if row.did_not_arrive]
        assert 0.05 < len(cancelled) / len(rows) < 0.11
        assert 0.15 < len(late) / len(cancelled) < 0.6
        assert 0.02 < len(missed) / len(past) < 0.07
        assert all(row.cancelled_at <= NOW for row in cancelled)
        for row in rows:
            assert row.status == service.appointment_status(
                starts_at=row.starts_at,
                cancelled_at=row.cancelled_at,
                did_not_arrive=row.did_not_arrive,
                patient_arrived=row.patient_arrived,
                now=NOW,
            )
        vault = crypto.vault_for(org)
        assert {vault.decrypt(CANCELLATION_REASON_FIELD, row.cancellation_reason_enc) for row in cancelled} <= set(
            REASONS
        )
        assert len({row.id for row in rows}) == 2000 and all(row.id.startswith("apt_") for row in rows)

        # Some patients have many, about one in ten none; every patient's figures are computed.
        per_patient = defaultdict(int)
        for row in rows:
            per_patient[row.patient_id] += 1
        assert max(per_patient.values()) >= 30 and 0.05 < 1 - len(per_patient) / 200 < 0.2
        stats = db.session.scalars(
            select(PatientAppointmentStats).where(PatientAppointmentStats.organization_id == org)
        ).all()
        assert len(stats) == 200 and sum(s.total for s in stats) == 2000
        assert sum(s.upcoming for s in stats) == sum(1 for row in future if row.cancelled_at is None)
        assert any(s.is_active for s in stats) and any(not s.is_active for s in stats)


def test_without_appointments_nothing_else_is_added(app, tenants):
    result = app.test_cli_runner().invoke(args=["seed-scale", "--patients", "3", "--org", tenants.a.id])
    assert result.exit_code == 0 and "appointments" not in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Appointment)) == 0
        assert db.session.scalar(select(func.count()).select_from(Practitioner)) == 0
