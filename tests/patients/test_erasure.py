"""Erasing a patient (issue 20, Done-when 4): a sentinel in every PHI field of one patient, put
there through the services (record, intake, symptoms, appointments, consultation, transcript,
medication plan, unsigned report, health data, contact note, Cliniko outbox, webhook outbox),
erased, then the raw database (SQLite: ``iterdump`` and the bytes of the file; PostgreSQL:
``pg_dump``) holds no sentinel, nor does any encrypted value left once decrypted; what the law
keeps (a signed report, an invoice, the tombstone) is kept; another patient is untouched; the
audit chain still verifies."""

from __future__ import annotations

import io
import secrets
import sqlite3
import string
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.engine import make_url

from clinic_app.appointments import booking
from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.billing import invoices
from clinic_app.consultations import service as consultations
from clinic_app.core import audit, crypto, jobs
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.figures.contacts import record_contact
from clinic_app.health_data import service as health_data
from clinic_app.health_data.metrics import HealthMetric
from clinic_app.health_data.models import HealthUpload
from clinic_app.intake import service as intake
from clinic_app.intake.writing import SymptomRequest
from clinic_app.patients import consent, erasure
from clinic_app.patients.models import Patient
from clinic_app.reports.models import SIGNED, Report
from clinic_app.symptoms import service as symptoms
from clinic_app.sync import outbox as sync_outbox
from clinic_app.sync.models import PATIENTS, OutboxEntry
from clinic_app.webhooks import outbox as webhook_outbox
from clinic_app.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.reports.conftest import TRANSCRIPT_VTT, generate, master_symptom, sign


def new_sentinel() -> str:
    return "zq" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(14))


def new_phone_digits() -> str:
    return "412" + "".join(secrets.choice(string.digits) for _ in range(6))  # a mobile range that exists


@dataclass
class Planted:
    patient_id: str
    sentinel: str
    phone: str
    signed_report_id: str
    invoice_id: str
    upload_ids: list[str]


def _catalogue(organization_id: str) -> tuple[str, str]:
    practitioner = Practitioner(organization_id=organization_id, first_name="Ruth", last_name="Okoye")
    kind = AppointmentType(organization_id=organization_id, name="Standard", duration_minutes=30)
    db.session.add_all([practitioner, kind])
    db.session.flush()
    return practitioner.id, kind.id


