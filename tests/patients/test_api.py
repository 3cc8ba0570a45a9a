"""The patients JSON API for integrations: bearer tokens, the seed's routes and shapes, 404 across
organizations, permissions by scope, every route in the OpenAPI document, and the audit trail."""

from __future__ import annotations

import pytest

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.patients import service
from tests.factories import access_token_for, api_token_for
from tests.patients.conftest import SENTINEL, events, leaked, register

ROUTES = {
    ("/api/v1/patients/create", "post"),
    ("/api/v1/patients/list/", "get"),
    ("/api/v1/patients/search/", "get"),
    ("/api/v1/patients/{patient_id}", "get"),
    ("/api/v1/patients/{patient_id}", "put"),
    ("/api/v1/patients/{patient_id}/history", "get"),
    ("/api/v1/patients/{patient_id}/export", "get"),
    ("/api/v1/patients/{patient_id}/consents", "get"),
    ("/api/v1/patients/{patient_id}/consents", "post"),
    ("/api/v1/patients/{patient_id}/consents/{consent_id}/withdraw", "post"),
    ("/api/v1/patients/{patient_id}/erasure/inventory", "get"),
    ("/api/v1/patients/{patient_id}/erasure", "get"),
    ("/api/v1/patients/{patient_id}/erasure", "post"),
    ("/api/v1/patients/{patient_id}/erasure/{request_id}/cancel", "post"),
    ("/api/v1/patients/{patient_id}/erasure/{request_id}/carry-out", "post"),
}
RECORD_FIELDS = {
    "id",
    "first_name",
    "last_name",
    "preferred_name",
    "date_of_birth",
    "sex",
    "gender",
    "phones",
    "email",
    "address",
    "emergency_contact",
    "notes",
    "external_ids",
    "archived",
    "archived_at",
    "created_at",
    "updated_at",
    "created_by_id",
    "updated_by_id",
    "unreadable_fields",
}


@pytest.fixture
def integration(app, tenants):
    token = api_token_for(app, tenants.a.id, ["patients:read", "patients:write"], creator=tenants.user("owner"))
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def test_an_integration_creates_reads_updates_and_lists(app, tenants, integration):
    client, headers = integration
    created = client.post("/api/v1/patients/create", json=SENTINEL, headers=headers)
    assert created.status_code == 201
    body = created.get_json()
    assert set(body) == RECORD_FIELDS
    assert body["id"].startswith("pat_") and body["archived"] is False and body["created_at"].endswith("Z")
    patient_id = body["id"]

    record = client.get(f"/api/v1/patients/{patient_id}", headers=headers).get_json()
    assert record["date_of_birth"] == "1971-03-04" and record["phones"][0]["number"] == "+61412345678"

    updated = client.put(
        f"/api/v1/patients/{patient_id}", json={"notes": None, "preferred_name": "Senti"}, headers=headers
    )
    assert updated.status_code == 200
    assert updated.get_json()["notes"] is None and updated.get_json()["preferred_name"] == "Senti"
    assert updated.get_json()["email"] == "sentinel.patient@example.com"  # left out: unchanged

    listing = client.get("/api/v1/patients/list/", headers=headers).get_json()
    assert listing["has_more"] is False and listing["next_cursor"] is None and listing["total_count"] == 1
    [item] = listing["patients"]
    assert set(item) == {
        "id", "first_name", "last_name", "preferred_name", "date_of_birth", "primary_phone", "email", "archived",
        "created_at", "unreadable_fields",
    }  # fmt: skip
    assert item["primary_phone"] == "+61412345678" and item["date_of_birth"] == "1971-03-04"

    history = client.get(f"/api/v1/patients/{patient_id}/history", headers=headers).get_json()
    assert history == {"patient_id": patient_id, "consultations": [], "total": 0, "next_cursor": None}


def test_a_signed_in_user_token_works_too_and_names_cannot_be_cleared(app, tenants):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {access_token_for(app, tenants.user('clinician'))}"}
    created = client.post("/api/v1/patients/create", json={"first_name": "Cli", "last_name": "Nician"}, headers=headers)
    assert created.status_code == 201 and created.get_json()["created_by_id"] == tenants.user("clinician").id
    refused = client.put(f"/api/v1/patients/{created.get_json()['id']}", json={"last_name": None}, headers=headers)
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "last_name"


def test_the_list_filters_by_status_and_limits_the_page(app, tenants, integration):
    client, headers = integration
    for n in range(3):
        register(app, tenants.a, first_name=f"P{n}", last_name="Paged")
    archived = register(app, tenants.a, first_name="Old", last_name="Archived")
    with app.app_context():
        service.archive_patient(tenants.a.id, archived, actor=audit.Actor())
        db.session.commit()
    body = client.get("/api/v1/patients/list/?limit=2", headers=headers).get_json()
    assert len(body["patients"]) == 2 and body["has_more"] is True and body["total_count"] == 3
    only = client.get("/api/v1/patients/list/?status=archived", headers=headers).get_json()
    assert [p["id"] for p in only["patients"]] == [archived] and only["patients"][0]["archived"] is True
    bad = client.get("/api/v1/patients/list/?limit=500&status=deleted&cursor=zzz", headers=headers)
    assert bad.status_code == 422 and {e["field"] for e in bad.get_json()["errors"]} == {"limit", "status"}
    stale = client.get("/api/v1/patients/list/?cursor=zzz", headers=headers)
    assert stale.status_code == 422 and stale.get_json()["errors"][0]["field"] == "cursor"


