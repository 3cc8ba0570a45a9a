"""Erasing a patient deletes their re-engagement contacts (with the notes) and stored figures
(``figures.erasure``); another patient's stay."""

from __future__ import annotations

from sqlalchemy import select

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.figures.contacts import record_contact
from clinic_app.figures.models import EngagementContact, PatientAppointmentStats
from tests.health_data.conftest import register_patient
from tests.patients.test_erasure import erase_now


def _rows(model, patient_id):
    return db.session.scalars(select(model).where(model.patient_id == patient_id)).all()


def test_erasure_deletes_contacts_and_figures_of_that_patient_only(app, tenants):
    erased = register_patient(app, tenants.a, first_name="Una", last_name="Gone")
    kept = register_patient(app, tenants.a, first_name="Vera", last_name="Stays")
    with app.app_context():
        for patient_id in (erased, kept):
            record_contact(tenants.a.id, patient_id, outcome="left_message", note="Rang twice", actor=audit.Actor())
        db.session.commit()
        assert _rows(PatientAppointmentStats, erased)
    erase_now(app, tenants, erased)
    with app.app_context():
        assert _rows(EngagementContact, erased) == [] and _rows(PatientAppointmentStats, erased) == []
        assert len(_rows(EngagementContact, kept)) == 1 and _rows(PatientAppointmentStats, kept)
