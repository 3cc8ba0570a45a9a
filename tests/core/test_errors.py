"""Every failure answers in the caller's language: problem+json for the API, a styled page or an
htmx fragment for people, and never a traceback."""

import json
import logging

import pytest

from clinic_app.core.access import public


@pytest.fixture
def auth(app, tenants):
    """Bearer headers of an organization API token that may start consultations."""
    from tests.factories import api_token_for

    token = api_token_for(app, tenants.a.id, ["consultations:write"], creator=tenants.user("owner"))
    return {"Authorization": f"Bearer {token}"}


PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "error", "timestamp", "path"}


def assert_problem(response, status):
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body.keys() >= PROBLEM_FIELDS
    assert body["status"] == status
    assert body["error"] == body["title"]
    assert body["path"] == body["instance"]
    assert body["timestamp"].endswith("Z")
    return body


def test_missing_api_route_is_404_problem(client):
    body = assert_problem(client.get("/api/v1/no-such-thing"), 404)
    assert body["path"] == "/api/v1/no-such-thing"


def test_malformed_json_is_400_problem(client, auth):
    body = assert_problem(
        client.post("/api/v1/consultation/start", data="{not json", content_type="application/json", headers=auth),
        400,
    )
    assert "not valid JSON" in body["detail"]


def test_wrong_content_type_is_415_problem(client, auth):
    body = assert_problem(
        client.post("/api/v1/consultation/start", data="patient_id=3", content_type="text/plain", headers=auth),
        415,
    )
    assert "application/json" in body["detail"]


def test_oversized_body_is_413_problem(make_app, auth):
    client = make_app(MAX_CONTENT_LENGTH="1024").test_client()
    big = json.dumps({"patient_id": "pat_x", "chief_complaint": "x" * 4096})
    assert_problem(
        client.post("/api/v1/consultation/start", data=big, content_type="application/json", headers=auth), 413
    )


def test_validation_error_is_422_listing_each_field(client, auth):
    body = assert_problem(
        client.post("/api/v1/consultation/start", json={"patient_id": 5, "chief_complaint": ["soon"]}, headers=auth),
        422,
    )
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"patient_id", "chief_complaint"}


def test_wrong_method_is_405_problem_with_allow_header(client):
    response = client.delete("/api/v1/consultation/start")  # routing answers before authentication
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize(("path", "status"), [("/no-such-page", 404), ("/jobs/job_missing", 405)])
def test_browser_routes_get_styled_error_pages(login_as, path, status):
    client = login_as("admin")
    response = client.open(path, method="GET" if status == 404 else "PUT", headers={"Accept": "text/html"})
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<link rel="stylesheet"' in html
    assert f'<p class="error-code">{status}</p>' in html
    assert response.headers["X-Request-ID"] in html


def test_htmx_errors_are_fragments_aimed_at_the_alert_area(login_as):
    client = login_as("admin")
    response = client.get("/jobs/job_missing", headers={"HX-Request": "true", "Accept": "text/html"})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert 'role="alert"' in html
    assert response.headers["HX-Retarget"] == "#alerts"


@pytest.fixture
def exploding_app(make_app):
    app = make_app()

    @public
    def explode():
        raise RuntimeError("patient Jane Citizen caused a divide by zero")

    app.add_url_rule("/explode", "explode", explode)
    app.add_url_rule("/api/v1/explode", "api_explode", explode)
    return app


def test_unexpected_exception_is_a_500_page_with_correlation_id_and_no_traceback(exploding_app, caplog):
    caplog.set_level(logging.ERROR, logger="clinic_app.errors")
    response = exploding_app.test_client().get(
        "/explode", headers={"Accept": "text/html", "X-Request-ID": "req-abc-123"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "req-abc-123" in html
    assert "Traceback" not in html and "RuntimeError" not in html and "Jane" not in html
    records = [r for r in caplog.records if getattr(r, "event", None) == "unhandled_exception"]
    assert len(records) == 1
    assert records[0].request_id == "req-abc-123"
    assert records[0].exc_info is not None


def test_unexpected_exception_in_the_api_is_a_500_problem(exploding_app):
    body = assert_problem(exploding_app.test_client().get("/api/v1/explode"), 500)
    assert "Jane" not in json.dumps(body)
    assert body["request_id"]


def test_json_clients_outside_the_api_get_problems_too(client):
    assert_problem(client.get("/no-such-page", headers={"Accept": "application/json"}), 404)