def plant(app: Flask, tenants: Any, *, with_signed_report: bool = True) -> Planted:
    """One patient of organization A with ``sentinel`` in every PHI field (``phone`` digits in the
    phone numbers), plus a signed report (from a consultation without the sentinel) and an invoice."""
    organization, clinician = tenants.a, tenants.user("clinician")
    sentinel, phone = new_sentinel(), new_phone_digits()
    actor = audit.Actor(user_id=clinician.id)
    with app.app_context():
        symptoms.sync_master_list()
        data = intake.ApiIntake(
            patient_raw={
                "first_name": sentinel.capitalize(),
                "last_name": f"{sentinel.capitalize()}son",
                "preferred_name": sentinel,
                "date_of_birth": "1979-05-06",
                "gender": sentinel,
                "phones": [{"type": "mobile", "number": f"0{phone}"}],
                "email": f"{sentinel}@example.org",
                "address": {"line1": f"12 {sentinel} Street", "suburb": sentinel, "postcode": "2000"},
                "emergency_contact": {"name": sentinel, "relationship": "Friend", "phone": f"0{phone}"},
                "notes": f"Notes {sentinel}",
                "external_ids": {"medicare": sentinel},
            },
            presenting={
                "presenting_problem": f"Problem {sentinel}",
                "informants": ["self", "other"],
                "informant_details": sentinel,
                "illness_duration_value": 4,
                "illness_duration_unit": "months",
                "referred_by": f"Dr {sentinel}",
                "precipitating_factors": f"Factors {sentinel}",
                "precipitating_tags": [sentinel],
            },
            symptoms=[
                SymptomRequest(
                    "master",
                    master_symptom("MB43"),
                    None,
                    {"severity": "moderate", "frequency": "daily", "notes": sentinel, "onset_description": sentinel},
                )
            ],
        )
        patient_id = intake.register_from_api(organization.id, data, actor=actor).patient_id
        db.session.commit()

        practitioner_id, type_id = _catalogue(organization.id)
        soon = utcnow() + timedelta(days=3)
        booked = booking.book(
            organization.id, patient_id=patient_id, practitioner_id=practitioner_id, appointment_type_id=type_id,
            starts_at=soon.replace(microsecond=0), notes=f"Bring {sentinel}", actor=actor,
        )  # fmt: skip
        other = booking.book(
            organization.id, patient_id=patient_id, practitioner_id=practitioner_id, appointment_type_id=type_id,
            starts_at=(soon + timedelta(days=1)).replace(microsecond=0), actor=actor,
        )  # fmt: skip
        booking.cancel(organization.id, other.id, reason=f"Away {sentinel}", actor=actor)
        db.session.commit()

        # A consultation without the sentinel whose report is signed: a kept clinical record.
        signed_session = consultations.start_session(
            organization.id, patient_id=patient_id, clinician_id=clinician.id, chief_complaint="Low mood",
            session_type="new_patient", actor=actor,
        )  # fmt: skip
        consultations.add_transcript(organization.id, signed_session, text=TRANSCRIPT_VTT, source="vtt", actor=actor)
        consultations.stop_session(organization.id, signed_session.id, notes="Review soon.", actor=actor)
        db.session.commit()
        signed_session_id = signed_session.id
    signed_report_id = ""
    if with_signed_report:
        signed_report_id = generate(app, organization, clinician, signed_session_id)
        sign(app, organization, clinician, signed_report_id)

    with app.app_context():
        session = consultations.start_session(
            organization.id, patient_id=patient_id, clinician_id=clinician.id, chief_complaint=f"About {sentinel}",
            session_type="follow_up", appointment_id=None, actor=actor,
        )  # fmt: skip
        vtt = TRANSCRIPT_VTT.replace("My sister is a big support", f"My sister {sentinel} is a big support")
        consultations.add_transcript(organization.id, session, text=vtt, source="vtt", actor=actor)
        consultations.set_medication_plan(
            organization.id, session, [{"drug_name": sentinel, "dosage": "5mg", "frequency": "daily"}], actor=actor
        )
        consultations.stop_session(organization.id, session.id, notes=f"Notes {sentinel}", actor=actor)
        db.session.commit()
        draft_session_id = session.id
    draft_report_id = generate(app, organization, clinician, draft_session_id, additional_notes=f"Extra {sentinel}")

    with app.app_context():
        assert db.session.get(Report, draft_report_id).status != SIGNED
        metrics = [
            HealthMetric.model_validate(
                {
                    "metric_type": "heart_rate",
                    "biometric_data": {"heart_rate": 71},
                    "created_at": "2024-03-04T08:00:00+11:00",
                    "device_id": sentinel,
                    "metadata": {"note": sentinel},
                }
            )
        ]
        received = health_data.record_metrics(organization.id, patient_id, metrics, actor=actor, upload_source=sentinel)
        csv = f"timestamp,activity\n2024-03-04 00:00,{sentinel}\n".encode()
        upload = health_data.receive_file(
            organization.id, patient_id, io.BytesIO(csv), filename=f"{sentinel}.csv", file_format="actigraph_csv",
            actor=actor,
        )  # fmt: skip
        record_contact(organization.id, patient_id, outcome="left_message", note=f"Called {sentinel}", actor=actor)
        sync_outbox.record_change(organization.id, PATIENTS, patient_id, "update", ["notes"], user_id=clinician.id)
        endpoint = WebhookEndpoint(
            organization_id=organization.id, url="https://hooks.example.net/x", event_types=["patient.updated"],
            secret="v1:unused:secret",
        )  # fmt: skip
        db.session.add(endpoint)
        db.session.flush()
        webhook_outbox.emit(organization.id, "patient.updated", {"patient_id": patient_id})
        invoice = invoices.create_draft(organization.id, invoices.DraftInput(patient_id=patient_id), actor=actor)
        upload_ids = [received.upload.id, upload.id]
        invoice_id = invoice.id
        db.session.commit()
        assert booked.id
    with app.app_context():
        jobs.wait_for_local_jobs(app)
    return Planted(patient_id, sentinel, phone, signed_report_id, invoice_id, upload_ids)


def erase_now(app: Flask, tenants: Any, patient_id: str) -> str:
    """Request (waiting period 0) and carry out the erasure as the owner; returns the request id."""
    owner = audit.Actor(user_id=tenants.user("owner").id)
    with app.app_context():
        name = " ".join(
            db.session.execute(select(Patient.first_name, Patient.last_name).where(Patient.id == patient_id)).one()
        )
        consent.set_privacy(tenants.a.id, erasure_waiting_days=0, consent_at_intake=None, actor=owner)
        request = erasure.request_erasure(
            tenants.a.id, patient_id, reason="patient_request", note=None, confirm_name=name, actor=owner
        )
        erasure.carry_out(tenants.a.id, request.id, actor=owner, now=utcnow() + timedelta(seconds=1))
        db.session.commit()
        return request.id


