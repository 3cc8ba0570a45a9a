"""Seed 001's active-patient JSON: field names and JSON types of the seed, the figures of the
hand-built caseload, paging, audit, 404 for another organization, and the OpenAPI document."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from tests.factories import access_token_for

SEED_PATIENT_FIELDS = [
    "id", "name", "phone", "email", "cliniko_patient_id", "is_active", "activity_status",
    "recent_appointment_count", "upcoming_appointment_count", "total_appointment_count",
    "first_appointment_date", "last_appointment_date", "next_appointment_time", "next_appointment_type",
    "primary_appointment_type", "treatment_notes", "recent_appointments", "upcoming_appointments",
    "last_synced_at", "created_at", "updated_at",
]  # fmt: skip
OPTIONAL_TIMES = ("first_appointment_date", "last_appointment_date", "next_appointment_time", "last_synced_at")
ACTIVE_ORDER = ["alice", "ivy", "cara", "jon", "dan", "kim", "bob"]


@pytest.fixture
def api(app, tenants, caseload):
    token = access_token_for(app, tenants.user("clinician"))
    client = app.test_client()

    def get(path, **kwargs):
        return client.get(path, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    return get


def is_time(value):
    return isinstance(value, str) and value.endswith("Z") and "T" in value


def check_patient_types(patient):
    assert list(patient)[: len(SEED_PATIENT_FIELDS)] == SEED_PATIENT_FIELDS
    for name in ("id", "name", "activity_status", "created_at", "updated_at"):
        assert isinstance(patient[name], str), name
    for name in ("phone", "email", "cliniko_patient_id", "next_appointment_type", "primary_appointment_type"):
        assert patient[name] is None or isinstance(patient[name], str), name
    assert isinstance(patient["is_active"], bool)
    for name in ("recent_appointment_count", "upcoming_appointment_count", "total_appointment_count"):
        assert type(patient[name]) is int, name
    for name in OPTIONAL_TIMES:
        assert patient[name] is None or is_time(patient[name]), name
    assert is_time(patient["created_at"]) and is_time(patient["updated_at"])
    assert patient["treatment_notes"] is None
    for brief in patient["recent_appointments"] + patient["upcoming_appointments"]:
        assert list(brief) == ["id", "starts_at", "type", "practitioner", "status"]
        assert isinstance(brief["id"], str) and is_time(brief["starts_at"]) and isinstance(brief["status"], str)


def test_active_patients_in_the_seed_shape(api, caseload):
    body = api(f"/api/v1/patients/{caseload.org}/patients").get_json()
    assert list(body)[:1] == ["organization_id"] and {"patients", "total_count", "timestamp"} <= set(body)
    assert body["organization_id"] == caseload.org and body["total_count"] == 7 and is_time(body["timestamp"])
    assert [p["id"] for p in body["patients"]] == caseload.ids(*ACTIVE_ORDER)
    for patient in body["patients"]:
        check_patient_types(patient)
    alice = body["patients"][0]
    assert alice["name"] == "Alice Both"
    assert (alice["phone"], alice["email"]) == ("+61412345678", "alice@example.com")  # decrypted
    assert (alice["is_active"], alice["activity_status"]) == (True, "active")
    counts = [alice[f"{k}_appointment_count"] for k in ("recent", "upcoming", "total")]
    assert counts == [1, 1, 2]
    assert alice["first_appointment_date"] == alice["last_appointment_date"] == "2027-03-04T09:00:00.000Z"
    assert alice["next_appointment_time"] == "2027-03-09T21:00:00.000Z"
    assert (alice["next_appointment_type"], alice["primary_appointment_type"]) == ("Physiotherapy", "Physiotherapy")
    assert alice["recent_appointments"] == [
        {
            "id": alice["recent_appointments"][0]["id"],
            "starts_at": "2027-03-04T09:00:00.000Z",
            "type": "Physiotherapy",
            "practitioner": "Dr Priya Raman",
            "status": "attended",
        }
    ]
    assert [a["status"] for a in alice["upcoming_appointments"]] == ["booked"]
    assert alice["cliniko_patient_id"] is None and alice["last_synced_at"] is None  # not from Cliniko
    kim = body["patients"][5]
    assert (kim["activity_status"], kim["next_appointment_time"], kim["upcoming_appointments"]) == (
        "recently_active",
        None,
        [],
    )


def test_pages_with_limit_and_offset(api, caseload):
    first = api(f"/api/v1/patients/{caseload.org}/patients?limit=3").get_json()
    second = api(f"/api/v1/patients/{caseload.org}/patients?limit=3&offset=3").get_json()
    last = api(f"/api/v1/patients/{caseload.org}/patients?limit=3&offset=6").get_json()
    assert [p["id"] for p in first["patients"] + second["patients"] + last["patients"]] == caseload.ids(*ACTIVE_ORDER)
    assert (first["has_more"], last["has_more"], last["total_count"]) == (True, False, 7)


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "offset=-1", "limit=ten"])
def test_bad_paging_is_a_422_naming_the_field(api, caseload, query):
    response = api(f"/api/v1/patients/{caseload.org}/patients?{query}")
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == query.split("=")[0]


def test_the_list_is_audited_once_with_the_patient_ids(api, caseload, app):
    api(f"/api/v1/patients/{caseload.org}/patients?limit=2")
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.listed")).all()
    assert len(events) == 1
    assert events[0].details["patient_ids"] == caseload.ids("alice", "ivy")
    assert events[0].details["channel"] == "api" and events[0].details["fields"] == ["phones", "email"]


def test_with_appointments_adds_priority_and_time_until(api, caseload):
    body = api(f"/api/v1/patients/{caseload.org}/patients/with-appointments").get_json()
    assert body["total_count"] == 7
    rows = {caseload.name_of(p["id"]): p for p in body["patients"]}
    for patient in body["patients"]:
        check_patient_types(patient)
    figures = {
        name: (p["priority"], p["hours_until_next_appointment"], p["days_until_next_appointment"])
        for name, p in rows.items()
    }
    assert figures == {
        "alice": ("high", 12.0, 0.5),
        "ivy": ("high", 24.0, 1.0),
        "cara": ("medium", 48.0, 2.0),
        "jon": ("medium", 72.0, 3.0),
        "dan": ("low", 240.0, 10.0),
        "kim": (None, None, None),
        "bob": (None, None, None),
    }
    assert all(type(p["hours_until_next_appointment"]) is float for p in body["patients"][:5])


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Physiotherapy", ["alice", "dan", "kim"]), ("mASSAGE", ["ivy", "cara", "jon", "bob"]), ("Hydrotherapy", [])],
)
def test_by_appointment_type_name(api, caseload, name, expected):
    response = api(f"/api/v1/patients/{caseload.org}/patients/by-appointment-type/{name}")
    body = response.get_json()
    assert response.status_code == 200
    assert [p["id"] for p in body["patients"]] == caseload.ids(*expected)
    assert body["total_count"] == len(expected) and body["appointment_type"] == name


def test_active_summary(api, caseload):
    body = api(f"/api/v1/patients/{caseload.org}/active/summary").get_json()
    assert list(body) == [
        "organization_id", "total_active_patients", "patients_with_recent_appointments",
        "patients_with_upcoming_appointments", "avg_recent_appointments", "avg_total_appointments",
        "last_sync_date", "timestamp",
    ]  # fmt: skip
    # Active: Alice (1 recent, 2 total), Bob (1, 1), Cara (0, 1), Dan (0, 1), Ivy (0, 1), Jon (0, 1), Kim (1, 1).
    assert body["total_active_patients"] == 7
    assert (body["patients_with_recent_appointments"], body["patients_with_upcoming_appointments"]) == (3, 5)
    assert (body["avg_recent_appointments"], body["avg_total_appointments"]) == (0.43, 1.14)
    assert body["last_sync_date"] is None and is_time(body["timestamp"])


def test_appointment_types_summary(api, caseload):
    body = api(f"/api/v1/patients/{caseload.org}/patients/appointment-types/summary").get_json()
    assert body["total_types"] == len(body["appointment_types"]) == 4
    groups = {(g["next_appointment_type"], g["primary_appointment_type"]): g for g in body["appointment_types"]}
    assert list(body["appointment_types"][0]) == [
        "next_appointment_type", "primary_appointment_type", "patient_count", "patients_with_upcoming",
        "earliest_upcoming", "latest_upcoming",
    ]  # fmt: skip
    massage = groups[("Massage", "Massage")]  # Ivy, Cara, Jon
    assert (massage["patient_count"], massage["patients_with_upcoming"]) == (3, 3)
    assert (massage["earliest_upcoming"], massage["latest_upcoming"]) == (
        "2027-03-10T09:00:00.000Z",
        "2027-03-12T09:00:00.000Z",
    )
    assert groups[("Physiotherapy", "Physiotherapy")]["patient_count"] == 2  # Alice, Dan
    assert groups[(None, "Physiotherapy")]["patient_count"] == 1  # Kim
    assert groups[(None, "Massage")] == {
        "next_appointment_type": None,
        "primary_appointment_type": "Massage",
        "patient_count": 1,
        "patients_with_upcoming": 0,
        "earliest_upcoming": None,
        "latest_upcoming": None,
    }


PATHS = [
    "/api/v1/patients/{organization_id}/patients",
    "/api/v1/patients/{organization_id}/active/summary",
    "/api/v1/patients/{organization_id}/patients/with-appointments",
    "/api/v1/patients/{organization_id}/patients/by-appointment-type/{appointment_type}",
    "/api/v1/patients/{organization_id}/patients/appointment-types/summary",
]


@pytest.mark.parametrize("path", PATHS)
def test_another_organization_is_a_404(app, tenants, caseload, path):
    url = path.format(organization_id=caseload.org, appointment_type="Massage")
    token = access_token_for(app, tenants.outsider)
    response = app.test_client().get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert "Alice" not in response.get_data(as_text=True)
    # ... and A's own clinician asking for B's organization
    mine = access_token_for(app, tenants.user("clinician"))
    response = app.test_client().get(
        path.format(organization_id=tenants.b.id, appointment_type="Massage"),
        headers={"Authorization": f"Bearer {mine}"},
    )
    assert response.status_code == 404


def test_openapi_documents_every_path(client):
    document = client.get("/api/v1/openapi.json").get_json()
    for path in PATHS:
        assert "get" in document["paths"][path], path
    listing = document["paths"][PATHS[0]]["get"]
    assert listing["x-permission"] == "patients:read"
    assert {p["name"] for p in listing["parameters"]} >= {"organization_id", "limit", "offset"}
    schema = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    patient = document["components"]["schemas"]["PatientActivityOut"]["properties"]
    assert schema == "PatientActivityPageOut" and set(SEED_PATIENT_FIELDS) <= set(patient)


def test_routes_do_not_shadow_the_patient_record_routes(app):
    adapter = app.url_map.bind("localhost")
    assert adapter.match("/api/v1/patients/pat_123", method="GET")[0] == "patients.api_get"
    assert adapter.match("/api/v1/patients/pat_123/history", method="GET")[0] == "patients.api_history"
    assert adapter.match("/api/v1/patients/org_1/patients", method="GET")[0] == "caseload.api_active_patients"


def test_cliniko_id_and_last_sync_of_a_synced_patient(api, caseload, app):
    from clinic_app.sync.models import ClinikoLink

    with app.app_context():
        link = ClinikoLink(
            organization_id=caseload.org, resource="patients", cliniko_id="12345", local_id=caseload.patients["alice"]
        )
        db.session.add(link)
        db.session.commit()
    alice = api(f"/api/v1/patients/{caseload.org}/patients?limit=1").get_json()["patients"][0]
    assert alice["cliniko_patient_id"] == "12345"
    assert alice["last_synced_at"] == "2027-03-09T09:00:00.000Z"  # when the sync wrote it (clock frozen)
