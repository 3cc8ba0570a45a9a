"""The intake JSON API: the old contract's shapes in and out, 422 problem+json per field with
nothing written, 409 listing possible duplicates, Idempotency-Key, pagination, tenancy, and the
OpenAPI document."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.intake.models import IntakeDraft
from tests.factories import access_token_for, api_token_for
from tests.intake.conftest import count, events, master_id
from tests.patients.conftest import register

URL = "/api/v1/intake/patients"


@pytest.fixture
def api(app, tenants):
    """``api(method, url, role="receptionist", **kwargs)`` with a bearer token of that role."""
    tokens = {}

    def call(method, url, role="receptionist", headers=None, **kwargs):
        if role not in tokens:
            user = tenants.outsider if role == "outsider" else tenants.user(role)
            tokens[role] = access_token_for(app, user)
        headers = {"Authorization": f"Bearer {tokens[role]}", **(headers or {})}
        return app.test_client().open(url, method=method, headers=headers, **kwargs)

    return call


def seed_body(app, **changes):
    """A request as the old system's client sends it (seed 002 §4.1 and §7)."""
    body = {
        "name": "John Seed Doe",
        "age": 44,
        "sex": "Male",
        "date_of_birth": "1981-06-07",
        "address": "1 Contract Road, Sydney",
        "informants": {"selection": ["Self", "Wife"], "other_details": "Wife drove him"},
        "illness_duration": {"value": 2, "unit": "Months"},
        "referred_by": "Dr. Smith",
        "precipitating_factor": {"narrative": "Redundancy in May", "tags": ["work", "money"]},
        "organization_id": "org_not_theirs",
        "symptoms": [
            {
                "symptom_id": master_id(app, "MB43"),
                "symptom_source": "master",
                "symptom_name": "Insomnia",
                "severity": "Severe",
                "frequency": "Daily",
                "duration": {"value": 3, "unit": "Months"},
                "notes": "Difficulty falling asleep",
                "onset_description": "Started after job change",
                "triggers": ["stress", "caffeine"],
            },
            {"symptom_source": "user", "symptom_name": "Jaw clenching", "severity": "mild", "frequency": "weekly"},
        ],
    }
    body.update(changes)
    return body


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["type"] and body["title"] and body["instance"] and body["timestamp"]
    return body


# --- POST /api/v1/intake/patients -------------------------------------------------------------------


def test_create_takes_the_old_contracts_shape_and_answers_in_it(app, tenants, api, catalogue):
    response = api("POST", URL, json=seed_body(app))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "success"
    data = body["data"]
    assert data["name"] == "John Seed Doe" and data["message"] == "Patient intake record created successfully"
    assert data["patient_id"].startswith("pat_")
    intake = data["intake"]
    assert intake["id"].startswith("inr_") and intake["patient_id"] == data["patient_id"]
    assert intake["illness_duration"] == {"value": 2, "unit": "months"}
    assert intake["informants"] == {"selection": ["self", "spouse"], "other_details": "Wife drove him"}
    assert intake["referred_by"] == "Dr. Smith"
    assert intake["precipitating_factor"] == {"narrative": "Redundancy in May", "tags": ["work", "money"]}
    assert intake["unreadable_fields"] == [] and intake["created_at"].endswith("Z")
    insomnia, jaw = data["symptoms"]
    assert insomnia["symptom_source"] == "master" and insomnia["code"] == "MB43"
    assert insomnia["symptom_name"] == "Dyssomnia"  # the catalogue's name, not the one sent
    assert (insomnia["severity"], insomnia["frequency"]) == ("severe", "daily")
    assert insomnia["duration"] == {"value": 3, "unit": "months"} and insomnia["duration_value"] == 3
    assert insomnia["onset_description"] == "Started after job change"
    assert insomnia["triggers"] == ["stress", "caffeine"]
    assert jaw["symptom_source"] == "user" and jaw["code"] is None and jaw["symptom_id"].startswith("csym_")
    assert jaw["duration"] is None and jaw["notes"] is None

    with app.app_context():
        from clinic_app.patients import service as patients

        patient = patients.get_patient(tenants.a.id, data["patient_id"])  # the token's organization, not the body's
        assert (patient.first_name, patient.last_name) == ("John Seed", "Doe")
    assert len(events(app, "intake.submitted")) == 1 and len(events(app, "patient_symptom.added")) == 2
    assert len(events(app, "symptom.custom_created")) == 1


