"""Done-when 4: CORS for the JSON API and FHIR. An allowed origin gets its preflight and its
bearer-token request answered with CORS headers; another origin gets none; no request that
authenticates with the browser session cookie is accepted cross-origin; never ``*``."""

from __future__ import annotations

import pytest

from clinic_app.core import cors
from clinic_app.core.audit import Actor
from clinic_app.extensions import db
from clinic_app.webhooks import log
from tests.factories import access_token_for

ALLOWED = "https://app.partner.example"
OTHERS = "https://app.other.example"


@pytest.fixture
def origins(app, tenants):
    with app.app_context():
        log.set_cors_origins(tenants.a.id, [ALLOWED], actor=Actor())
        log.set_cors_origins(tenants.b.id, [OTHERS], actor=Actor())
        db.session.commit()


def _preflight(client, path, origin):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def test_a_preflight_from_an_allowed_origin_is_answered_without_credentials(app, tenants, origins):
    response = _preflight(app.test_client(), f"/api/v1/webhooks/{tenants.a.id}/endpoints", ALLOWED)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers["Vary"]


def test_a_preflight_from_an_unknown_origin_gets_no_cors_headers(app, tenants, origins):
    response = _preflight(app.test_client(), "/fhir/R4/Patient", "https://evil.example")
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers


def test_the_actual_request_with_a_bearer_token_is_readable_by_the_allowed_origin_only(app, tenants, origins):
    token = access_token_for(app, tenants.user("admin"))
    client = app.test_client()
    url = f"/api/v1/webhooks/{tenants.a.id}/endpoints"
    ok = client.get(url, headers={"Origin": ALLOWED, "Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Access-Control-Allow-Credentials" not in ok.headers
    # An origin another organization allows is not this organization's: no CORS headers.
    other = client.get(url, headers={"Origin": OTHERS, "Authorization": f"Bearer {token}"})
    assert "Access-Control-Allow-Origin" not in other.headers
    stranger = client.get(url, headers={"Origin": "https://evil.example", "Authorization": f"Bearer {token}"})
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_a_cookie_authenticated_request_is_refused_cross_origin(app, tenants, origins, login_as):
    client = login_as("admin")  # a signed-in browser
    url = f"/api/v1/webhooks/{tenants.a.id}/endpoints"
    assert client.get(url).status_code == 200  # same-origin: fine
    for origin in (ALLOWED, "https://evil.example", "null"):
        refused = client.get(url, headers={"Origin": origin})
        assert refused.status_code == 403, origin
        assert refused.get_json()["detail"] == cors.COOKIE_REFUSED
        assert "endpoints" not in refused.get_json()
    # Writes too: nothing is created.
    refused = client.post(url, json={"url": "https://hooks.example.com/x"}, headers={"Origin": ALLOWED})
    assert refused.status_code == 403
    assert client.get(url).get_json()["endpoints"] == []


def test_the_apps_own_origin_is_not_cross_origin(app, tenants, login_as):
    client = login_as("admin")
    own = app.config["PUBLIC_URL"]
    response = client.get(f"/api/v1/webhooks/{tenants.a.id}/endpoints", headers={"Origin": own})
    assert response.status_code == 200 and "Access-Control-Allow-Origin" not in response.headers


def test_pages_outside_the_api_never_answer_cross_origin(app, tenants, origins, login_as):
    client = login_as("admin")
    response = client.get("/settings/integrations", headers={"Origin": ALLOWED})
    assert response.status_code == 200 and "Access-Control-Allow-Origin" not in response.headers
    preflight = _preflight(app.test_client(), "/settings/integrations", ALLOWED)
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_an_error_answer_is_readable_by_an_allowed_origin(app, tenants, origins):
    response = app.test_client().get(f"/api/v1/webhooks/{tenants.a.id}/endpoints", headers={"Origin": ALLOWED})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_no_answer_ever_carries_a_wildcard(app, tenants, origins):
    token = access_token_for(app, tenants.user("admin"))
    client = app.test_client()
    for origin in (ALLOWED, OTHERS, "https://evil.example", "null"):
        for response in (
            _preflight(client, "/api/v1/auth/verify", origin),
            client.get(
                f"/api/v1/webhooks/{tenants.a.id}/endpoints",
                headers={"Origin": origin, "Authorization": f"Bearer {token}"},
            ),
        ):
            assert response.headers.get("Access-Control-Allow-Origin") in (None, origin)
            assert "Access-Control-Allow-Credentials" not in response.headers
