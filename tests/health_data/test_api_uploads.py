"""The health-data JSON API for an API client (seed 004, patient-scoped): uploading metrics (202 in
the seed's shape; 422 naming ``metrics[i]…`` with nothing written for every out-of-range type; the
boundaries accepted; sync_token idempotency, also under two concurrent requests), processing
status, the HAL-style page, delete, the public service status, who gets 404, and the OpenAPI
document."""

from __future__ import annotations

import threading

import pytest

from clinic_app.extensions import db
from clinic_app.health_data.models import HealthUpload
from tests.factories import access_token_for, api_token_for
from tests.health_data.conftest import register_patient, table_rows

UPLOAD = "/api/v1/health-data/upload"
LIST = "/api/v1/health-data/"


@pytest.fixture
def bearer(app, tenants):
    def headers(role="clinician"):
        user = tenants.outsider if role == "outsider" else tenants.user(role)
        return {"Authorization": f"Bearer {access_token_for(app, user)}"}

    return headers


@pytest.fixture
def patient_id(app, tenants):
    return register_patient(app, tenants.a)


def metric(metric_type, data_key, values, when="2024-03-04T08:00:00+11:00"):
    return {"metric_type": metric_type, data_key: values, "created_at": when}


def heart_rate(value, when="2024-03-04T08:00:00+11:00"):
    return metric("heart_rate", "biometric_data", {"heart_rate": value}, when)


def upload_body(patient_id, metrics, **extra):
    return {
        "patient_id": patient_id,
        "metrics": metrics,
        "upload_source": "apple_health",
        "client_timestamp": "2024-03-04T09:00:00+11:00",
        **extra,
    }


def stored(app):
    return len(table_rows(app, "health_uploads")), len(table_rows(app, "health_series_blocks"))


def test_upload_answers_202_in_the_seed_shape_and_reports_its_status(app, client, bearer, patient_id):
    metrics = [
        heart_rate(72),
        metric("blood_pressure", "biometric_data", {"blood_pressure_systolic": 120, "blood_pressure_diastolic": 80}),
        metric("sleep_analysis", "sleep_data", {"total_sleep_minutes": 420, "sleep_efficiency": 0.9}),
    ]
    response = client.post(UPLOAD, json=upload_body(patient_id, metrics), headers=bearer())
    assert response.status_code == 202, response.get_json()
    answer = response.get_json()
    assert list(answer) == [
        "processing_id",
        "status",
        "accepted_metrics",
        "rejected_metrics",
        "validation_errors",
        "estimated_processing_time",
        "sync_token",
        "message",
        "timestamp",
    ]
    assert answer["processing_id"].startswith("hdu_") and answer["status"] == "completed"
    assert (answer["accepted_metrics"], answer["rejected_metrics"], answer["validation_errors"]) == (3, 0, [])
    assert answer["timestamp"].endswith("Z") and "Idempotent-Replayed" not in response.headers
    assert stored(app)[0] == 1 and stored(app)[1] >= 1

    status = client.get(f"/api/v1/health-data/processing/{answer['processing_id']}", headers=bearer())
    assert status.status_code == 200
    body = status.get_json()
    assert body["processing_id"] == answer["processing_id"] and body["patient_id"] == patient_id
    assert (body["kind"], body["source"], body["upload_source"]) == ("metrics", "api", "apple_health")
    assert body["metric_types"] == ["blood_pressure", "heart_rate", "sleep_analysis"]
    assert (body["sample_count"], body["accepted_count"], body["rejected_count"]) == (3, 3, 0)
    assert body["starts_at"] == "2024-03-04T08:00:00.000Z"  # the device's clock (08:00 at +11:00), floating
    assert body["error"] is None and body["job_id"] is None and body["analysis_id"] is None
    # No measured value in the status (matched as a value: "72" may well be in a timestamp's milliseconds).
    assert "values" not in body and 72 not in _leaves(body)


