"""The consultation JSON API: the seed's paths and shapes (start, stop, history, detail), the
transcript and medication-plan endpoints, doctor_id checked against the organization, clinical
fields hidden from receptionists, 404 across organizations, and the OpenAPI document."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import time_machine

from clinic_app.consultations import service
from clinic_app.core import audit
from clinic_app.core.time import isoformat, utcnow
from clinic_app.extensions import db
from tests.consultations.conftest import SERVICE_SRT, TEAMS_VTT, events, patient_of, start
from tests.factories import access_token_for, api_token_for

ROUTES = {
    ("/api/v1/consultation/start", "post"),
    ("/api/v1/consultation/{session_id}/stop", "post"),
    ("/api/v1/consultation/{session_id}/cancel", "post"),
    ("/api/v1/consultation/history/{patient_id}", "get"),
    ("/api/v1/consultation/detail/{consultation_id}", "get"),
    ("/api/v1/consultation/{session_id}/transcript", "post"),
    ("/api/v1/consultation/{session_id}/transcript", "get"),
    ("/api/v1/consultation/{session_id}/medication-plan", "put"),
}


def bearer(app, user):
    return {"Authorization": f"Bearer {access_token_for(app, user)}"}


@pytest.fixture
def doctor(app, tenants):
    return app.test_client(), bearer(app, tenants.user("clinician"))


def test_start_answers_the_seed_shape(app, tenants, doctor, patient_id):
    client, headers = doctor
    response = client.post(
        "/api/v1/consultation/start",
        json={
            "patient_id": patient_id,
            "doctor_id": tenants.user("clinician").id,
            "chief_complaint": "Anxiety and sleep disturbances",
            "session_type": "consultation",
            "organization_id": tenants.b.id,  # ignored, never trusted
        },
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "success"
    data = body["data"]
    assert set(data) == {
        "session_id", "consultation_id", "patient_id", "patient_name", "doctor_id", "session_type", "status",
        "started_at", "websocket_url",
    }  # fmt: skip
    assert re.fullmatch(r"CS-\d{8}-[0-9A-Z]{8}", data["session_id"]) and data["consultation_id"].startswith("con_")
    assert (data["patient_name"], data["status"], data["websocket_url"]) == ("Mira Okafor", "in_progress", None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["started_at"])
    with app.app_context():
        assert service.get_session(tenants.a.id, data["session_id"]).organization_id == tenants.a.id


def test_doctor_id_defaults_to_the_caller_and_must_be_a_clinical_member(app, tenants, doctor, patient_id):
    client, headers = doctor
    for who in (tenants.user("receptionist").id, tenants.outsider.id, "usr_nobody"):
        refused = client.post(
            "/api/v1/consultation/start",
            json={"patient_id": patient_id, "doctor_id": who, "chief_complaint": "Back pain"},
            headers=headers,
        )
        assert refused.status_code == 422
        assert refused.mimetype == "application/problem+json"
        assert [e["field"] for e in refused.get_json()["errors"]] == ["doctor_id"]
    mine = client.post(
        "/api/v1/consultation/start", json={"patient_id": patient_id, "chief_complaint": "Back pain"}, headers=headers
    )
    assert mine.status_code == 201 and mine.get_json()["data"]["doctor_id"] == tenants.user("clinician").id
    assert mine.get_json()["data"]["session_type"] == "consultation"  # the seed's default
    again = client.post(
        "/api/v1/consultation/start", json={"patient_id": patient_id, "chief_complaint": "Back pain"}, headers=headers
    )
    assert again.status_code == 409 and again.get_json()["session_id"] == mine.get_json()["data"]["session_id"]


def test_every_invalid_field_is_listed_and_another_organizations_patient_is_404(app, tenants, doctor, patient_id):
    client, headers = doctor
    bad = client.post(
        "/api/v1/consultation/start",
        json={"patient_id": patient_id, "chief_complaint": "x", "session_type": "walk_in"},
        headers=headers,
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.get_json()["errors"]} == {"chief_complaint", "session_type"}
    missing = client.post("/api/v1/consultation/start", json={}, headers=headers)
    assert {e["field"] for e in missing.get_json()["errors"]} == {"patient_id", "chief_complaint"}
    theirs = patient_of(app, tenants.b)
    other = client.post(
        "/api/v1/consultation/start", json={"patient_id": theirs, "chief_complaint": "Back pain"}, headers=headers
    )
    assert other.status_code == 404
    assert events(app, "consultation.started") == []


def test_stop_needs_no_body_but_a_body_must_still_be_json(app, tenants, doctor, patient_id):
    client, headers = doctor
    _id, code = start(app, tenants, patient_id)
    not_json = client.post(f"/api/v1/consultation/{code}/stop", data="notes=x", headers=headers)
    assert not_json.status_code == 415  # a body that is not JSON is still refused
    stopped = client.post(f"/api/v1/consultation/{code}/stop", headers=headers)  # nothing to add
    assert stopped.status_code == 200 and stopped.get_json()["data"]["status"] == "completed"
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["paths"]["/api/v1/consultation/{session_id}/stop"]["post"]["requestBody"]["required"] is False
    assert spec["paths"]["/api/v1/consultation/start"]["post"]["requestBody"]["required"] is True


def test_stopping_twice_is_a_409_problem_whose_status_is_the_http_status(app, tenants, doctor, patient_id):
    client, headers = doctor
    _id, code = start(app, tenants, patient_id)
    assert client.post(f"/api/v1/consultation/{code}/stop", headers=headers).status_code == 200
    again = client.post(f"/api/v1/consultation/{code}/stop", headers=headers)
    body = again.get_json()
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    assert body["status"] == 409 and body["session_status"] == "completed"


def test_a_transcript_that_is_not_valid_unicode_is_a_422_naming_the_field(app, tenants, doctor, patient_id):
    client, headers = doctor
    session_id, code = start(app, tenants, patient_id)
    answer = client.post(
        f"/api/v1/consultation/{code}/transcript", json={"text": "Patient: \ud800 hello"}, headers=headers
    )
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert [e["field"] for e in answer.get_json()["errors"]] == ["text"]
    assert "not valid Unicode" in answer.get_json()["errors"][0]["message"]
    with app.app_context():
        assert service.transcripts_of(service.get_session(tenants.a.id, session_id)) == []


def test_stop_and_history_with_pagination(app, tenants, doctor, patient_id):
    client, headers = doctor
    now = utcnow().replace(microsecond=0)
    codes = []
    for days_ago in (2, 1, 0):
        with time_machine.travel(now - timedelta(days=days_ago), tick=False):
            _id, code = start(app, tenants, patient_id, chief_complaint=f"Visit {2 - days_ago}")
        codes.append(code)
        if days_ago:
            with time_machine.travel(now - timedelta(days=days_ago, minutes=-30), tick=False), app.app_context():
                service.stop_session(tenants.a.id, code, actor=audit.Actor())
                db.session.commit()
    with time_machine.travel(now + timedelta(minutes=44, seconds=40), tick=False):
        stopped = client.post(
            f"/api/v1/consultation/{codes[2]}/stop", json={"notes": "Follow up in 2 weeks"}, headers=headers
        )
    assert stopped.status_code == 200
    assert stopped.get_json()["data"] | {"consultation_id": None} == {
        "session_id": codes[2],
        "consultation_id": None,
        "status": "completed",
        "started_at": isoformat(now),
        "ended_at": isoformat(now + timedelta(minutes=44, seconds=40)),
        "duration_seconds": 2680,
        "duration_minutes": 45,
    }
    assert client.post(f"/api/v1/consultation/{codes[2]}/stop", json={}, headers=headers).status_code == 409
    first = client.get(f"/api/v1/consultation/history/{patient_id}?limit=2", headers=headers).get_json()
    assert (first["patient_id"], first["total_consultations"], first["has_more"], first["limit"]) == (
        patient_id,
        3,
        True,
        2,
    )
    assert [c["session_id"] for c in first["consultations"]] == [codes[2], codes[1]]
    item = first["consultations"][0]
    assert set(item) >= {
        "id", "session_id", "created_at", "started_at", "ended_at", "duration_minutes", "chief_complaint", "status",
        "session_type", "has_transcription",
    }  # fmt: skip
    assert (item["chief_complaint"], item["duration_minutes"], item["has_transcription"]) == ("Visit 2", 45, False)
    rest = client.get(
        f"/api/v1/consultation/history/{patient_id}?limit=2&cursor={first['next_cursor']}", headers=headers
    ).get_json()
    assert [c["session_id"] for c in rest["consultations"]] == [codes[0]] and rest["has_more"] is False
    assert rest["next_cursor"] is None
    bad_cursor = client.get(f"/api/v1/consultation/history/{patient_id}?cursor=%%%", headers=headers)
    assert bad_cursor.status_code == 422 and bad_cursor.get_json()["errors"][0]["field"] == "cursor"
    assert client.get(f"/api/v1/consultation/history/{patient_id}?limit=500", headers=headers).status_code == 422


def test_transcripts_by_json_and_multipart_and_reading_them_back(app, tenants, doctor, patient_id):
    client, headers = doctor
    session_id, code = start(app, tenants, patient_id)
    as_json = client.post(
        f"/api/v1/consultation/{code}/transcript", json={"text": SERVICE_SRT, "format": "srt"}, headers=headers
    )
    assert as_json.status_code == 201
    assert as_json.get_json()["data"] | {"id": None, "created_at": None} == {
        "id": None,
        "source": "srt",
        "filename": None,
        "word_count": 23,
        "segment_count": 3,
        "has_timings": True,
        "has_speakers": True,
        "created_at": None,
    }
    as_file = client.post(
        f"/api/v1/consultation/{session_id}/transcript",
        data={"file": (io.BytesIO(TEAMS_VTT.encode()), "visit.vtt")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert as_file.status_code == 201 and as_file.get_json()["data"]["filename"] == "visit.vtt"
    broken = client.post(
        f"/api/v1/consultation/{code}/transcript", json={"text": "not captions", "format": "vtt"}, headers=headers
    )
    assert broken.status_code == 422 and broken.get_json()["errors"] == [
        {
            "field": "text",
            "message": "Line 1: A WebVTT file starts with the line “WEBVTT”; this one does not.",
            "code": "INVALID_VALUE",
        }
    ]
    plain = client.post(
        f"/api/v1/consultation/{code}/transcript", data="hello", headers={**headers, "Content-Type": "text/plain"}
    )
    assert plain.status_code == 415
    read = client.get(f"/api/v1/consultation/{code}/transcript", headers=headers).get_json()["data"]
    assert (read["session_id"], read["consultation_id"], read["word_count"]) == (code, session_id, 23 + 29)
    assert [p["source"] for p in read["transcripts"]] == ["srt", "vtt"]
    assert read["transcripts"][1]["segments"][0] == {
        "start": 2.14,
        "end": 6.9,
        "speaker": "Dr Priya Raman",
        "text": "Good morning. What brings you in today?",
    }
    detail = client.get(f"/api/v1/consultation/detail/{session_id}", headers=headers).get_json()["data"]
    assert detail["has_transcription"] is True and [t["source"] for t in detail["transcripts"]] == ["srt", "vtt"]


def test_medication_plan_and_detail(app, tenants, doctor, patient_id):
    client, headers = doctor
    session_id, code = start(app, tenants, patient_id, chief_complaint="Low mood")
    refused = client.put(
        f"/api/v1/consultation/{code}/medication-plan",
        json={"medication_plan": [{"dosage": "50mg"}]},
        headers=headers,
    )
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "medication_plan.0.drug_name"
    missing = client.put(f"/api/v1/consultation/{code}/medication-plan", json={}, headers=headers)
    assert missing.status_code == 422 and missing.get_json()["errors"][0]["field"] == "medication_plan"
    plan = [{"drug_name": "Sertraline", "dosage": "50mg", "frequency": "Once daily", "duration": "3 months"}]
    saved = client.put(f"/api/v1/consultation/{code}/medication-plan", json={"medication_plan": plan}, headers=headers)
    assert saved.status_code == 200 and saved.get_json()["data"]["medication_plan"] == plan
    detail = client.get(f"/api/v1/consultation/detail/{session_id}", headers=headers).get_json()
    assert detail["status"] == "success"
    data = detail["data"]
    assert (data["id"], data["session_id"], data["clinical_content"]) == (session_id, code, True)
    assert (data["chief_complaint"], data["notes"], data["medication_plan"]) == ("Low mood", None, plan)
    assert (data["doctor_name"], data["patient_name"], data["status"]) == ("Clinician", "Mira Okafor", "in_progress")
    assert data["has_transcription"] is False and data["transcripts"] == []
    by_code = client.get(f"/api/v1/consultation/detail/{code}", headers=headers)
    assert by_code.get_json()["data"]["id"] == session_id
    cancelled = client.post(f"/api/v1/consultation/{code}/cancel", json={}, headers=headers)
    assert cancelled.status_code == 200 and cancelled.get_json()["data"]["status"] == "cancelled"
    late = client.put(f"/api/v1/consultation/{code}/medication-plan", json={"medication_plan": []}, headers=headers)
    assert late.status_code == 409 and late.mimetype == "application/problem+json"


def test_receptionists_see_sessions_without_clinical_fields(app, tenants, patient_id):
    session_id, code = start(app, tenants, patient_id, chief_complaint="SECRET complaint")
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        service.add_transcript(tenants.a.id, session, text="Patient: SECRET\nDoctor: ok", actor=audit.Actor())
        db.session.commit()
    client, headers = app.test_client(), bearer(app, tenants.user("receptionist"))
    history = client.get(f"/api/v1/consultation/history/{patient_id}", headers=headers)
    assert history.status_code == 200 and "SECRET" not in history.get_data(as_text=True)
    row = history.get_json()["consultations"][0]
    assert (row["session_id"], row["chief_complaint"], row["has_transcription"]) == (code, None, None)
    detail = client.get(f"/api/v1/consultation/detail/{session_id}", headers=headers).get_json()["data"]
    assert detail["clinical_content"] is False and detail["status"] == "in_progress"
    assert (detail["chief_complaint"], detail["medication_plan"], detail["transcripts"]) == (None, None, None)
    assert client.get(f"/api/v1/consultation/{code}/transcript", headers=headers).status_code == 404
    assert (
        client.post(f"/api/v1/consultation/{code}/transcript", json={"text": "x"}, headers=headers).status_code == 404
    )
    assert (
        client.put(
            f"/api/v1/consultation/{code}/medication-plan", json={"medication_plan": []}, headers=headers
        ).status_code
        == 404
    )
    assert client.post(f"/api/v1/consultation/{code}/stop", json={}, headers=headers).status_code == 403
    assert (
        client.post(
            "/api/v1/consultation/start", json={"patient_id": patient_id, "chief_complaint": "x"}, headers=headers
        ).status_code
        == 403
    )
    assert events(app, "consultation.viewed")[-1].details == {"channel": "api", "clinical": False}


def test_another_organization_gets_404_for_everything(app, tenants, patient_id):
    session_id, code = start(app, tenants, patient_id)
    client, headers = app.test_client(), bearer(app, tenants.outsider)
    calls = [
        client.get(f"/api/v1/consultation/detail/{session_id}", headers=headers),
        client.get(f"/api/v1/consultation/detail/{code}", headers=headers),
        client.get(f"/api/v1/consultation/history/{patient_id}", headers=headers),
        client.get(f"/api/v1/consultation/{code}/transcript", headers=headers),
        client.post(f"/api/v1/consultation/{code}/stop", json={}, headers=headers),
        client.post(f"/api/v1/consultation/{code}/cancel", json={}, headers=headers),
        client.post(f"/api/v1/consultation/{code}/transcript", json={"text": "Patient: hi"}, headers=headers),
        client.put(f"/api/v1/consultation/{code}/medication-plan", json={"medication_plan": []}, headers=headers),
    ]
    assert [c.status_code for c in calls] == [404] * len(calls)
    assert not any(code in c.get_data(as_text=True).replace(c.request.path, "") for c in calls)
    with app.app_context():
        assert service.get_session(tenants.a.id, session_id).status == "in_progress"


def test_an_api_token_acts_by_its_scopes(app, tenants, patient_id):
    session_id, code = start(app, tenants, patient_id)
    reader = api_token_for(app, tenants.a.id, ["consultations:read"], creator=tenants.user("owner"))
    client, headers = app.test_client(), {"Authorization": f"Bearer {reader}"}
    assert (
        client.get(f"/api/v1/consultation/detail/{code}", headers=headers).get_json()["data"]["chief_complaint"] is None
    )
    assert client.get(f"/api/v1/consultation/{code}/transcript", headers=headers).status_code == 404
    writer = api_token_for(
        app, tenants.a.id, ["consultations:read", "consultations:write", "clinical:read"], creator=tenants.user("owner")
    )
    headers = {"Authorization": f"Bearer {writer}"}
    stopped = client.post(f"/api/v1/consultation/{session_id}/stop", json={"notes": "Done"}, headers=headers)
    assert stopped.status_code == 200
    started = client.post(
        "/api/v1/consultation/start",
        json={"patient_id": patient_id, "doctor_id": tenants.user("owner").id, "chief_complaint": "Review"},
        headers=headers,
    )
    assert started.status_code == 201
    unnamed = client.post(
        "/api/v1/consultation/start", json={"patient_id": patient_id, "chief_complaint": "Review"}, headers=headers
    )
    # An integration has no user of its own: it must name the doctor.
    assert unnamed.status_code == 422 and unnamed.get_json()["errors"][0]["field"] == "doctor_id"


def test_every_route_is_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    found = {
        (path, method) for path, methods in document["paths"].items() for method in methods if "consultation" in path
    }
    assert found == ROUTES
    start_op = document["paths"]["/api/v1/consultation/start"]["post"]
    assert start_op["x-permission"] == "consultations:write" and "201" in start_op["responses"]
    assert "websocket_url" in str(document["components"]["schemas"]["ConsultationStartData"])
