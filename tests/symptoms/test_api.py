"""The symptom JSON API: search and add custom symptoms, with the contract's shapes, problem+json
errors, and each caller limited to its own organization and permissions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from clinic_app.extensions import db
from clinic_app.symptoms.models import CustomSymptom
from tests.factories import access_token_for, api_token_for

pytestmark = pytest.mark.usefixtures("catalogue")

PROBLEM = "application/problem+json"
SEARCH = "/api/v1/intake/symptoms"
CREATE = "/api/v1/intake/user_symptoms"
RESULT_FIELDS = {"id", "source", "code", "title", "category"}


@pytest.fixture
def bearer(app, tenants):
    """``bearer("clinician")`` → Authorization headers with that role's access token."""

    def headers(role: str) -> dict[str, str]:
        user = tenants.outsider if role == "outsider" else tenants.user(role)
        return {"Authorization": f"Bearer {access_token_for(app, user)}"}

    return headers


def test_search_answers_query_results_and_total(client, bearer):
    response = client.get(SEARCH, query_string={"q": "depressed"}, headers=bearer("receptionist"))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert list(body) == ["query", "symptoms", "total", "limit", "next_cursor"]
    assert (body["query"], body["total"], body["limit"]) == ("depressed", len(body["symptoms"]), 20)
    first = body["symptoms"][0]
    assert set(first) == RESULT_FIELDS
    assert first["id"].startswith("sym_")
    assert (first["source"], first["code"], first["title"], first["category"]) == (
        "master",
        "MB24.5",
        "Depressed mood",
        "mood",
    )


def test_search_limit_and_validation(client, bearer):
    headers = bearer("clinician")
    body = client.get(SEARCH, query_string={"q": "pain", "limit": 2}, headers=headers).get_json()
    assert len(body["symptoms"]) == 2 and body["total"] > 2
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "many"}, {"q": "x" * 101}):
        response = client.get(SEARCH, query_string=bad, headers=headers)
        assert response.status_code == 422 and response.mimetype == PROBLEM, bad
        assert response.get_json()["errors"][0]["field"] in ("limit", "q")


def test_search_without_a_query_lists_the_catalogue(client, bearer):
    body = client.get(SEARCH, headers=bearer("clinician")).get_json()
    assert body["query"] == "" and len(body["symptoms"]) == 20 and body["total"] >= 170


def test_search_requires_authentication(client, tenants):
    response = client.get(SEARCH, query_string={"q": "back"})
    assert response.status_code == 401 and response.mimetype == PROBLEM


def test_create_answers_201_with_the_symptom_and_ignores_an_organization_in_the_body(app, client, tenants, bearer):
    response = client.post(
        CREATE,
        json={
            "name": "Jaw clenching",
            "description": "Clenches at night",
            "category": "musculoskeletal",
            "organization_id": tenants.b.id,
        },
        headers=bearer("clinician"),
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == RESULT_FIELDS | {"description", "created_at"}
    assert body["id"].startswith("csym_")
    assert (body["source"], body["code"], body["title"], body["category"], body["description"]) == (
        "custom",
        None,
        "Jaw clenching",
        "musculoskeletal",
        "Clenches at night",
    )
    assert body["created_at"].endswith("Z")
    with app.app_context():
        stored = db.session.get(CustomSymptom, body["id"])
        assert (stored.organization_id, stored.created_by_id) == (tenants.a.id, tenants.user("clinician").id)
    found = client.get(SEARCH, query_string={"q": "jaw clen"}, headers=bearer("clinician")).get_json()
    assert found["symptoms"][0]["id"] == body["id"]
    theirs = client.get(SEARCH, query_string={"q": "jaw clen"}, headers=bearer("outsider")).get_json()
    assert body["id"] not in [result["id"] for result in theirs["symptoms"]]


@pytest.mark.parametrize("payload", [{"name": ""}, {"name": "   "}, {}, {"name": None}])
def test_create_refuses_an_empty_name_with_422(client, bearer, payload):
    response = client.post(CREATE, json=payload, headers=bearer("clinician"))
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert [error["field"] for error in response.get_json()["errors"]] == ["name"]


def test_create_refuses_duplicates_with_409(client, bearer):
    headers = bearer("clinician")
    assert client.post(CREATE, json={"name": "Jaw clenching"}, headers=headers).status_code == 201
    again = client.post(CREATE, json={"name": "JAW CLENCHING"}, headers=headers)
    assert again.status_code == 409 and again.mimetype == PROBLEM
    master = client.post(CREATE, json={"name": "low back pain"}, headers=headers)
    assert master.status_code == 409
    body = master.get_json()
    assert "ME84.2" in body["detail"]
    assert body["suggestion"]["code"] == "ME84.2" and body["suggestion"]["id"].startswith("sym_")


def test_receptionist_cannot_create_custom_symptoms_but_clinician_can(app, client, bearer):
    refused = client.post(CREATE, json={"name": "Jaw clenching"}, headers=bearer("receptionist"))
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    with app.app_context():
        assert db.session.scalars(select(CustomSymptom)).all() == []
    assert client.post(CREATE, json={"name": "Jaw clenching"}, headers=bearer("clinician")).status_code == 201


def test_api_tokens_need_the_symptoms_write_scope(app, client, tenants):
    owner = tenants.user("owner")
    reader = api_token_for(app, tenants.a.id, ["patients:read"], creator=owner)
    writer = api_token_for(app, tenants.a.id, ["symptoms:write"], creator=owner)
    assert (
        client.get(SEARCH, query_string={"q": "back"}, headers={"Authorization": f"Bearer {reader}"}).status_code == 200
    )
    refused = client.post(CREATE, json={"name": "Jaw clenching"}, headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403
    created = client.post(CREATE, json={"name": "Jaw clenching"}, headers={"Authorization": f"Bearer {writer}"})
    assert created.status_code == 201
    with app.app_context():
        assert db.session.get(CustomSymptom, created.get_json()["id"]).created_by_id is None  # made by a token


def test_both_operations_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert paths[SEARCH]["get"]["x-permission"] == "patients:read"
    assert paths[SEARCH]["get"]["tags"] == ["intake"]
    assert paths[CREATE]["post"]["x-permission"] == "symptoms:write"
    assert {"201", "409", "422"} <= set(paths[CREATE]["post"]["responses"])
