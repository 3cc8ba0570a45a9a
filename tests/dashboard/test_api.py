"""The seed's dashboard JSON: field names and types for an authorised client, 404 for another
organization, 422 for a bad ``limit``, and every path in the OpenAPI document."""

from datetime import timedelta

import pytest

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.sync.models import SyncRun
from tests.dashboard.conftest import NOW
from tests.factories import access_token_for, api_token_for

SUMMARY_TYPES = {
    "organization_id": str,
    "total_patients": int,
    "active_patients": int,
    "patients_with_upcoming": int,
    "patients_with_recent": int,
    "total_upcoming_appointments": int,
    "total_recent_appointments": int,
    "total_all_appointments": int,
    "avg_upcoming_per_patient": float,
    "avg_recent_per_patient": float,
    "avg_total_per_patient": float,
    "engagement_rate": float,
    "last_sync_time": (str, type(None)),
    "synced_patients": int,
    "sync_percentage": float,
    "integration_status": str,
    "activity_status": str,
    "generated_at": str,
}
ACTIVITY_TYPES = {
    "id": str,
    "source_system": str,
    "operation_type": str,
    "status": str,
    "records_processed": int,
    "records_success": int,
    "records_failed": int,
    "started_at": str,
    "completed_at": (str, type(None)),
    "activity_type": str,
    "description": str,
    "minutes_ago": float,
}


def _typed(obj, types):
    assert set(obj) == set(types), set(obj) ^ set(types)
    for name, kind in types.items():
        assert isinstance(obj[name], kind) and not (kind is int and isinstance(obj[name], bool)), (name, obj[name])


def _is_time(value):
    return isinstance(value, str) and value.endswith("Z") and "T" in value


@pytest.fixture
def headers(app, tenants, clinic):
    return {"Authorization": f"Bearer {access_token_for(app, tenants.user('clinician'))}"}


@pytest.fixture
def finished_sync(app, tenants, clinic):
    run = SyncRun(
        organization_id=tenants.a.id,
        mode="comprehensive",
        status="completed",
        steps=["patients"],
        created=40,
        updated=2,
        unchanged=3,
        failed=1,
        created_at=NOW - timedelta(minutes=54),
        started_at=NOW - timedelta(minutes=54),
        finished_at=NOW - timedelta(minutes=48),
    )
    with app.app_context():
        db.session.add(run)
        db.session.commit()
        return run.id


def test_dashboard_has_the_seed_shape(client, tenants, headers, finished_sync, counted):
    response = client.get(f"/api/v1/dashboard/{tenants.a.id}", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"success", "organization_id", "summary", "recent_activity", "timestamp"}
    assert body["success"] is True and body["organization_id"] == tenants.a.id
    assert body["timestamp"] == "2026-04-15T02:30:00.000Z"
    _typed(body["summary"], SUMMARY_TYPES)
    assert _is_time(body["summary"]["generated_at"])
    expected = counted(tenants.a.id).summary
    assert {name: body["summary"][name] for name in expected} == expected
    assert 1 <= len(body["recent_activity"]) <= 10
    for item in body["recent_activity"]:
        _typed(item, ACTIVITY_TYPES)
        assert _is_time(item["started_at"])
    assert body["recent_activity"][0]["operation_type"] == "patient.created"  # registered at NOW
    everything = client.get(f"/api/v1/dashboard/{tenants.a.id}/activity?limit=100", headers=headers).get_json()
    sync = next(item for item in everything["recent_activity"] if item["activity_type"] == "sync")
    assert sync == {
        "id": finished_sync,
        "source_system": "cliniko",
        "operation_type": "comprehensive_sync",
        "status": "completed",
        "records_processed": 46,
        "records_success": 45,
        "records_failed": 1,
        "started_at": "2026-04-15T01:36:00.000Z",
        "completed_at": "2026-04-15T01:42:00.000Z",
        "activity_type": "sync",
        "description": "Comprehensive patient and appointment sync",
        "minutes_ago": 48.0,
    }


def test_summary_only(client, tenants, headers):
    body = client.get(f"/api/v1/dashboard/{tenants.a.id}/summary", headers=headers).get_json()
    assert set(body) == {"success", "organization_id", "summary", "timestamp"}
    _typed(body["summary"], SUMMARY_TYPES)
    assert body["summary"]["integration_status"] == "Not Connected"


