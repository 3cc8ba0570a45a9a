"""JSON bodies nested deeper than ``core.api.MAX_JSON_DEPTH`` are a 400 problem+json wherever they
are sent, the unauthenticated login included (a thousand levels was a RecursionError, a 500)."""

from __future__ import annotations

import json

import pytest

from clinic_app.core.api import MAX_JSON_DEPTH
from tests.factories import PASSWORD, access_token_for


def nested_list(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def login_body(extra_depth: int) -> str:
    """A login body whose ``extra`` field makes the whole document ``extra_depth + 1`` deep."""
    return '{"email": "x@example.com", "password": "y", "extra": ' + nested_list(extra_depth) + "}"


def assert_too_deep(response):
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == 400 and "nested too deeply" in body["detail"]
    assert body["path"] == body["instance"]


@pytest.mark.parametrize(
    "body",
    [nested_list(1000), nested_object(1000), nested_list(100_000), login_body(999)],
    ids=["list-1000", "object-1000", "list-100000", "login-field-1000"],
)
def test_a_deeply_nested_login_body_is_a_400_problem(client, body):
    assert_too_deep(client.post("/api/v1/auth/login", data=body, content_type="application/json"))


def test_one_level_past_the_limit_is_refused_and_the_limit_itself_is_read(client, tenants):
    assert_too_deep(client.post("/api/v1/auth/login", data=login_body(MAX_JSON_DEPTH), content_type="application/json"))
    within = json.loads(login_body(MAX_JSON_DEPTH - 1))
    within.update(email=tenants.user("clinician").email, password=PASSWORD)
    response = client.post("/api/v1/auth/login", json=within)  # 32 levels: read, and the extra field ignored
    assert response.status_code == 200 and "access_token" in response.get_json()


def test_deep_bodies_are_refused_on_signed_in_endpoints_too(app, client, tenants):
    token = access_token_for(app, tenants.user("receptionist"))
    headers = {"Authorization": f"Bearer {token}"}
    body = '{"patient_id": ' + nested_object(2000) + "}"
    assert_too_deep(client.post("/api/v1/appointments", data=body, content_type="application/json", headers=headers))
    # A shallow but wrong body is still a 422 per field, not a 400.
    response = client.post("/api/v1/appointments", json={"patient_id": [[1]]}, headers=headers)
    assert response.status_code == 422