# --- reading the database raw -----------------------------------------------------------------


def raw_database_text(app: Flask) -> str:
    """What a copy of the database shows: SQLite's iterdump plus the bytes of its files (after a
    checkpoint folds the write-ahead log in), or PostgreSQL's pg_dump."""
    with app.app_context():
        url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
        db.session.remove()
        db.engine.dispose()
    if url.get_backend_name() == "sqlite":
        path = Path(url.database)
        with sqlite3.connect(path) as connection:
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0
            dumped = "\n".join(connection.iterdump())
        files = [path, Path(f"{path}-wal"), Path(f"{path}-journal")]
        raw = b"".join(f.read_bytes() for f in files if f.exists())
        return dumped + "\n" + raw.decode("latin-1")
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    dumped = subprocess.run(["/usr/bin/pg_dump", "--data-only", plain], check=True, capture_output=True, timeout=120)
    return dumped.stdout.decode("utf-8", "replace")


def decrypted_values(app: Flask, organization_id: str, *, skip_ids: set[str]) -> list[str]:
    """Every encrypted value the organization's rows still hold, decrypted (rows in ``skip_ids``
    left out: the records the law keeps)."""
    values = []
    with app.app_context():
        vault = crypto.vault_for(organization_id)
        for column in crypto.ENCRYPTED_COLUMNS:
            model = column.model
            if "organization_id" not in model.__table__.c:
                continue
            rows = db.session.execute(
                select(model.id, getattr(model, column.attribute)).where(model.organization_id == organization_id)
            ).all()
            for row_id, stored in rows:
                if stored is None or row_id in skip_ids:
                    continue
                plain = vault.decrypt(column.field, stored)
                values.append(plain if isinstance(plain, str) else "")
    return values


def found_in(haystack: str, *needles: str) -> list[str]:
    lowered = haystack.lower()
    return [needle for needle in needles if needle.lower() in lowered]


# --- the Done-when test -----------------------------------------------------------------------


def test_erasing_leaves_no_sentinel_in_the_raw_database_and_keeps_what_the_law_keeps(app, tenants):
    planted = plant(app, tenants)
    control = plant(app, tenants, with_signed_report=False)
    assert found_in(raw_database_text(app), planted.sentinel)  # the names are plaintext: the scan sees them
    before = decrypted_values(app, tenants.a.id, skip_ids=set())
    assert sum(planted.sentinel in value for value in before) >= 15  # every kind of field holds it

    with app.app_context():
        sealed = [health_data.sealed_path(db.session.get(HealthUpload, uid)) for uid in planted.upload_ids]
        assert db.session.scalar(select(OutboxEntry.id).where(OutboxEntry.local_id == planted.patient_id))
        assert db.session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.status == "pending"))
    erase_now(app, tenants, planted.patient_id)

    dump = raw_database_text(app)
    assert found_in(dump, planted.sentinel, planted.phone) == []
    left = "\n".join(decrypted_values(app, tenants.a.id, skip_ids={planted.signed_report_id}))
    assert found_in(left, planted.sentinel, planted.phone) == []
    assert not any(path.exists() for path in sealed)
    # Another patient's values are all there, in the dump and decrypted.
    assert found_in(dump, control.sentinel) == [control.sentinel]
    assert control.sentinel in left and control.phone in left

    with app.app_context():
        tombstone = db.session.get(Patient, planted.patient_id)
        assert tombstone.erased_at is not None and tombstone.first_name == "Erased" and tombstone.email_enc is None
        signed = db.session.get(Report, planted.signed_report_id)
        assert signed.status == SIGNED and signed.current_sections_enc is not None  # kept as signed
        assert (
            db.session.scalar(select(Report.id).where(Report.patient_id == planted.patient_id, Report.status != SIGNED))
            is None
        )
        assert invoices.get_invoice(tenants.a.id, planted.invoice_id).patient_id == planted.patient_id
        assert db.session.scalars(select(Appointment).where(Appointment.patient_id == planted.patient_id)).all()
        checked, problems = audit.verify_chains()
        assert checked > 0 and problems == []
        completed = db.session.scalars(
            select(audit.AuditEvent).where(audit.AuditEvent.action == "erasure.completed")
        ).all()
        assert [event.patient_id for event in completed] == [planted.patient_id]