def test_another_organization_gets_404_and_anonymous_401(app, tenants):
    patient_id = register(app, tenants.a, first_name="Secret", last_name="Patient")
    outsider = {"Authorization": f"Bearer {access_token_for(app, tenants.outsider)}"}
    other_token = api_token_for(app, tenants.b.id, ["patients:read", "patients:write"], creator=tenants.outsider)
    client = app.test_client()
    for headers in (outsider, {"Authorization": f"Bearer {other_token}"}):
        for method, path in (("get", ""), ("put", ""), ("get", "/history")):
            response = client.open(f"/api/v1/patients/{patient_id}{path}", method=method, json={}, headers=headers)
            assert response.status_code == 404 and "Secret" not in response.get_data(as_text=True)
        listing = client.get("/api/v1/patients/list/", headers=headers).get_json()
        assert listing["patients"] == []
        # Naming organization A in the header does not help either.
        assert (
            client.get("/api/v1/patients/list/", headers={**headers, "X-Organization-ID": tenants.a.id}).status_code
            == 404
        )
    for method, path in (("get", f"/{patient_id}"), ("get", "/list/"), ("post", "/create")):
        response = client.open(f"/api/v1/patients{path}", method=method, json={})
        assert response.status_code == 401 and response.mimetype == "application/problem+json"


def test_a_read_only_token_cannot_write(app, tenants):
    token = api_token_for(app, tenants.a.id, ["patients:read"], creator=tenants.user("owner"))
    response = app.test_client().post(
        "/api/v1/patients/create",
        json={"first_name": "A", "last_name": "B"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403


def test_every_route_is_in_the_openapi_document_with_its_schemas(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    documented = {
        (path, method)
        for path, methods in spec["paths"].items()
        for method in methods
        if path.startswith("/api/v1/patients")
    }
    assert documented >= ROUTES
    # The rest under /api/v1/patients belong to the caseload and dashboard features.
    others = {path for path, _ in documented - ROUTES}
    assert all(
        p.startswith("/api/v1/patients/{organization_id}/") or p == "/api/v1/patients/dashboard-stats" for p in others
    )
    create = spec["paths"]["/api/v1/patients/create"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PatientCreate")
    assert "201" in create["responses"] and "422" in create["responses"] and create["x-permission"] == "patients:write"
    listing = spec["paths"]["/api/v1/patients/list/"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"limit", "cursor", "status", "sort"}
    assert listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/PatientListOut")
    history = spec["paths"]["/api/v1/patients/{patient_id}/history"]["get"]
    assert "newest first" in history["description"]
    schemas = spec["components"]["schemas"]
    assert {"PatientCreate", "PatientUpdate", "PatientOut", "PatientListOut", "PatientHistoryOut"} <= set(schemas)
    assert schemas["PatientCreate"]["properties"]["first_name"]["maxLength"] == 100
    assert "unreadable_fields" in schemas["PatientOut"]["required"]


def test_every_read_and_change_is_audited_with_ids_only(app, tenants, integration):
    client, headers = integration
    patient_id = client.post("/api/v1/patients/create", json=SENTINEL, headers=headers).get_json()["id"]
    client.get(f"/api/v1/patients/{patient_id}", headers=headers)
    client.put(
        f"/api/v1/patients/{patient_id}", json={"email": "other@example.com", "notes": "SENTINEL-NOTE"}, headers=headers
    )
    client.get("/api/v1/patients/search/?q=sentinel.patient@example.com", headers=headers)
    client.get("/api/v1/patients/list/", headers=headers)
    client.get(f"/api/v1/patients/{patient_id}/history", headers=headers)

    trail = [e for e in events(app) if e.action.startswith("patient.")]
    assert [e.action for e in trail] == [
        "patient.created",
        "patient.viewed",
        "patient.updated",
        "patient.viewed",  # the update answers with the whole record
        "patient.searched",
        "patient.listed",
    ]
    assert trail[2].details == {"fields": ["email"]}  # notes were sent unchanged
    history = [e for e in events(app) if e.action == "consultation.history_viewed"]
    assert len(history) == 1 and history[0].patient_id == patient_id
    for event in trail:
        assert event.actor_token_id is not None and event.organization_id == tenants.a.id
        if event.action not in ("patient.searched", "patient.listed"):
            assert event.patient_id == patient_id
        assert leaked(str(event.details)) == []
        assert "other@example.com" not in str(event.details)
