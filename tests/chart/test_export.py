"""A patient's record export ("right of access"): the download and the API answer the same
document with the values the clinic holds (consultations and reports as metadata only), only to
callers with ``patients:export`` in the patient's organization, every export audited with ids only,
and a value that cannot be decrypted is null and named, never a 500."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from clinic_app.appointments import booking
from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.intake import service as intake
from clinic_app.intake.writing import SymptomRequest
from clinic_app.reports.content import read_sections
from clinic_app.symptoms import service as symptoms
from tests.appointments.builders import make_practitioner, make_type
from tests.factories import access_token_for, api_token_for
from tests.patients.conftest import SENTINEL, corrupt, events, leaked, register
from tests.reports.conftest import consultation, generate, master_symptom, report_row, sign

PRESENTING = {
    "presenting_problem": "SENTINEL-PRESENTING problem since spring",
    "informants": ["self"],
    "informant_details": None,
    "illness_duration_value": 3,
    "illness_duration_unit": "months",
    "referred_by": "SENTINEL-REFERRER",
    "precipitating_factors": "SENTINEL-PRECIPITANT",
    "precipitating_tags": ["work"],
}
APPOINTMENT_NOTE = "SENTINEL-APPOINTMENT-NOTE"
CANCEL_REASON = "SENTINEL-CANCEL-REASON"
COMPLAINT = "SENTINEL-COMPLAINT"
# Every value of the patient that must never reach the audit trail (besides SECRET_FRAGMENTS).
PHI = (
    "Sentinel",
    "SENTINEL-PRESENTING",
    "SENTINEL-REFERRER",
    "SENTINEL-PRECIPITANT",
    "SENTINEL-SYMPTOM",
    "SENTINEL-ONSET",
    "SENTINEL-TRIGGER",
    APPOINTMENT_NOTE,
    CANCEL_REASON,
    COMPLAINT,
)
SOON = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)


def _patient_with_everything(app: Any, tenants: Any) -> dict[str, Any]:
    """The sentinel patient registered through intake (two symptoms: one ICD-11, one custom), with
    an appointment booked with notes, one cancelled with a reason, a consultation with a transcript
    and a signed report. Returns the ids."""
    clinician = tenants.user("clinician")
    with app.app_context():
        symptoms.sync_master_list()
        data = intake.ApiIntake(
            patient_raw=dict(SENTINEL),
            presenting=dict(PRESENTING),
            symptoms=[
                SymptomRequest(
                    "master",
                    master_symptom("MB43"),
                    None,
                    {
                        "severity": "moderate",
                        "frequency": "daily",
                        "duration_value": 4,
                        "duration_unit": "weeks",
                        "notes": "SENTINEL-SYMPTOM note",
                        "onset_description": "SENTINEL-ONSET after the move",
                        "triggers": ["SENTINEL-TRIGGER crowds", "noise"],
                    },
                ),
                SymptomRequest("custom", None, "Sentinel custom worry", {"severity": "mild", "frequency": "weekly"}),
            ],
        )
        patient_id = intake.register_from_api(tenants.a.id, data, actor=audit.Actor()).patient_id
        practitioner = make_practitioner(tenants.a.id)
        kind = make_type(tenants.a.id, "Initial consultation", 60)
        booked = booking.book(
            tenants.a.id,
            patient_id=patient_id,
            practitioner_id=practitioner,
            appointment_type_id=kind,
            starts_at=SOON,
            notes=APPOINTMENT_NOTE,
            actor=audit.Actor(),
        )
        cancelled = booking.book(
            tenants.a.id,
            patient_id=patient_id,
            practitioner_id=practitioner,
            appointment_type_id=kind,
            starts_at=SOON + timedelta(days=7),
            actor=audit.Actor(),
        )
        booking.cancel(tenants.a.id, cancelled.id, reason=CANCEL_REASON, actor=audit.Actor())
        db.session.commit()
        ids = {"patient": patient_id, "booked": booked.id, "cancelled": cancelled.id}
    ids["session"] = consultation(app, tenants.a, clinician, patient_id, complaint=COMPLAINT)
    ids["report"] = generate(app, tenants.a, clinician, ids["session"])
    sign(app, tenants.a, clinician, ids["report"])
    return ids


def _bearer(app: Any, user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token_for(app, user)}"}


def test_the_download_holds_the_record_as_the_clinic_holds_it(app, tenants, login_as):
    ids = _patient_with_everything(app, tenants)
    patient_id = ids["patient"]
    response = login_as("clinician").get(f"/patients/{patient_id}/export")

    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_data(as_text=True)
    document = json.loads(body)
    exported_at = datetime.fromisoformat(document["exported_at"].replace("Z", "+00:00"))
    day = exported_at.astimezone(ZoneInfo("Australia/Sydney")).strftime("%Y%m%d")  # organization A's calendar
    assert response.headers["Content-Disposition"] == f'attachment; filename="patient-{patient_id}-{day}.json"'
    assert response.headers["Cache-Control"] == "no-store"

    assert document["document_type"] == "patient_record_export" and document["schema_version"] == 1
    assert document["organization"] == {"id": tenants.a.id, "name": "Harbour Physiotherapy"}
    patient = document["patient"]
    assert patient["id"] == patient_id and (patient["first_name"], patient["last_name"]) == ("Sentinel", "Patient")
    assert patient["date_of_birth"] == "1971-03-04" and patient["sex"] == "female"
    assert patient["gender"] == "SENTINEL-GENDER" and patient["email"] == "sentinel.patient@example.com"
    assert patient["phones"] == [
        {"type": "mobile", "number": "+61412345678"},
        {"type": "home", "number": "+61298765432"},
    ]
    assert patient["address"]["line1"] == "42 Sentinel Street" and patient["address"]["postcode"] == "2999"
    assert patient["emergency_contact"] == {
        "name": "SENTINEL-CONTACT",
        "relationship": "Sister",
        "phone": "+61499888777",
    }
    assert patient["notes"] == "SENTINEL-NOTE" and patient["external_ids"] == {"cliniko": "SENTINEL-CLINIKO-77"}
    assert patient["archived"] is False and patient["created_at"].endswith("Z") and patient["unreadable_fields"] == []

    assert document["intake"]["presenting_problem"] == PRESENTING["presenting_problem"]
    assert document["intake"]["referred_by"] == "SENTINEL-REFERRER"
    assert document["intake"]["illness_duration"] == {"value": 3, "unit": "months"}
    assert document["intake"]["precipitating_factor"] == {"narrative": "SENTINEL-PRECIPITANT", "tags": ["work"]}
    by_source = {symptom["symptom_source"]: symptom for symptom in document["symptoms"]}
    listed, custom = by_source["master"], by_source["user"]
    assert len(document["symptoms"]) == 2
    assert (listed["symptom_source"], listed["code"], listed["severity"], listed["frequency"]) == (
        "master",
        "MB43",
        "moderate",
        "daily",
    )
    assert listed["duration"] == {"value": 4, "unit": "weeks"} and listed["notes"] == "SENTINEL-SYMPTOM note"
    assert listed["onset_description"] == "SENTINEL-ONSET after the move"
    assert listed["triggers"] == ["SENTINEL-TRIGGER crowds", "noise"]
    assert (custom["symptom_source"], custom["symptom_name"], custom["code"]) == ("user", "Sentinel custom worry", None)

    booked, cancelled = document["appointments"]
    assert booked["id"] == ids["booked"] and booked["status"] == "booked" and booked["notes"] == APPOINTMENT_NOTE
    assert datetime.fromisoformat(booked["starts_at"].replace("Z", "+00:00")) == SOON
    assert datetime.fromisoformat(booked["ends_at"].replace("Z", "+00:00")) == SOON + timedelta(hours=1)
    assert booked["appointment_type"] == "Initial consultation" and booked["practitioner"] == "Dr Priya Kapoor"
    assert cancelled["status"] == "cancelled" and cancelled["cancellation_reason"] == CANCEL_REASON
    assert cancelled["cancelled_at"] is not None and cancelled["source"] == "app"

    [session] = document["consultations"]
    assert session["id"] == ids["session"] and session["session_code"] and session["session_type"] == "new_patient"
    assert session["status"] == "completed" and session["clinician"] == tenants.user("clinician").display_name
    [report] = document["reports"]
    signed = report_row(app, ids["report"])
    assert (report["id"], report["version"], report["status"]) == (ids["report"], 1, "signed")
    assert report["content_sha256"] == signed.content_sha256 and len(report["content_sha256"]) == 64
    assert report["signed_at"] is not None

    # Metadata only: no complaint, transcript or report content anywhere in the file.
    assert COMPLAINT not in body and "sertraline" not in body.lower() and "wake at three" not in body
    with app.app_context():
        sections = read_sections(db.session.get(type(signed), ids["report"]), "current_sections")
    assert sections and all(text_ not in body for text_ in sections.values() if len(text_) > 20)
    assert "Consultation transcripts" in " ".join(document["not_included"]) and document["unreadable_fields"] == []


def test_the_api_answers_the_same_document_to_a_token_with_the_export_scope(app, tenants, login_as):
    patient_id = register(app, tenants.a, **SENTINEL)
    token = api_token_for(app, tenants.a.id, ["patients:export"], creator=tenants.user("owner"))
    response = app.test_client().get(
        f"/api/v1/patients/{patient_id}/export", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    answer = response.get_json()
    download = json.loads(login_as("clinician").get(f"/patients/{patient_id}/export").get_data(as_text=True))
    assert answer.pop("exported_at") and download.pop("exported_at")
    # A token scoped to the export alone gets the record; the other sections need their own scopes.
    left_out = answer.pop("not_included")[len(download["not_included"]) :]
    assert all(name in " ".join(left_out) for name in ("appointments:read", "consultations:read", "clinical:read"))
    download.pop("not_included")
    assert answer == download
    assert answer["patient"]["email"] == "sentinel.patient@example.com"
    assert (answer["intake"], answer["symptoms"], answer["appointments"]) == (None, [], [])
    assert (answer["consultations"], answer["reports"]) == ([], [])
    assert [e.details["channel"] for e in events(app, "patient.exported")] == ["api", "web"]


def test_each_section_needs_the_permission_that_shows_it_elsewhere(app, tenants, login_as):
    ids = _patient_with_everything(app, tenants)
    url = f"/api/v1/patients/{ids['patient']}/export"
    # A practice admin sees appointments and that consultations happened, but no reports.
    admin = json.loads(login_as("admin").get(url.removeprefix("/api/v1")).get_data(as_text=True))
    assert len(admin["appointments"]) == 2 and len(admin["consultations"]) == 1 and admin["reports"] == []
    assert any("clinical:read" in line for line in admin["not_included"])
    # A token with the export and appointments scopes gets exactly those.
    token = api_token_for(app, tenants.a.id, ["patients:export", "appointments:read"], creator=tenants.user("owner"))
    scoped = app.test_client().get(url, headers={"Authorization": f"Bearer {token}"}).get_json()
    assert len(scoped["appointments"]) == 2 and (scoped["consultations"], scoped["reports"]) == ([], [])
    sections = [e.details["sections"] for e in events(app, "patient.exported")]
    assert sections == [["appointments", "consultations"], ["appointments"]]


def test_receptionists_and_tokens_without_the_scope_are_refused(app, tenants, login_as):
    patient_id = register(app, tenants.a, **SENTINEL)
    receptionist = login_as("receptionist")
    assert receptionist.get(f"/patients/{patient_id}/export").status_code == 403
    assert "data-export-record" not in receptionist.get(f"/patients/{patient_id}").get_data(as_text=True)
    client = app.test_client()
    refused = client.get(f"/api/v1/patients/{patient_id}/export", headers=_bearer(app, tenants.user("receptionist")))
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    reader = api_token_for(app, tenants.a.id, ["patients:read", "patients:write"], creator=tenants.user("owner"))
    assert (
        client.get(f"/api/v1/patients/{patient_id}/export", headers={"Authorization": f"Bearer {reader}"}).status_code
        == 403
    )
    assert events(app, "patient.exported") == []

    page = login_as("clinician").get(f"/patients/{patient_id}").get_data(as_text=True)
    assert f'href="/patients/{patient_id}/export"' in page and "Export record (JSON)" in page


def test_anonymous_callers_are_sent_to_sign_in(app, tenants, client):
    patient_id = register(app, tenants.a)
    page = client.get(f"/patients/{patient_id}/export")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert client.get(f"/api/v1/patients/{patient_id}/export").status_code == 401


def test_another_organization_gets_404_on_the_page_and_the_api(app, tenants, login_as):
    patient_id = register(app, tenants.a, **SENTINEL)
    page = login_as("outsider").get(f"/patients/{patient_id}/export")
    assert page.status_code == 404 and "Sentinel" not in page.get_data(as_text=True)
    other_token = api_token_for(app, tenants.b.id, ["patients:export"], creator=tenants.outsider)
    client = app.test_client()
    for headers in (_bearer(app, tenants.outsider), {"Authorization": f"Bearer {other_token}"}):
        response = client.get(f"/api/v1/patients/{patient_id}/export", headers=headers)
        assert response.status_code == 404 and "Sentinel" not in response.get_data(as_text=True)
        named = client.get(
            f"/api/v1/patients/{patient_id}/export", headers={**headers, "X-Organization-ID": tenants.a.id}
        )
        assert named.status_code == 404
    assert events(app, "patient.exported") == []
    # An unknown id of one's own organization is the same 404.
    assert login_as("clinician").get("/patients/pat_doesnotexist/export").status_code == 404


def test_every_export_is_audited_with_ids_only(app, tenants, login_as):
    ids = _patient_with_everything(app, tenants)
    patient_id = ids["patient"]
    assert login_as("clinician").get(f"/patients/{patient_id}/export").status_code == 200
    api = app.test_client().get(f"/api/v1/patients/{patient_id}/export", headers=_bearer(app, tenants.user("admin")))
    assert api.status_code == 200

    web_event, api_event = events(app, "patient.exported")
    assert web_event.details == {
        "channel": "web",
        "format": "json",
        "sections": ["appointments", "consultations", "reports"],  # a clinician's
    }
    assert api_event.details == {"channel": "api", "format": "json", "sections": ["appointments", "consultations"]}
    assert (
        web_event.actor_user_id == tenants.user("clinician").id and api_event.actor_user_id == tenants.user("admin").id
    )
    for event in (web_event, api_event):
        assert event.patient_id == event.target_id == patient_id and event.organization_id == tenants.a.id
        assert event.outcome == "success"
    # An export is not also counted as a view of the record, nor as a list of reports.
    assert events(app, "patient.viewed") == [] and events(app, "report.listed") == []
    exported = [e for e in events(app) if e.action == "patient.exported" or e.details.get("channel") == "export"]
    assert {e.action for e in exported} == {"patient.exported", "consultation.history_viewed"}
    for event in exported:  # nothing the export recorded holds a value of the patient
        recorded = json.dumps(event.details).lower()
        assert leaked(recorded) == [] and not any(value.lower() in recorded for value in PHI), event.action


def test_an_export_that_fails_after_it_was_built_is_not_recorded(app, tenants, login_as, monkeypatch):
    patient_id = register(app, tenants.a)
    from clinic_app.chart import record_export as export

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the response could not be written")

    monkeypatch.setattr(export, "to_json", broken)  # after the event joined the request's transaction
    assert login_as("clinician").get(f"/patients/{patient_id}/export").status_code == 500
    assert events(app, "patient.exported") == []  # rolled back with the request's work


def test_a_corrupted_value_is_null_and_named_not_a_500(app, tenants, login_as):
    ids = _patient_with_everything(app, tenants)
    patient_id = ids["patient"]
    corrupt(app, patient_id, "email_enc")
    with app.app_context():
        stored = db.session.scalar(text("SELECT notes_enc FROM appointments WHERE id = :id"), {"id": ids["booked"]})
        db.session.execute(
            text("UPDATE appointments SET notes_enc = :v WHERE id = :id"),
            {"v": stored[:-6] + ("AAAAAA" if not stored.endswith("AAAAAA") else "BBBBBB"), "id": ids["booked"]},
        )
        db.session.commit()

    response = login_as("clinician").get(f"/patients/{patient_id}/export")
    assert response.status_code == 200
    document = response.get_json()
    assert document["patient"]["email"] is None and document["patient"]["unreadable_fields"] == ["email"]
    assert document["patient"]["notes"] == "SENTINEL-NOTE"  # the rest of the record is there
    booked = next(a for a in document["appointments"] if a["id"] == ids["booked"])
    assert booked["notes"] is None and booked["unreadable_fields"] == ["notes"]
    assert document["unreadable_fields"] == ["patient.email", f"appointments.{ids['booked']}.notes"]
    alarms = events(app, "crypto.decryption_failed")
    assert {a.target_id for a in alarms} == {patient_id, ids["booked"]}
    assert events(app, "patient.exported")[0].patient_id == patient_id


def test_the_api_route_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/patients/{patient_id}/export"]["get"]
    assert operation["x-permission"] == "patients:export" and operation["security"] == [{"bearerAuth": []}]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/PatientExport") and "404" in operation["responses"]
    properties = spec["components"]["schemas"]["PatientExport"]["properties"]
    assert {"patient", "intake", "symptoms", "appointments", "consultations", "reports", "unreadable_fields"} <= set(
        properties
    )
