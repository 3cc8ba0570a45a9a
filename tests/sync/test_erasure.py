"""Erasing a patient deletes the changes of theirs (and of their appointments) waiting in the
Cliniko outbox (``sync.erasure``), so nothing of the tombstone is sent; another patient's stay."""

from __future__ import annotations

from sqlalchemy import select

from clinic_app.appointments.models import Appointment
from clinic_app.extensions import db
from clinic_app.patients import erasure
from clinic_app.patients import service as patients
from clinic_app.patients.models import Patient
from clinic_app.sync import outbox
from clinic_app.sync.models import PATIENTS, OutboxEntry
from tests.health_data.conftest import register_patient
from tests.patients.test_erasure import erase_now
from tests.sync.test_engine import connect, sync


def _entries(local_id):
    return db.session.scalars(select(OutboxEntry).where(OutboxEntry.local_id == local_id)).all()


def test_erasure_deletes_the_patients_waiting_outbox_entries_only(app, tenants):
    erased = register_patient(app, tenants.a, first_name="Una", last_name="Gone")
    kept = register_patient(app, tenants.a, first_name="Vera", last_name="Stays")
    with app.app_context():
        outbox.record_change(tenants.a.id, PATIENTS, erased, "update", ["notes"])
        outbox.record_change(tenants.a.id, PATIENTS, kept, "update", ["notes"])
        db.session.commit()
        assert _entries(erased) and _entries(kept)
        waiting = [line for line in erasure.inventory(tenants.a.id, erased).erased if line.feature == "sync"]
        assert [line.count for line in waiting] == [1]
    erase_now(app, tenants, erased)
    with app.app_context():
        assert _entries(erased) == []
        assert len(_entries(kept)) == 1


def test_a_sync_after_erasure_writes_nothing_of_the_patient_back(app, tenants, cliniko_sandbox):
    """Cliniko still has the patient: a later sync neither refills the tombstone from a changed
    Cliniko record nor brings in their appointments (changed or new), and others sync as before."""
    clinic, org = cliniko_sandbox.clinic, tenants.a.id
    with app.app_context():
        connect(tenants, cliniko_sandbox)
        assert sync(tenants).status == "completed"
        gone_cliniko, other_cliniko = (p["id"] for p in clinic.records("patients")[:2])
        gone = patients.find_by_external_id(org, "cliniko", gone_cliniko).id
        visits = db.session.scalars(select(Appointment.id).where(Appointment.patient_id == gone)).all()
    erase_now(app, tenants, gone)
    clinic.change_patient(gone_cliniko, first_name="Refilled", notes="Back from Cliniko")
    clinic.add_appointment(gone_cliniko, notes="A new visit of the erased patient")
    clinic.change_patient(other_cliniko, first_name="Renamed")
    with app.app_context():
        run = sync(tenants, "incremental")
        assert run.status == "completed", run.error_detail
        tombstone = db.session.get(Patient, gone, populate_existing=True)
        assert tombstone.erased_at is not None and tombstone.notes_enc is None
        assert (tombstone.first_name, tombstone.last_name) == ("Erased", "patient")
        assert sorted(db.session.scalars(select(Appointment.id).where(Appointment.patient_id == gone))) == sorted(
            visits
        )
        assert patients.find_by_external_id(org, "cliniko", other_cliniko).first_name == "Renamed"