def test_invalid_input_is_a_422_listing_every_field_and_nothing_is_written(app, tenants, api, catalogue):
    body = seed_body(
        app,
        name=None,
        first_name="Only",
        date_of_birth="2999-01-01",
        illness_duration={"value": 0, "unit": "fortnights"},
        precipitating_factor={"narrative": "n" * 5001},
        symptoms=[
            {"symptom_id": master_id(app, "MB43"), "frequency": "daily", "duration": {"value": -1, "unit": "days"}},
            {"symptom_id": "sym_unknown", "symptom_source": "master", "severity": "mild", "frequency": "daily"},
            {"symptom_source": "user", "symptom_name": "New custom", "severity": "mild", "frequency": "hourly"},
        ],
    )
    problem = assert_problem(api("POST", URL, json=body), 422)
    fields = {error["field"] for error in problem["errors"]}
    assert {
        "last_name",
        "date_of_birth",
        "illness_duration.value",
        "illness_duration.unit",
        "precipitating_factor.narrative",
        "symptoms.0.severity",
        "symptoms.0.duration.value",
        "symptoms.1.symptom_id",
        "symptoms.2.frequency",
    } <= fields
    assert problem["error"] == "Validation error" and problem["path"] == URL
    for table in ("patients", "intake_records", "patient_symptoms", "intake_drafts", "custom_symptoms"):
        assert count(app, table) == 0, table


def test_wrong_json_types_are_a_422_and_a_missing_body_a_415(app, tenants, api):
    problem = assert_problem(api("POST", URL, json={"first_name": 7, "symptoms": "none"}), 422)
    assert {"first_name", "symptoms"} <= {error["field"].split(".")[0] for error in problem["errors"]}
    assert api("POST", URL, data="x").status_code == 415


def test_possible_duplicates_are_a_409_listing_their_ids_until_create_anyway(app, tenants, api, catalogue):
    existing = register(app, tenants.a, first_name="John Seed", last_name="Doe", date_of_birth="1981-06-07")
    problem = assert_problem(api("POST", URL, json=seed_body(app)), 409)
    assert problem["duplicates"] == [{"id": existing, "reasons": ["name_and_date_of_birth"], "archived": False}]
    assert "John" not in str(problem["duplicates"])  # ids and reasons only
    assert count(app, "patients") == 1 and count(app, "intake_records") == 0 and count(app, "custom_symptoms") == 0
    created = api("POST", URL, json=seed_body(app, create_anyway=True))
    assert created.status_code == 201 and created.get_json()["data"]["patient_id"] != existing