def test_activity_lists_events_newest_first_without_patient_details(client, tenants, headers, finished_sync):
    response = client.get(f"/api/v1/dashboard/{tenants.a.id}/activity?limit=5", headers=headers)
    body = response.get_json()
    assert response.status_code == 200
    assert set(body) == {"success", "organization_id", "recent_activity", "limit", "count", "timestamp", "next_cursor"}
    assert body["limit"] == 5 and body["count"] == len(body["recent_activity"]) == 5
    items = body["recent_activity"]
    assert [i["started_at"] for i in items] == sorted((i["started_at"] for i in items), reverse=True)
    # The generated patients were registered at NOW: newer than the sync 54 minutes before.
    assert items[0]["operation_type"] == "patient.created" and items[0]["description"] == "Patient registered"
    assert "Pat1" not in response.get_data(as_text=True)  # no names, no details
    everything = client.get(f"/api/v1/dashboard/{tenants.a.id}/activity?limit=100", headers=headers).get_json()
    assert any(i["activity_type"] == "sync" for i in everything["recent_activity"])
    assert everything["count"] == len(everything["recent_activity"]) <= 100


def test_activity_leaves_out_reads_and_failures(client, app, tenants, frozen):
    with app.app_context():
        audit.record("patient.viewed", organization_id=tenants.a.id, target_type="patient", target_id="pat_x")
        audit.record("patient.created", organization_id=tenants.a.id, outcome=audit.FAILURE)
        audit.record("patient.created", organization_id=tenants.a.id, target_type="patient", target_id="pat_y")
        audit.record("patient.created", organization_id=tenants.b.id, target_type="patient", target_id="pat_z")
        db.session.commit()
    headers = {"Authorization": f"Bearer {access_token_for(app, tenants.user('clinician'))}"}
    body = client.get(f"/api/v1/dashboard/{tenants.a.id}/activity?limit=100", headers=headers).get_json()
    assert [(i["operation_type"], i["status"]) for i in body["recent_activity"]] == [("patient.created", "completed")]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "many"])
def test_activity_limit_outside_1_to_100_is_a_422(client, tenants, headers, limit):
    response = client.get(f"/api/v1/dashboard/{tenants.a.id}/activity?limit={limit}", headers=headers)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert [error["field"] for error in response.get_json()["errors"]] == ["limit"]


@pytest.mark.parametrize("suffix", ["", "/summary", "/activity"])
def test_another_organization_is_a_404(client, tenants, headers, suffix):
    response = client.get(f"/api/v1/dashboard/{tenants.b.id}{suffix}", headers=headers)
    assert response.status_code == 404
    assert "summary" not in response.get_json()
    missing = client.get(f"/api/v1/dashboard/org_doesnotexist{suffix}", headers=headers)
    assert missing.status_code == 404


def test_anonymous_is_a_401(client, tenants, clinic):
    assert client.get(f"/api/v1/dashboard/{tenants.a.id}").status_code == 401
    assert client.get("/api/v1/patients/dashboard-stats").status_code == 401


def test_dashboard_stats_of_the_tokens_organization(client, app, tenants, clinic, counted):
    token = api_token_for(app, tenants.a.id, ["dashboard:read"], creator=tenants.user("owner"))
    response = client.get("/api/v1/patients/dashboard-stats", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["organization_id"] == tenants.a.id and body["success"] is True
    assert body["time_zone"] == "Australia/Sydney"
    _typed(body["summary"], SUMMARY_TYPES)
    expected = counted(tenants.a.id)
    assert {name: body["summary"][name] for name in expected.summary} == expected.summary
    assert {k: body["upcoming_next_7_days"][k] for k in ("appointments", "patients")} == expected.upcoming
    attendance = body["attendance_90_days"]
    assert isinstance(attendance["rate"], float) and isinstance(attendance["percentage"], float)
    assert attendance["since"] == "2026-01-14T13:00:00.000Z"  # local midnight 15 Jan, 90 days before today
    assert len(body["weeks"]) == 12 and body["weeks"][-1]["week_start"] == "2026-04-13"
    assert [{k: w[k] for k in expected.weeks[0]} for w in body["weeks"]] == expected.weeks
    assert {t["appointment_type_id"]: t["appointments"] for t in body["appointment_types"]} == expected.types
    assert _is_time(body["generated_at"]) and _is_time(body["timestamp"])


def test_dashboard_stats_needs_the_dashboard_scope(client, app, tenants, clinic):
    token = api_token_for(app, tenants.a.id, ["patients:read"], creator=tenants.user("owner"))
    response = client.get("/api/v1/patients/dashboard-stats", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403


def test_the_paths_are_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    for path in (
        "/api/v1/dashboard/{organization_id}",
        "/api/v1/dashboard/{organization_id}/summary",
        "/api/v1/dashboard/{organization_id}/activity",
        "/api/v1/patients/dashboard-stats",
    ):
        operation = document["paths"][path]["get"]
        assert operation["x-permission"] == "dashboard:read"
        assert "200" in operation["responses"] and "404" in operation["responses"]
    limit = next(
        p
        for p in document["paths"]["/api/v1/dashboard/{organization_id}/activity"]["get"]["parameters"]
        if p["name"] == "limit"
    )
    assert limit["schema"]["minimum"] == 1 and limit["schema"]["maximum"] == 100
    summary = document["components"]["schemas"]["DashboardSummary"]["properties"]
    assert set(summary) == set(SUMMARY_TYPES)