def _leaves(value):
    """Every scalar in a parsed JSON document."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def pressure(systolic, diastolic):
    return {"blood_pressure_systolic": systolic, "blood_pressure_diastolic": diastolic}


OUT_OF_RANGE = [
    ("heart_rate", "biometric_data", {"heart_rate": 29}, "heart_rate"),
    ("heart_rate", "biometric_data", {"heart_rate": 301}, "heart_rate"),
    ("heart_rate_variability", "biometric_data", {"heart_rate_variability": -1}, "heart_rate_variability"),
    ("heart_rate_variability", "biometric_data", {"heart_rate_variability": 201}, "heart_rate_variability"),
    ("blood_pressure", "biometric_data", pressure(69, 60), "blood_pressure_systolic"),
    ("blood_pressure", "biometric_data", pressure(251, 90), "blood_pressure_systolic"),
    ("blood_pressure", "biometric_data", pressure(120, 39), "blood_pressure_diastolic"),
    ("blood_pressure", "biometric_data", pressure(200, 151), "blood_pressure_diastolic"),
    ("blood_oxygen", "biometric_data", {"oxygen_saturation": 69}, "oxygen_saturation"),
    ("blood_oxygen", "biometric_data", {"oxygen_saturation": 101}, "oxygen_saturation"),
    ("respiratory_rate", "biometric_data", {"respiratory_rate": 4}, "respiratory_rate"),
    ("respiratory_rate", "biometric_data", {"respiratory_rate": 61}, "respiratory_rate"),
    ("body_temperature", "biometric_data", {"body_temperature": 34.9}, "body_temperature"),
    ("body_temperature", "biometric_data", {"body_temperature": 42.1}, "body_temperature"),
    ("blood_glucose", "biometric_data", {"blood_glucose": 49}, "blood_glucose"),
    ("blood_glucose", "biometric_data", {"blood_glucose": 501}, "blood_glucose"),
    ("activity_level", "activity_data", {"steps": 100_001}, "steps"),
    ("sleep_analysis", "sleep_data", {"sleep_efficiency": 1.01}, "sleep_efficiency"),
]  # fmt: skip


@pytest.mark.parametrize(("metric_type", "data_key", "values", "name"), OUT_OF_RANGE)
def test_an_out_of_range_metric_is_422_naming_it_and_nothing_is_written(
    app, client, bearer, patient_id, metric_type, data_key, values, name
):
    metrics = [heart_rate(60), metric(metric_type, data_key, values)]
    response = client.post(UPLOAD, json=upload_body(patient_id, metrics, sync_token="t-1"), headers=bearer())
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    errors = response.get_json()["errors"]
    assert [e["field"] for e in errors] == [f"metrics[1].{data_key}.{name}"]
    assert errors[0]["message"] and errors[0]["code"] in ("OUT_OF_RANGE", "LESS_THAN_EQUAL")
    assert stored(app) == (0, 0)


def test_an_unknown_metric_type_is_422_with_its_code(app, client, bearer, patient_id):
    metrics = [heart_rate(60), heart_rate(61), {"metric_type": "pulse_wave", "raw_data": {"x": 1}}]
    response = client.post(UPLOAD, json=upload_body(patient_id, metrics), headers=bearer())
    assert response.status_code == 422
    (error,) = response.get_json()["errors"]
    assert (error["field"], error["code"]) == ("metrics[2].metric_type", "UNKNOWN_METRIC_TYPE")
    assert stored(app) == (0, 0)


def _boundaries(low):
    pick = (lambda lo, hi: lo) if low else (lambda lo, hi: hi)
    bio = "biometric_data"
    return [
        metric("heart_rate", bio, {"heart_rate": pick(30, 300)}),
        metric("heart_rate_variability", bio, {"heart_rate_variability": pick(0, 200)}),
        metric("blood_pressure", bio, pressure(pick(70, 250), pick(40, 150))),
        metric("blood_oxygen", bio, {"oxygen_saturation": pick(70, 100)}),
        metric("respiratory_rate", bio, {"respiratory_rate": pick(5, 60)}),
        metric("body_temperature", bio, {"body_temperature": pick(35, 42)}),
        metric("blood_glucose", bio, {"blood_glucose": pick(50, 500)}),
        metric("activity_level", "activity_data", {"steps": pick(0, 100_000)}),
        metric("sleep_analysis", "sleep_data", {"sleep_efficiency": pick(0, 1)}),
    ]  # fmt: skip


@pytest.mark.parametrize("low", [True, False], ids=["lowest", "highest"])
def test_the_boundary_values_themselves_are_accepted(app, client, bearer, patient_id, low):
    response = client.post(UPLOAD, json=upload_body(patient_id, _boundaries(low)), headers=bearer())
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["accepted_metrics"] == 9
    page = client.get(f"{LIST}?patient_id={patient_id}&include_values=true", headers=bearer()).get_json()
    (item,) = page["data"]
    assert len(item["values"]) == 9 and item["values_truncated"] is False
    rates = [v["biometric_data"]["heart_rate"] for v in item["values"] if v["metric_type"] == "heart_rate"]
    assert rates == [30 if low else 300]
    viewed = [r for r in table_rows(app, "audit_events") if r["action"] == "health_data.viewed"]
    assert len(viewed) == 1  # include_values is a recorded read


def test_a_hundred_metrics_pass_and_a_hundred_and_one_do_not(app, client, bearer, patient_id):
    many = [heart_rate(60 + i % 50) for i in range(101)]
    refused = client.post(UPLOAD, json=upload_body(patient_id, many), headers=bearer())
    assert refused.status_code == 422
    assert [e["field"] for e in refused.get_json()["errors"]] == ["metrics"]
    assert stored(app) == (0, 0)
    assert client.post(UPLOAD, json=upload_body(patient_id, many[:100]), headers=bearer()).status_code == 202
    empty = client.post(UPLOAD, json=upload_body(patient_id, []), headers=bearer())
    assert empty.status_code == 422 and stored(app)[0] == 1


def test_a_repeated_sync_token_answers_the_first_upload_and_writes_nothing(app, client, bearer, tenants, patient_id):
    first = client.post(UPLOAD, json=upload_body(patient_id, [heart_rate(70)], sync_token="sync-42"), headers=bearer())
    assert first.status_code == 202
    before = stored(app)
    again = client.post(
        UPLOAD, json=upload_body(patient_id, [heart_rate(71), heart_rate(72)], sync_token="sync-42"), headers=bearer()
    )
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert stored(app) == before == (1, before[1])
    # The same token for another patient is another upload.
    other = register_patient(app, tenants.a, first_name="Ola")
    third = client.post(UPLOAD, json=upload_body(other, [heart_rate(70)], sync_token="sync-42"), headers=bearer())
    assert third.status_code == 202 and third.get_json()["processing_id"] != first.get_json()["processing_id"]


def test_two_concurrent_uploads_with_one_sync_token_leave_one_upload(app, tenants, patient_id):
    token = access_token_for(app, tenants.user("clinician"))
    body = upload_body(patient_id, [heart_rate(66)], sync_token="race-1")
    barrier = threading.Barrier(2)
    answers, failures = [None, None], []

    def send(index):
        try:
            with app.app_context():
                client = app.test_client()
                barrier.wait(timeout=10)
                response = client.post(UPLOAD, json=body, headers={"Authorization": f"Bearer {token}"})
                answers[index] = (
                    response.status_code,
                    response.get_json(),
                    response.headers.get("Idempotent-Replayed"),
                )
        except Exception as error:
            failures.append(error)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert [a[0] for a in answers] == [202, 202], answers
    assert answers[0][1]["processing_id"] == answers[1][1]["processing_id"]
    assert sorted(str(a[2]) for a in answers) == ["None", "true"]
    assert len(table_rows(app, "health_uploads")) == 1


def test_pages_follow_the_seed_hal_shape(app, client, bearer, tenants, patient_id):
    other = register_patient(app, tenants.a, first_name="Ola", last_name="Berg")
    for when in ("2024-03-01T08:00:00", "2024-03-02T08:00:00"):
        assert (
            client.post(UPLOAD, json=upload_body(patient_id, [heart_rate(70, when)]), headers=bearer()).status_code
            == 202
        )
    steps = metric("activity_level", "activity_data", {"steps": 4000}, "2024-03-03T20:00:00")
    assert client.post(UPLOAD, json=upload_body(other, [steps]), headers=bearer()).status_code == 202

    first = client.get(f"{LIST}?limit=2", headers=bearer()).get_json()
    assert list(first) == ["data", "pagination", "links", "next_cursor"]
    assert first["next_cursor"] == first["pagination"]["next_cursor"]
    assert first["pagination"]["page_size"] == 2 and first["pagination"]["total_count"] == 3
    assert first["pagination"]["has_next"] is True and first["pagination"]["has_previous"] is False
    cursor = first["pagination"]["next_cursor"]
    assert first["links"]["self"] == "http://localhost/api/v1/health-data/?limit=2"
    assert first["links"]["first"] == "http://localhost/api/v1/health-data/?limit=2"
    assert first["links"]["next"] == f"http://localhost/api/v1/health-data/?limit=2&cursor={cursor}"
    assert all(item["values"] is None for item in first["data"])
    second = client.get(first["links"]["next"], headers=bearer()).get_json()
    assert len(second["data"]) == 1 and second["pagination"]["has_previous"] is True
    assert second["pagination"]["has_next"] is False and second["pagination"]["next_cursor"] is None
    assert second["links"]["next"] is None
    ids = [i["processing_id"] for i in first["data"] + second["data"]]
    assert len(set(ids)) == 3

    bare = client.get("/api/v1/health-data?limit=50", headers=bearer()).get_json()
    assert bare["pagination"]["total_count"] == 3 and bare["links"]["self"].endswith("/api/v1/health-data?limit=50")
    mine = client.get(f"{LIST}?patient_id={patient_id}", headers=bearer()).get_json()
    assert {i["patient_id"] for i in mine["data"]} == {patient_id} and mine["pagination"]["total_count"] == 2
    typed = client.get(f"{LIST}?metric_type=activity_level", headers=bearer()).get_json()
    assert [i["patient_id"] for i in typed["data"]] == [other]
    dated = client.get(f"{LIST}?start_date=2024-03-02T00:00:00&end_date=2024-03-02T23:59:00", headers=bearer())
    assert [i["starts_at"][:10] for i in dated.get_json()["data"]] == ["2024-03-02"]


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("limit=0", "limit", None),
        ("limit=1001", "limit", None),
        ("cursor=bm90LWEtY3Vyc29y", "cursor", "INVALID_CURSOR"),
        ("metric_type=pulse", "metric_type", "UNKNOWN_METRIC_TYPE"),
        ("start_date=yesterday", "start_date", None),
        ("include_values=true&limit=101", "limit", "OUT_OF_RANGE"),
    ],
)
def test_bad_page_requests_are_422_naming_the_parameter(client, bearer, query, field, code):
    response = client.get(f"{LIST}?{query}", headers=bearer())
    assert response.status_code == 422, response.get_json()
    (error,) = response.get_json()["errors"]
    assert error["field"] == field and error["message"] and error["code"]
    assert code is None or error["code"] == code


def test_delete_removes_the_upload_and_its_rows(app, client, bearer, patient_id):
    answer = client.post(UPLOAD, json=upload_body(patient_id, [heart_rate(70)]), headers=bearer()).get_json()
    upload_id = answer["processing_id"]
    assert table_rows(app, "health_series_blocks", upload_id=upload_id)
    response = client.delete(f"/api/v1/health-data/{upload_id}", headers=bearer())
    assert response.status_code == 204 and response.get_data() == b""
    assert table_rows(app, "health_uploads", id=upload_id) == []
    assert table_rows(app, "health_series_blocks", upload_id=upload_id) == []
    assert client.get(f"/api/v1/health-data/processing/{upload_id}", headers=bearer()).status_code == 404
    assert client.delete(f"/api/v1/health-data/{upload_id}", headers=bearer()).status_code == 404
    deleted = [r for r in table_rows(app, "audit_events") if r["action"] == "health_data.deleted"]
    assert len(deleted) == 1


def test_a_file_still_importing_cannot_be_deleted(app, client, bearer, tenants, patient_id):
    with app.app_context():
        upload = HealthUpload(
            organization_id=tenants.a.id, patient_id=patient_id, kind="file", source="apple_health", status="processing"
        )
        db.session.add(upload)
        db.session.commit()
        upload_id = upload.id
    response = client.delete(f"/api/v1/health-data/{upload_id}", headers=bearer())
    assert response.status_code == 409 and response.mimetype == "application/problem+json"
    assert table_rows(app, "health_uploads", id=upload_id)


def test_other_organizations_and_weaker_roles_get_404(app, client, bearer, tenants, patient_id):
    answer = client.post(UPLOAD, json=upload_body(patient_id, [heart_rate(70)]), headers=bearer()).get_json()
    upload_id = answer["processing_id"]
    for role in ("outsider", "receptionist"):
        for path in (f"/api/v1/health-data/processing/{upload_id}", f"{LIST}?patient_id={patient_id}"):
            assert client.get(path, headers=bearer(role)).status_code == 404, (role, path)
        assert client.delete(f"/api/v1/health-data/{upload_id}", headers=bearer(role)).status_code == 404
        refused = client.post(UPLOAD, json=upload_body(patient_id, [heart_rate(70)]), headers=bearer(role))
        assert refused.status_code == 404, role
    # practice admins read wearable data with the clinicians (issue 15)
    assert client.get(f"/api/v1/health-data/processing/{upload_id}", headers=bearer("admin")).status_code == 200
    # B's owner lists B's uploads: none of A's.
    page = client.get(LIST, headers=bearer("outsider")).get_json()
    assert page["data"] == [] and page["pagination"]["total_count"] == 0
    assert stored(app)[0] == 1


def test_an_api_token_with_the_scope_uploads(app, client, tenants, patient_id):
    token = api_token_for(app, tenants.a.id, ["health_data:read"], creator=tenants.user("owner"))
    response = client.post(
        UPLOAD, json=upload_body(patient_id, [heart_rate(70)]), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 202
    assert client.post(UPLOAD, json=upload_body(patient_id, [heart_rate(70)])).status_code == 401


def test_the_service_status_is_public_without_version_details(client):
    response = client.get("/api/v1/health-data/health")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["service"]) == ("healthy", "health-data") and body["timestamp"]
    assert body["max_metrics_per_upload"] == 100 and len(body["metric_types"]) == 13
    assert "version" not in body and "environment" not in body


def test_openapi_lists_every_health_data_path(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    expected = {
        "/api/v1/health-data/upload": {"post"},
        "/api/v1/health-data/processing/{processing_id}": {"get"},
        "/api/v1/health-data/": {"get"},
        "/api/v1/health-data": {"get"},
        "/api/v1/health-data/{processing_id}": {"delete"},
        "/api/v1/health-data/health": {"get"},
        "/api/v1/healthkit/upload": {"post"},
        "/api/v1/healthkit/upload-status/{upload_id}": {"get"},
        "/api/v1/pat/analyze": {"post"},
        "/api/v1/pat/analyze-step-data": {"post"},
        "/api/v1/pat/analysis/{analysis_id}": {"get"},
        "/api/v1/pat/health": {"get"},
        "/api/v1/pat/models/info": {"get"},
        "/api/v1/insights/generate": {"post"},
        "/api/v1/insights/{insight_id}": {"get"},
        "/api/v1/insights/history/{patient_id}": {"get"},
        "/api/v1/insights/status": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), path
    upload = paths["/api/v1/health-data/upload"]["post"]
    assert "202" in upload["responses"] and "422" in upload["responses"]
    assert upload["x-permission"] == "health_data:read"
    assert paths["/api/v1/health-data/health"]["get"]["security"] == []
