"""Erasing a patient deletes their transcripts and clears each consultation's complaint, notes and
medication plan (``consultations.erasure``); the sessions stay without content; another patient's
consultations are untouched."""

from __future__ import annotations

from sqlalchemy import select

from clinic_app.consultations.models import ConsultationSession, Transcript
from clinic_app.extensions import db
from clinic_app.patients import erasure
from tests.patients.test_erasure import erase_now
from tests.reports.conftest import consultation, register_with_intake


def _transcripts(patient_id):
    sessions = select(ConsultationSession.id).where(ConsultationSession.patient_id == patient_id)
    return db.session.scalars(select(Transcript).where(Transcript.session_id.in_(sessions))).all()


def test_erasure_removes_consultation_content_and_keeps_the_sessions(app, tenants):
    clinician = tenants.user("clinician")
    erased = register_with_intake(app, tenants.a, first_name="Una", last_name="Gone")
    kept = register_with_intake(app, tenants.a, first_name="Vera", last_name="Stays")
    erased_session = consultation(app, tenants.a, clinician, erased)
    kept_session = consultation(app, tenants.a, clinician, kept)
    with app.app_context():
        found = {
            line.what: line.count
            for line in erasure.inventory(tenants.a.id, erased).lines
            if line.feature == "consultations"
        }
        assert found["Transcripts"] == 1 and found["Chief complaints, notes and medication plans"] == 1
    erase_now(app, tenants, erased)
    with app.app_context():
        session = db.session.get(ConsultationSession, erased_session)
        assert session is not None and session.status == "completed"
        assert (session.chief_complaint_enc, session.notes_enc, session.medication_plan_enc) == (None, None, None)
        assert _transcripts(erased) == []
        other = db.session.get(ConsultationSession, kept_session)
        assert other.chief_complaint_enc and other.notes_enc and other.medication_plan_enc
        assert len(_transcripts(kept)) == 1
