"""Erasing a patient removes their intake record and symptoms (``intake.erasure``), keeps the
submitted draft's row without answers, and leaves another patient's intake alone."""

from __future__ import annotations

from sqlalchemy import func, select

from clinic_app.extensions import db
from clinic_app.intake.models import IntakeDraft, IntakeRecord, PatientSymptom
from clinic_app.patients import erasure
from tests.patients.test_erasure import erase_now
from tests.reports.conftest import register_with_intake


def _count(model, patient_id):
    return db.session.scalar(select(func.count()).select_from(model).where(model.patient_id == patient_id))


def test_erasure_deletes_the_intake_record_and_symptoms_of_that_patient_only(app, tenants):
    erased = register_with_intake(app, tenants.a, first_name="Una", last_name="Gone")
    kept = register_with_intake(app, tenants.a, first_name="Vera", last_name="Stays")
    with app.app_context():
        lines = {
            (line.feature, line.count)
            for line in erasure.inventory(tenants.a.id, erased).erased
            if line.feature == "intake"
        }
        assert lines == {("intake", 1), ("intake", 2)}
    erase_now(app, tenants, erased)
    with app.app_context():
        assert (_count(IntakeRecord, erased), _count(PatientSymptom, erased)) == (0, 0)
        assert (_count(IntakeRecord, kept), _count(PatientSymptom, kept)) == (1, 2)
        draft = db.session.scalar(select(IntakeDraft).where(IntakeDraft.submitted_patient_id == erased))
        assert draft is not None and draft.payload_enc is None
