"""Text that cannot be stored (NUL and other control characters, lone surrogates) is refused where
it enters, with a 4xx, on SQLite and PostgreSQL alike (PostgreSQL used to answer 500)."""

from __future__ import annotations

import pytest

from clinic_app.core import text
from tests.factories import access_token_for, sign_in

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    ("value", "bad"),
    [("plain", False), ("tab\tand\nlines\r", False), ("a\x00b", True), ("\ud800", True), ("bell\x07", True)],
)
def test_what_counts_as_unusable(value, bad):
    assert text.unusable(value) is bad


def test_json_bodies_with_a_nul_or_a_lone_surrogate_are_422_naming_the_field(client, tenants):
    for body in (
        '{"email": "owner@harbour.example", "password": "\\ud800"}',
        '{"email": "a\\u0000b", "password": "x"}',
    ):
        response = client.post("/api/v1/auth/login", data=body, content_type="application/json")
        assert response.status_code == 422 and response.mimetype == PROBLEM
        assert response.get_json()["errors"][0]["field"] in ("password", "email")
    refresh = client.post("/api/v1/auth/refresh", data='{"refresh_token": "\\ud800"}', content_type="application/json")
    assert refresh.status_code == 422


def test_ids_and_query_values_with_a_nul_are_404_and_422(app, client, tenants):
    headers = {"Authorization": f"Bearer {access_token_for(app, tenants.user('clinician'))}"}
    missing = client.get("/api/v1/patients/pat_a%00b", headers=headers)
    assert missing.status_code == 404 and missing.mimetype == PROBLEM
    query = client.get("/api/v1/reports/list?patient_id=a%00b", headers=headers)
    assert query.status_code == 422 and query.get_json()["errors"][0]["field"] == "patient_id"


def test_pages_and_forms_answer_4xx_not_500(app, client, login_as, tenants):
    receptionist = login_as("receptionist")
    assert receptionist.get("/patients/a%00b").status_code == 404
    assert receptionist.get("/patients?q=a%00b").status_code == 422
    refused = sign_in(app.test_client(), "a\x00b@harbour.example")
    assert refused.status_code in (401, 422)
