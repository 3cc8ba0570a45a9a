"""Erasing a patient deletes their health-data uploads with every value, analysis and insight
(``health_data.erasure``) and, once committed, a sealed file still waiting on disk; another
patient's uploads and files stay."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from clinic_app.billing import service as billing
from clinic_app.core import audit
from clinic_app.core.errors import Invalid
from clinic_app.extensions import db
from clinic_app.health_data import service
from clinic_app.health_data.metrics import HealthMetric
from clinic_app.health_data.models import HealthSeriesBlock, HealthUpload
from clinic_app.intake.writing import add_symptoms
from clinic_app.patients import erasure
from clinic_app.patients.service import PatientErased
from tests.health_data.conftest import register_patient
from tests.patients.test_erasure import erase_now


def _upload(app, organization_id, patient_id):
    metric = HealthMetric.model_validate(
        {"metric_type": "heart_rate", "biometric_data": {"heart_rate": 64}, "created_at": "2024-03-04T08:00:00+11:00"}
    )
    with app.app_context():
        upload = service.record_metrics(organization_id, patient_id, [metric], actor=audit.Actor()).upload
        path = service.sealed_path(upload)
        db.session.commit()
        # A file still waiting for its import (as a received upload leaves it).
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"sealed bytes")
        return upload.id, path


def test_erasure_deletes_the_patients_health_data_and_waiting_files(app, tenants):
    erased = register_patient(app, tenants.a, first_name="Una", last_name="Gone")
    kept = register_patient(app, tenants.a, first_name="Vera", last_name="Stays")
    erased_upload, erased_file = _upload(app, tenants.a.id, erased)
    kept_upload, kept_file = _upload(app, tenants.a.id, kept)
    with app.app_context():
        found = {
            line.what: line.count
            for line in erasure.inventory(tenants.a.id, erased).erased
            if line.feature == "health_data"
        }
        assert found["Stored health-data values"] == 1
    erase_now(app, tenants, erased)
    with app.app_context():
        assert db.session.get(HealthUpload, erased_upload) is None
        assert db.session.scalars(select(HealthSeriesBlock).where(HealthSeriesBlock.patient_id == erased)).all() == []
        assert not erased_file.exists()
        assert db.session.get(HealthUpload, kept_upload) is not None and kept_file.exists()


def test_nothing_new_is_recorded_for_an_erased_patient(app, tenants):
    """Health data, symptoms and invoices for the tombstone are refused (410, or 422 naming the
    patient for an invoice draft), and nothing is written."""
    erased = register_patient(app, tenants.a, first_name="Nell", last_name="Gone")
    erase_now(app, tenants, erased)
    metric = HealthMetric.model_validate(
        {"metric_type": "heart_rate", "biometric_data": {"heart_rate": 64}, "created_at": "2024-03-04T08:00:00+11:00"}
    )
    with app.app_context():
        with pytest.raises(PatientErased):
            service.record_metrics(tenants.a.id, erased, [metric], actor=audit.Actor())
        with pytest.raises(PatientErased):
            add_symptoms(tenants.a.id, erased, [], actor=audit.Actor())
        with pytest.raises(Invalid) as refused:
            billing.create_draft(tenants.a.id, billing.DraftInput(patient_id=erased), actor=audit.Actor())
        assert refused.value.errors[0].code == "PATIENT_ERASED"
        db.session.rollback()
        assert db.session.scalars(select(HealthUpload).where(HealthUpload.patient_id == erased)).all() == []
