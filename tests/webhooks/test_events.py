"""The events other features signal, each reaching a subscribed endpoint with ids only:
patient.updated, report.signed, sync.completed/failed and health_data.analysed."""

from __future__ import annotations

import io
import json

from clinic_app.core.audit import Actor
from clinic_app.extensions import db
from clinic_app.health_data import service as health
from clinic_app.patients import service as patients
from clinic_app.sync.lifecycle import finish_run
from clinic_app.sync.models import SyncRun
from clinic_app.webhooks import delivery
from tests.reports.conftest import consultation, generate, sign
from tests.webhooks.conftest import add_endpoint


def _bodies(receiver) -> list[dict]:
    return [json.loads(request["body"]) for request in receiver.requests]


def _patient(app, organization, first="Eve", last="Event") -> str:
    with app.app_context():
        data = patients.validate_for(organization.id, {"first_name": first, "last_name": last})
        patient = patients.create_patient(organization.id, data, actor=Actor())
        db.session.commit()
        return patient.id


def test_a_changed_patient_sends_patient_updated_without_what_changed(app, tenants, receiver):
    add_endpoint(app, tenants.a, receiver.url, event_types=["patient.updated"])
    patient_id = _patient(app, tenants.a)
    with app.app_context():
        data = patients.validate_for(tenants.a.id, {"first_name": "Eve", "last_name": "Renamed"})
        patients.update_patient(tenants.a.id, patient_id, data, actor=Actor())
        db.session.commit()
    assert [(b["type"], b["data"]) for b in _bodies(receiver)] == [("patient.updated", {"patient_id": patient_id})]
    assert b"Renamed" not in receiver.requests[0]["body"]


def test_signing_a_report_sends_report_signed(app, tenants, receiver):
    add_endpoint(app, tenants.a, receiver.url, event_types=["report.signed"])
    clinician = tenants.user("clinician")
    patient_id = _patient(app, tenants.a)
    report_id = generate(app, tenants.a, clinician, consultation(app, tenants.a, clinician, patient_id))
    assert receiver.requests == []  # a draft is no event
    sign(app, tenants.a, clinician, report_id)
    assert [(b["type"], b["data"]) for b in _bodies(receiver)] == [
        ("report.signed", {"report_id": report_id, "patient_id": patient_id})
    ]


def test_a_finished_sync_sends_sync_completed_or_failed(app, tenants, receiver):
    add_endpoint(app, tenants.a, receiver.url, event_types=["sync.completed", "sync.failed"])
    with app.app_context():
        run = SyncRun(organization_id=tenants.a.id, mode="patients", status="running", steps=["patients"])
        db.session.add(run)
        db.session.flush()
        finish_run(run, "failed", "Cliniko did not answer")
        db.session.commit()
        run_id = run.id
    assert [(b["type"], b["data"]) for b in _bodies(receiver)] == [("sync.failed", {"sync_id": run_id})]


def test_a_completed_analysis_sends_health_data_analysed(app, tenants, receiver):
    add_endpoint(app, tenants.a, receiver.url, event_types=["health_data.analysed"])
    patient_id = _patient(app, tenants.a)
    rows = "".join(f"2024-03-04T{h:02}:{m:02}:00,{(h * 60 + m) % 97}\n" for h in range(24) for m in range(60))
    with app.app_context(), io.BytesIO(f"timestamp,value\n{rows}".encode()) as csv_file:
        upload = health.receive_file(
            tenants.a.id,
            patient_id,
            csv_file,
            filename="night.csv",
            file_format="plain_csv",
            actor=Actor(user_id=tenants.user("clinician").id),
        )
        db.session.commit()  # the import and its analysis run now (eagerly in tests)
        upload_id = upload.id
        # Written by the analysis job; the clock's sweep (or the next delivery job) sends it.
        delivery.deliver_due()
    [body] = _bodies(receiver)
    assert body["type"] == "health_data.analysed"
    assert body["data"]["patient_id"] == patient_id and body["data"]["upload_id"] == upload_id
    assert body["data"]["analysis_id"].startswith("hda_")
