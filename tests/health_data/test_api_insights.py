"""The insights JSON API for an API client: generating from an analysis (or a patient's latest
completed one) in the seed's ``{data, metadata}`` envelope, each statement citing metric, value and
threshold; reading one and the history; the language-model fallback; the status without secrets;
404 for other organizations and weaker roles."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.health_data import analyses, service
from tests.factories import access_token_for
from tests.health_data.conftest import register_patient, table_rows

GENERATE = "/api/v1/insights/generate"


@pytest.fixture
def bearer(app, tenants):
    def headers(role="clinician"):
        user = tenants.outsider if role == "outsider" else tenants.user(role)
        return {"Authorization": f"Bearer {access_token_for(app, user)}"}

    return headers


@pytest.fixture
def patient_id(app, tenants):
    return register_patient(app, tenants.a)


def days_of_counts(days=3):
    start = datetime(2024, 3, 4)
    points = []
    for minute in range(days * 1440):
        moment = start + timedelta(minutes=minute)
        still = moment.hour < 7 or moment.hour >= 23
        points.append({"timestamp": moment.isoformat(), "value": 2 if still else 200 + (minute * 37) % 300})
    return points


def analysis_of(client, headers, patient_id, days=3):
    body = {"patient_id": patient_id, "data_points": days_of_counts(days)}
    response = client.post("/api/v1/pat/analyze", json=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["processing_id"]


def test_generate_answers_201_with_statements_citing_their_thresholds(app, client, bearer, patient_id):
    analysis_id = analysis_of(client, bearer(), patient_id)
    response = client.post(GENERATE, json={"analysis_id": analysis_id}, headers=bearer())
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert list(answer) == ["data", "metadata"]
    meta = answer["metadata"]
    assert meta["request_id"] == response.headers["X-Request-ID"] and meta["service"] == "insights"
    assert meta["version"] == "v1" and meta["processing_time_ms"] >= 0 and meta["timestamp"].endswith("Z")
    data = answer["data"]
    assert data["insight_id"].startswith("hin_") and data["analysis_id"] == analysis_id
    assert data["patient_id"] == patient_id and data["draft"] is True and data["recommendations"] == []
    assert (data["provider"], data["model"], data["fallback_reason"]) == ("offline", None, None)
    assert data["narrative"] and data["key_insights"] == [s["text"] for s in data["statements"]]
    codes = {s["code"]: s for s in data["statements"]}
    provisional = codes["rhythm_provisional"]  # 3 days, under the 7 asked for rhythm measures
    assert (provisional["metric"], provisional["value"], provisional["threshold"]) == (
        "confidence_scores.recording_days",
        3.0,
        7.0,
    )
    assert (provisional["comparison"], provisional["severity"]) == ("below", "attention")
    efficiency = codes["sleep_efficiency_healthy"]
    assert efficiency["threshold"] == 0.85 and efficiency["comparison"] == "within"
    assert len(table_rows(app, "health_insights", analysis_id=analysis_id)) == 1
    generated = [r for r in table_rows(app, "audit_events") if r["action"] == "health_data.insight_generated"]
    assert len(generated) == 1

    read = client.get(f"/api/v1/insights/{data['insight_id']}", headers=bearer())
    assert read.status_code == 200 and read.get_json()["data"] == data
    viewed = [r for r in table_rows(app, "audit_events") if r["action"] == "health_data.insight_viewed"]
    assert len(viewed) == 1


def test_a_patient_id_means_the_latest_completed_analysis(app, client, bearer, tenants, patient_id):
    analysis_of(client, bearer(), patient_id)
    newest = analysis_of(client, bearer(), patient_id, days=8)
    with app.app_context():  # a newer analysis still queued is passed over
        upload = service.get_upload(tenants.a.id, analyses.get_analysis(tenants.a.id, newest).upload_id)
        analyses.create_analysis(upload, channel="activity_counts", algorithm="sadeh", actor=audit.Actor())
        db.session.commit()
    response = client.post(GENERATE, json={"patient_id": patient_id}, headers=bearer())
    assert response.status_code == 201, response.get_json()
    data = response.get_json()["data"]
    assert data["analysis_id"] == newest
    assert "rhythm_provisional" not in {s["code"] for s in data["statements"]}  # 8 days


def test_generate_refuses_what_it_cannot_use(app, client, bearer, tenants, patient_id):
    nothing = client.post(GENERATE, json={}, headers=bearer())
    assert [(e["field"], e["code"]) for e in nothing.get_json()["errors"]] == [("analysis_id", "MISSING")]
    none_yet = client.post(GENERATE, json={"patient_id": patient_id}, headers=bearer())
    assert none_yet.status_code == 422
    assert [(e["field"], e["code"]) for e in none_yet.get_json()["errors"]] == [("patient_id", "NO_ANALYSIS")]
    analysis_id = analysis_of(client, bearer(), patient_id)
    with app.app_context():
        upload = service.get_upload(tenants.a.id, analyses.get_analysis(tenants.a.id, analysis_id).upload_id)
        queued = analyses.create_analysis(upload, channel="activity_counts", algorithm="sadeh", actor=audit.Actor())
        db.session.commit()
        queued_id = queued.id
    not_ready = client.post(GENERATE, json={"analysis_id": queued_id}, headers=bearer())
    assert not_ready.status_code == 422 and not_ready.get_json()["errors"][0]["code"] == "NOT_READY"
    unknown = client.post(GENERATE, json={"analysis_id": "hda_nope"}, headers=bearer())
    assert unknown.status_code == 404
    assert table_rows(app, "health_insights") == []


def test_history_is_newest_first_and_bounded(client, bearer, patient_id):
    analysis_id = analysis_of(client, bearer(), patient_id)
    made = [
        client.post(GENERATE, json={"analysis_id": analysis_id}, headers=bearer()).get_json()["data"]["insight_id"]
        for _ in range(3)
    ]
    history = client.get(f"/api/v1/insights/history/{patient_id}", headers=bearer()).get_json()
    assert [i["insight_id"] for i in history["data"]["insights"]] == made[::-1]
    assert (history["data"]["count"], history["data"]["limit"]) == (3, 50)
    one = client.get(f"/api/v1/insights/history/{patient_id}?limit=1", headers=bearer()).get_json()
    assert [i["insight_id"] for i in one["data"]["insights"]] == [made[-1]]
    for bad in ("0", "201", "many"):
        response = client.get(f"/api/v1/insights/history/{patient_id}?limit={bad}", headers=bearer())
        assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "limit"


def test_other_organizations_and_weaker_roles_get_404(app, client, bearer, patient_id):
    analysis_id = analysis_of(client, bearer(), patient_id)
    insight_id = client.post(GENERATE, json={"analysis_id": analysis_id}, headers=bearer()).get_json()["data"][
        "insight_id"
    ]
    for role in ("outsider", "receptionist"):
        assert client.get(f"/api/v1/insights/{insight_id}", headers=bearer(role)).status_code == 404, role
        assert client.get(f"/api/v1/insights/history/{patient_id}", headers=bearer(role)).status_code == 404
        for body in ({"analysis_id": analysis_id}, {"patient_id": patient_id}):
            assert client.post(GENERATE, json=body, headers=bearer(role)).status_code == 404, (role, body)
    assert len(table_rows(app, "health_insights")) == 1
    # practice admins read wearable data and its insights with the clinicians (issue 15)
    assert client.get(f"/api/v1/insights/{insight_id}", headers=bearer("admin")).status_code == 200


def test_deleting_the_upload_deletes_its_insights(app, client, bearer, tenants, patient_id):
    analysis_id = analysis_of(client, bearer(), patient_id)
    assert client.post(GENERATE, json={"analysis_id": analysis_id}, headers=bearer()).status_code == 201
    with app.app_context():
        upload_id = analyses.get_analysis(tenants.a.id, analysis_id).upload_id
    assert client.delete(f"/api/v1/health-data/{upload_id}", headers=bearer()).status_code == 204
    assert table_rows(app, "health_insights") == [] and table_rows(app, "health_analyses") == []


def test_an_unreachable_language_model_falls_back_to_the_offline_narrative(app, client, bearer, patient_id):
    analysis_id = analysis_of(client, bearer(), patient_id)
    app.config.update(
        REPORT_LLM_PROVIDER="openai",
        REPORT_LLM_URL="http://127.0.0.1:9",
        REPORT_LLM_API_KEY="sk-test-secret-key",
        REPORT_LLM_TIMEOUT="1",
    )
    data = client.post(GENERATE, json={"analysis_id": analysis_id}, headers=bearer()).get_json()["data"]
    assert data["provider"] == "offline" and data["fallback_reason"] and data["narrative"]
    status = client.get("/api/v1/insights/status", headers=bearer())
    body = status.get_json()
    assert body["offline_rules_available"] is True
    assert body["language_model"] == {"configured": True, "provider": "openai", "model": "gpt-4o-mini"}
    assert "sk-test-secret-key" not in status.get_data(as_text=True) and "127.0.0.1" not in status.get_data(
        as_text=True
    )


def test_status_needs_a_signed_in_caller_and_says_no_model_by_default(client, bearer):
    assert client.get("/api/v1/insights/status").status_code == 401
    body = client.get("/api/v1/insights/status", headers=bearer("receptionist")).get_json()
    assert (body["status"], body["service"], body["offline_rules_available"]) == ("healthy", "insights", True)
    assert body["language_model"] == {"configured": False, "provider": None, "model": None}