def test_the_same_idempotency_key_returns_the_first_result(app, tenants, api, catalogue):
    headers = {"Idempotency-Key": "intake-2026-11-24-0001"}
    first = api("POST", URL, json=seed_body(app), headers=headers)
    second = api("POST", URL, json=seed_body(app), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["data"]["patient_id"] == second.get_json()["data"]["patient_id"]
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert count(app, "patients") == 1 and count(app, "patient_symptoms") == 2
    assert len(events(app, "intake.submitted")) == 1

    changed = api("POST", URL, json=seed_body(app, referred_by="Dr. Other"), headers=headers)
    assert [e["field"] for e in assert_problem(changed, 422)["errors"]] == ["Idempotency-Key"]
    # The key belongs to its caller: another person's identical key is another request.
    other = api("POST", URL, role="clinician", json=seed_body(app, create_anyway=True), headers=headers)
    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers
    assert count(app, "patients") == 2


@pytest.mark.parametrize(
    ("value", "message"),
    [("0001-01-01", "before 1900"), ("1899-12-31", "before 1900"), ("9999-12-31", "in the future")],
)
def test_a_date_of_birth_out_of_range_is_named_and_nothing_is_written(app, tenants, api, catalogue, value, message):
    answer = api("POST", URL, json=seed_body(app, date_of_birth=value))
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
    errors = answer.get_json()["errors"]
    assert [e["field"] for e in errors] == ["date_of_birth"] and message in errors[0]["message"]
    assert count(app, "patients") == 0


def test_a_refused_request_does_not_hold_its_key_and_an_old_key_is_free(app, tenants, api, catalogue):
    headers = {"Idempotency-Key": "retry-me"}
    assert api("POST", URL, json=seed_body(app, date_of_birth="2999-01-01"), headers=headers).status_code == 422
    first = api("POST", URL, json=seed_body(app), headers=headers)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    with app.app_context():
        db.session.execute(update(IntakeDraft).values(created_at=utcnow() - timedelta(hours=25)))
        db.session.commit()
    later = api("POST", URL, json=seed_body(app, create_anyway=True), headers=headers)
    assert later.status_code == 201 and "Idempotent-Replayed" not in later.headers
    assert later.get_json()["data"]["patient_id"] != first.get_json()["data"]["patient_id"]
    assert assert_problem(api("POST", URL, json=seed_body(app), headers={"Idempotency-Key": " "}), 422)


def test_two_requests_with_one_key_at_once_create_one_patient(app, tenants, catalogue):
    token = access_token_for(app, tenants.user("receptionist"))
    body = seed_body(app)
    barrier = threading.Barrier(2)
    answers = [None, None]

    def post(index):
        client = app.test_client()
        barrier.wait()
        answers[index] = client.post(
            URL, json=body, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "same-time"}
        )

    threads = [threading.Thread(target=post, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answer.status_code for answer in answers) == [201, 201], [a.get_json() for a in answers]
    assert len({answer.get_json()["data"]["patient_id"] for answer in answers}) == 1
    assert count(app, "patients") == 1


# --- GET /api/v1/intake/patients and /{id} ----------------------------------------------------------


def test_the_list_pages_newest_first_through_intake_patients_only(app, tenants, api, catalogue):
    register(app, tenants.a, first_name="Not", last_name="Through Intake")
    ids = []
    for name in ("First One", "Second Two", "Third Three"):
        response = api("POST", URL, json={"name": name, "symptoms": []})
        assert response.status_code == 201
        ids.append(response.get_json()["data"]["patient_id"])
    seen, cursor = [], None
    while True:
        page = api("GET", URL + "?limit=2" + (f"&cursor={cursor}" if cursor else "")).get_json()
        assert page["limit"] == 2 and page["has_more"] == (page["next_cursor"] is not None)
        seen += [item["id"] for item in page["patients"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    item = api("GET", URL).get_json()["patients"][0]
    assert set(item) == {
        "id",
        "name",
        "first_name",
        "last_name",
        "intake_id",
        "illness_duration",
        "symptom_count",
        "created_at",
    }
    assert item["name"] == "Third Three" and item["symptom_count"] == 0
    assert assert_problem(api("GET", URL + "?cursor=bogus"), 422)["errors"][0]["field"] == "cursor"
    assert api("GET", URL, role="outsider").get_json()["patients"] == []
    listed = [event for event in events(app, "intake.listed") if event.organization_id == tenants.a.id]
    assert listed[-1].details["patient_ids"] == [ids[2], ids[1], ids[0]]


def test_one_patient_with_intake_and_symptoms(app, tenants, api, catalogue):
    patient_id = api("POST", URL, json=seed_body(app)).get_json()["data"]["patient_id"]
    body = api("GET", f"{URL}/{patient_id}", role="clinician").get_json()
    assert body["id"] == patient_id and body["name"] == "John Seed Doe"
    assert body["date_of_birth"] == "1981-06-07" and body["sex"] == "male"
    assert body["intake"]["referred_by"] == "Dr. Smith" and len(body["symptoms"]) == 2
    viewed = events(app, "patient.viewed")[-1]
    assert viewed.patient_id == patient_id and viewed.details["channel"] == "api"

    plain = register(app, tenants.a)
    without = api("GET", f"{URL}/{plain}").get_json()
    assert without["intake"] is None and without["symptoms"] == []
    assert_problem(api("GET", f"{URL}/{patient_id}", role="outsider"), 404)
    assert_problem(api("GET", f"{URL}/pat_doesnotexist"), 404)


# --- POST /api/v1/intake/patients/{id}/symptoms ----------------------------------------------------


def test_adding_symptoms_by_id_by_name_and_as_the_old_bare_list(app, tenants, api, catalogue):
    patient_id = register(app, tenants.a)
    url = f"{URL}/{patient_id}/symptoms"
    first = api(
        "POST",
        url,
        json=[  # the old API's bare list
            {
                "symptom_id": master_id(app, "MB24.5"),
                "symptom_source": "master",
                "symptom_name": "Anxiety",
                "severity": "Moderate",
                "frequency": "Daily",
                "duration": {"value": 2, "unit": "Months"},
                "notes": "Worse in evenings",
            }
        ],
    )
    assert first.status_code == 201, first.get_json()
    [stored] = first.get_json()["symptoms"]
    assert first.get_json()["patient_id"] == patient_id
    assert stored["id"].startswith("psy_") and stored["code"] == "MB24.5" and stored["notes"] == "Worse in evenings"

    custom = api(
        "POST",
        url,
        json={
            "symptoms": [
                {
                    "symptom_source": "user",
                    "symptom_name": "Tingling toes",
                    "severity": "mild",
                    "frequency": "occasional",
                }
            ]
        },
    )
    custom_id = custom.get_json()["symptoms"][0]["symptom_id"]
    again = api(
        "POST",
        url,
        json={
            "symptoms": [
                {
                    "symptom_id": custom_id,
                    "symptom_source": "user",
                    "severity": "severe",
                    "frequency": "daily",
                    "duration_value": 5,
                    "duration_unit": "days",
                    "onset": "This week",
                }
            ]
        },
    )
    assert again.status_code == 201
    [by_id] = again.get_json()["symptoms"]
    assert by_id["symptom_id"] == custom_id and by_id["symptom_source"] == "user"
    assert by_id["duration"] == {"value": 5, "unit": "days"} and by_id["onset_description"] == "This week"
    assert count(app, "custom_symptoms") == 1 and count(app, "patient_symptoms") == 3
    page = api("GET", f"{URL}/{patient_id}").get_json()
    assert [s["symptom_name"] for s in page["symptoms"]] == ["Depressed mood", "Tingling toes", "Tingling toes"]


def test_bad_symptoms_are_a_422_and_nothing_is_stored(app, tenants, api, catalogue):
    patient_id = register(app, tenants.a)
    url = f"{URL}/{patient_id}/symptoms"
    response = api(
        "POST",
        url,
        json={
            "symptoms": [
                {"symptom_id": master_id(app, "MB24.5"), "severity": "extreme", "frequency": "daily"},
                {
                    "symptom_id": master_id(app, "MB24.5"),
                    "symptom_source": "user",
                    "severity": "mild",
                    "frequency": "daily",
                },
                {
                    "symptom_source": "user",
                    "symptom_name": "Brand new",
                    "severity": "mild",
                    "frequency": "daily",
                    "duration_value": 0,
                    "duration_unit": "days",
                },
                {"symptom_source": "master", "severity": "mild", "frequency": "daily"},
            ]
        },
    )
    problem = assert_problem(response, 422)
    assert {e["field"] for e in problem["errors"]} == {
        "symptoms.0.severity",
        "symptoms.1.symptom_source",
        "symptoms.2.duration_value",
        "symptoms.3.symptom_id",
    }
    assert count(app, "patient_symptoms") == 0 and count(app, "custom_symptoms") == 0
    assert [e["field"] for e in assert_problem(api("POST", url, json={"symptoms": []}), 422)["errors"]] == ["symptoms"]


def test_another_organization_gets_404_for_adding_symptoms(app, tenants, api, catalogue):
    patient_id = register(app, tenants.a)
    url = f"{URL}/{patient_id}/symptoms"
    assert_problem(api("POST", url, role="outsider", json={}), 404)
    item = {"symptom_id": master_id(app, "MB24.5"), "severity": "mild", "frequency": "daily"}
    assert_problem(api("POST", url, role="outsider", json={"symptoms": [item]}), 404)
    assert count(app, "patient_symptoms") == 0


def test_api_tokens_need_the_scopes(app, tenants, catalogue):
    writer = api_token_for(app, tenants.a.id, ["intake:write"], creator=tenants.user("owner"))
    client = app.test_client()
    created = client.post(URL, json={"name": "Token Made"}, headers={"Authorization": f"Bearer {writer}"})
    assert created.status_code == 201
    listed = client.get(URL, headers={"Authorization": f"Bearer {writer}"})
    assert listed.status_code == 403  # reading needs patients:read
    reader = api_token_for(app, tenants.a.id, ["patients:read"], creator=tenants.user("owner"))
    assert client.post(URL, json={"name": "No Scope"}, headers={"Authorization": f"Bearer {reader}"}).status_code == 403
    assert client.get(URL, headers={"Authorization": f"Bearer {reader}"}).status_code == 200


def test_every_intake_route_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    expected = {
        ("/api/v1/intake/patients", "post"): "intake:write",
        ("/api/v1/intake/patients", "get"): "patients:read",
        ("/api/v1/intake/patients/{patient_id}", "get"): "patients:read",
        ("/api/v1/intake/patients/{patient_id}/symptoms", "post"): "intake:write",
    }
    for (path, method), permission in expected.items():
        operation = paths[path][method]
        assert operation["tags"] == ["intake"] and operation["x-permission"] == permission
    create = paths["/api/v1/intake/patients"]["post"]
    assert {"201", "409", "422"} <= set(create["responses"])
    schemas = spec["components"]["schemas"]
    body = schemas[create["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]]
    assert {"name", "informants", "illness_duration", "precipitating_factor", "symptoms", "create_anyway"} <= set(
        body["properties"]
    )
