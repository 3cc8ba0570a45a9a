"""``flask seed-scale --patients N --appointments M``: a realistic spread of appointments for the
new patients, loaded in bulk, with every patient's figures computed."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import func, select, text

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
from clinic_app.orgs.models import Organization
from clinic_app.patients.models import Patient
from devtools.scale import appointments as scale_appointments
from devtools.scale.appointments import REASONS
from devtools.scale.patients import shares
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


def test_organizations_share_the_totals_with_new_clinics_like_the_first(app, tenants):
    runner = app.test_cli_runner()
    with time_machine.travel(NOW, tick=False):
        result = runner.invoke(
            args=[
                "seed-scale",
                "--patients",
                "61",
                "--appointments",
                "600",
                "--organizations",
                "3",
                "--org",
                tenants.b.id,
                "--seed",
                "5",
            ]
        )
    assert result.exit_code == 0, result.output
    assert "Seeded 61 patients and about 600 appointments in 3 organizations" in result.output
    with app.app_context():
        first = db.session.get(Organization, tenants.b.id)
        made = db.session.scalars(select(Organization).where(Organization.name.like("Scale Clinic %"))).all()
        assert sorted(org.name for org in made) == ["Scale Clinic 2", "Scale Clinic 3"]
        assert {(org.time_zone, org.region) for org in made} == {(first.time_zone, first.region)}
        ids = [tenants.b.id, *(org.id for org in sorted(made, key=lambda org: org.name))]

        def counted(model, org_id):
            return db.session.scalar(select(func.count()).select_from(model).where(model.organization_id == org_id))

        assert [counted(Patient, org_id) for org_id in ids] == [21, 20, 20]
        assert [counted(Appointment, org_id) for org_id in ids] == [200, 200, 200]
        assert [counted(PatientAppointmentStats, org_id) for org_id in ids] == [21, 20, 20]
        assert counted(Patient, tenants.a.id) == 0 and counted(Appointment, tenants.a.id) == 0
        # Each clinic's appointments are its own patients' with its own practitioners, and its
        # figures add up to them.
        for org_id in ids:
            patients = set(db.session.scalars(select(Patient.id).where(Patient.organization_id == org_id)))
            practitioners = set(
                db.session.scalars(select(Practitioner.id).where(Practitioner.organization_id == org_id))
            )
            rows = db.session.execute(
                select(Appointment.patient_id, Appointment.practitioner_id).where(Appointment.organization_id == org_id)
            ).all()
            assert {row.patient_id for row in rows} <= patients
            assert {row.practitioner_id for row in rows} <= practitioners
            total = db.session.scalar(
                select(func.sum(PatientAppointmentStats.total)).where(PatientAppointmentStats.organization_id == org_id)
            )
            assert total == 200
        # Every appointment id is new and shaped like the app's.
        appointment_ids = db.session.scalars(select(Appointment.id)).all()
        assert len(set(appointment_ids)) == 600
        assert all(len(value) == 26 and value.startswith("apt_") and value[4:].isalnum() for value in appointment_ids)


def test_organizations_need_a_patient_each(app, tenants):
    result = app.test_cli_runner().invoke(args=["seed-scale", "--patients", "2", "--organizations", "3"])
    assert result.exit_code == 2 and "cannot be shared among 3 organizations" in result.output


def test_shares_are_as_even_as_whole_numbers_allow():
    assert shares(10, 3) == [4, 3, 3]
    assert shares(10_000_000, 20) == [500_000] * 20
    assert shares(0, 4) == [0, 0, 0, 0]


def test_a_large_load_builds_the_secondary_indexes_again_as_they_were(app, tenants, monkeypatch):
    # On PostgreSQL a load at least as large as the table drops the secondary indexes and creates
    # them after it; elsewhere the block runs as is. Either way the table ends with the same indexes.
    monkeypatch.setattr(scale_appointments, "REBUILD_FROM", 10)
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        listed = (
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'appointments' ORDER BY indexname"
            if postgres
            else "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'appointments' ORDER BY name"
        )
        before = db.session.execute(text(listed)).all()
        db.session.commit()
        if postgres:  # what the table holds by the planner's count (earlier tests' rows are gone)
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("ANALYZE appointments"))
    result = app.test_cli_runner().invoke(
        args=["seed-scale", "--patients", "20", "--appointments", "100", "--org", tenants.a.id, "--seed", "2"]
    )
    assert result.exit_code == 0, result.output
    assert ("building the appointments' 4 secondary indexes" in result.output) is postgres
    with app.app_context():
        assert db.session.execute(text(listed)).all() == before
        assert db.session.scalar(select(func.count()).select_from(Appointment)) == 100
