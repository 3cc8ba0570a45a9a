"""How consultations are stored: nothing typed about the patient in plaintext, every encrypted
column registered for key rotation, and a migration that matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from clinic_app.consultations import service
from clinic_app.consultations.models import ConsultationSession, Transcript
from clinic_app.core import audit, crypto
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from tests.consultations.conftest import raw_rows, start

SECRETS = ("SENTINEL-COMPLAINT", "SENTINEL-NOTE", "SENTINEL-DRUG", "SENTINEL-SAID", "sentinel-file")


def test_nothing_clinical_is_stored_in_plaintext(app, tenants, patient_id):
    session_id, _code = start(app, tenants, patient_id, chief_complaint="SENTINEL-COMPLAINT")
    actor = audit.Actor(user_id=tenants.user("clinician").id)
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        service.set_medication_plan(
            tenants.a.id, session, [{"drug_name": "SENTINEL-DRUG", "dosage": "5 mg"}], actor=actor
        )
        upload = service.UploadedFile("sentinel-file.txt", b"Patient: SENTINEL-SAID twice\nDoctor: noted")
        service.add_transcript(tenants.a.id, session, file=upload, actor=actor)
        service.stop_session(tenants.a.id, session_id, notes="SENTINEL-NOTE", actor=actor)
        db.session.commit()
    for table in ("consultation_sessions", "consultation_transcripts", "audit_events"):
        dump = repr(raw_rows(app, table))
        assert not [s for s in SECRETS if s in dump], table
    with app.app_context():
        facts = service.session_facts(service.get_session(tenants.a.id, session_id))
        assert facts.chief_complaint == "SENTINEL-COMPLAINT"
        assert facts.notes == "SENTINEL-NOTE"
        assert facts.medication_plan == [
            {"drug_name": "SENTINEL-DRUG", "dosage": "5 mg", "frequency": "", "duration": ""}
        ]
        assert [s.text for s in service.transcript_segments(service.get_session(tenants.a.id, session_id))] == [
            "SENTINEL-SAID twice",
            "noted",
        ]


def test_every_encrypted_column_is_registered_for_rotation():
    registered = {(c.model, c.attribute) for c in crypto.ENCRYPTED_COLUMNS}
    for model in (ConsultationSession, Transcript):
        for column in model.__table__.columns:
            if column.name.endswith("_enc"):
                assert (model, column.name) in registered, column.name


def test_the_models_match_the_migrated_schema(app):
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), db.metadata)
    ours = ("consultation_sessions", "consultation_transcripts")
    assert [d for d in differences if any(name in repr(d) for name in ours)] == []


def test_key_rotation_re_encrypts_consultations(app, tenants, patient_id):
    from clinic_app.core.key_rotation import pending_count

    session_id, _code = start(app, tenants, patient_id, chief_complaint="Rotated complaint")
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        service.add_transcript(
            tenants.a.id, session, file=service.UploadedFile("r.txt", b"Rotated words"), actor=audit.Actor()
        )
        service.set_medication_plan(tenants.a.id, session, [{"drug_name": "Rotated"}], actor=audit.Actor())
        service.stop_session(tenants.a.id, session_id, notes="Rotated notes", actor=audit.Actor())
        db.session.commit()
        result = app.test_cli_runner().invoke(args=["keys", "rotate", "--wait"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        current = crypto.vault_for(tenants.a.id).current.id
        for table in ("consultation_sessions", "consultation_transcripts"):
            for row in raw_rows(app, table):
                for name, value in row.items():
                    if name.endswith("_enc") and value is not None:
                        assert value.startswith(f"v1:{current}:"), (table, name)
        assert pending_count() == 0
        session = service.get_session(tenants.a.id, session_id)
        facts = service.session_facts(session)
        assert (facts.chief_complaint, facts.notes, facts.medication_plan[0]["drug_name"]) == (
            "Rotated complaint",
            "Rotated notes",
            "Rotated",
        )
        assert [s.text for s in service.transcript_segments(session)] == ["Rotated words"]


def test_an_unreadable_value_is_shown_as_such_and_raises_an_alarm(app, tenants, login_as, patient_id):
    session_id, code = start(app, tenants, patient_id)
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        service.add_transcript(tenants.a.id, session, text="Doctor: hi\nPatient: hello", actor=audit.Actor())
        db.session.commit()
        for table, column in (
            ("consultation_sessions", "chief_complaint_enc"),
            ("consultation_transcripts", "segments_enc"),
        ):
            key = "id" if table == "consultation_sessions" else "session_id"
            stored = db.session.scalar(text(f"SELECT {column} FROM {table} WHERE {key} = :id"), {"id": session_id})  # noqa: S608
            db.session.execute(
                text(f"UPDATE {table} SET {column} = :v WHERE {key} = :id"),  # noqa: S608
                {"v": stored[:-6] + ("AAAAAA" if not stored.endswith("AAAAAA") else "BBBBBB"), "id": session_id},
            )
        db.session.commit()
    clinician = login_as("clinician")
    page = clinician.get(f"/consultations/{session_id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and body.count("data-unreadable") == 2 and code in body
    listed = clinician.get(f"/patients/{patient_id}/consultations").get_data(as_text=True)
    assert "data-unreadable" in listed
    with app.app_context():
        facts = service.session_facts(service.get_session(tenants.a.id, session_id))
        assert facts.chief_complaint is None and facts.unreadable_fields == ("chief_complaint",)
        assert service.transcript_segments(service.get_session(tenants.a.id, session_id)) == []
        alarms = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "crypto.decryption_failed")).all()
        assert {a.details["field"] for a in alarms} >= {
            "consultation_sessions.chief_complaint",
            "consultation_transcripts.segments",
        }
