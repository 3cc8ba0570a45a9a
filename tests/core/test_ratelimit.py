"""Rate limits through HTTP, as the contract states them: tiers by path, the X-RateLimit-* and
Retry-After headers, the documented 429 body, one budget per caller, and (with Redis) one counter
shared by every web process. Tier limits are lowered per test so nothing waits for 100 requests."""

from __future__ import annotations

import logging
import os
import re
import secrets
import time

import pytest
from limits import parse

from clinic_app.core import ratelimit
from clinic_app.core.ratelimit import Tier, tier_for
from tests.factories import access_token_for, api_token_for

REDIS_URL = os.environ.get("REDIS_URL")
JSON = {"Accept": "application/json"}


@pytest.fixture
def limit(monkeypatch):
    """``limit("public", "3/15minutes")`` lowers a tier for this test (``key`` renames its counters)."""

    def lower(tier: str, amount: str, *, key: str | None = None) -> Tier:
        replacement = Tier(key or tier, parse(amount))
        monkeypatch.setitem(ratelimit.TIERS, tier, replacement)
        return replacement

    return lower


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


# --- headers and the 429 answer ---------------------------------------------------------------


def test_a_normal_response_carries_the_rate_limit_headers(client, limit):
    limit("public", "3/15minutes")
    started = time.time()
    response = client.get("/health", headers=JSON)
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "2"
    reset = int(response.headers["X-RateLimit-Reset"])  # epoch seconds when the window ends
    assert started + 900 <= reset <= time.time() + 901
    assert 899 <= int(response.headers["Retry-After"]) <= 900  # never longer than the window

    again = client.get("/health", headers=JSON)
    assert again.headers["X-RateLimit-Remaining"] == "1"
    assert again.headers["X-RateLimit-Reset"] == str(reset)  # the same fixed window


def test_going_over_the_limit_answers_429_with_the_documented_body(client, limit):
    limit("public", "3/15minutes")
    for _ in range(3):
        assert client.get("/health", headers=JSON).status_code == 200

    response = client.get("/health", headers=JSON)
    body = response.get_json()
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert body["error"] == "Rate limit exceeded"
    assert re.fullmatch(r"Too many requests\. Try again in \d+ seconds\.", body["detail"])
    assert set(body["rate_limit"]) == {"limit", "remaining", "reset_time", "retry_after"}
    assert body["rate_limit"]["limit"] == 3
    assert body["rate_limit"]["remaining"] == 0
    assert 1 <= body["rate_limit"]["retry_after"] <= 900
    assert f"in {body['rate_limit']['retry_after']} seconds" in body["detail"]
    # The headers say the same as the body.
    assert response.headers["Retry-After"] == str(body["rate_limit"]["retry_after"])
    assert response.headers["X-RateLimit-Reset"] == str(body["rate_limit"]["reset_time"])
    assert response.headers["X-RateLimit-Limit"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert body["status"] == 429 and body["path"] == "/health"


def test_api_paths_answer_429_as_problem_json_whatever_the_client_accepts(client, limit):
    limit("api", "1/15minutes")
    client.get("/api/v1/health/db")
    response = client.get("/api/v1/health/db", headers={"Accept": "text/html"})
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["rate_limit"]["limit"] == 1
    assert "Retry-After" in response.headers


def test_a_browser_over_the_limit_gets_a_page_with_the_same_headers(client, limit):
    limit("public", "1/15minutes")
    client.get("/", headers={"Accept": "text/html"})
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert "Too many requests" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) >= 1


# --- tiers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "tier"),
    [
        ("/", "public"),
        ("/health", "public"),
        ("/docs", "public"),
        ("/redoc", "public"),
        ("/api/v1", "api"),
        ("/api/v1/health/db", "api"),
        ("/api/v1/auth/login", "api"),
        ("/api/v1/sync", "sync"),
        ("/api/v1/sync/trigger", "sync"),
        ("/api/v1/sync/progress/sync_1", "sync"),
        ("/api/v1/cliniko/sync/org_1", "sync"),
        ("/api/v1/cliniko", "sync"),
        ("/api/v1/clinikoish", "api"),
        ("/api/v1/synchronise", "api"),
        ("/api/v1/admin", "admin"),
        ("/api/v1/admin/monitoring/system-health", "admin"),
        ("/api/v1/administrators", "api"),
        ("/login", None),
        ("/audit", None),
        ("/healthz", None),
        ("/static/css/app.css", None),
    ],
)
def test_paths_map_to_their_tier(path, tier):
    found = tier_for(path)
    assert (found.name if found else None) == tier


def test_each_tier_has_its_own_limit_and_budget(client, limit):
    limit("public", "3/15minutes")
    limit("api", "4/15minutes")
    limit("sync", "2/15minutes")
    limit("admin", "1/15minutes")
    # Paths that name no route 404, and are still counted (the limit runs before routing
    # answers, so probing for routes spends the budget too).
    sync = client.get("/api/v1/sync/status")
    admin = client.get("/api/v1/admin/no-such-route")
    assert (sync.status_code, sync.headers["X-RateLimit-Limit"]) == (404, "2")
    assert (admin.status_code, admin.headers["X-RateLimit-Limit"]) == (404, "1")
    assert client.get("/api/v1/health/db").headers["X-RateLimit-Limit"] == "4"
    assert client.get("/health", headers=JSON).headers["X-RateLimit-Limit"] == "3"

    assert client.get("/api/v1/admin/anything").status_code == 429
    assert client.get("/api/v1/sync/status").headers["X-RateLimit-Remaining"] == "0"
    assert client.get("/api/v1/sync/status").status_code == 429
    # Spending the admin and sync budgets leaves the general API budget alone.
    response = client.get("/api/v1/health/db")
    assert response.status_code == 200 and response.headers["X-RateLimit-Remaining"] == "2"


def test_pages_outside_the_tiers_are_not_limited(client, limit):
    limit("public", "1/15minutes")
    for _ in range(3):
        response = client.get("/login")
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers


# --- whose budget -----------------------------------------------------------------------------


def test_each_api_token_has_its_own_budget(app, client, tenants, limit):
    limit("api", "2/15minutes")
    owner = tenants.user("owner")
    first = api_token_for(app, tenants.a.id, ["organization:member"], creator=owner)
    second = api_token_for(app, tenants.a.id, ["organization:member"], creator=owner)

    for remaining in ("1", "0"):
        response = client.get("/api/v1/auth/verify", headers=bearer(first))
        assert (response.status_code, response.headers["X-RateLimit-Remaining"]) == (200, remaining)
    assert client.get("/api/v1/auth/verify", headers=bearer(first)).status_code == 429

    response = client.get("/api/v1/auth/verify", headers=bearer(second))
    assert (response.status_code, response.headers["X-RateLimit-Remaining"]) == (200, "1")


def test_a_person_has_one_budget_across_their_access_tokens(app, client, tenants, limit):
    limit("api", "2/15minutes")
    clinician, admin = tenants.user("clinician"), tenants.user("admin")
    one, two = access_token_for(app, clinician), access_token_for(app, clinician)

    assert client.get("/api/v1/auth/me", headers=bearer(one)).headers["X-RateLimit-Remaining"] == "1"
    assert client.get("/api/v1/auth/me", headers=bearer(two)).headers["X-RateLimit-Remaining"] == "0"
    assert client.get("/api/v1/auth/me", headers=bearer(one)).status_code == 429
    # Someone else calling from the same address is not affected.
    response = client.get("/api/v1/auth/me", headers=bearer(access_token_for(app, admin)))
    assert (response.status_code, response.headers["X-RateLimit-Remaining"]) == (200, "1")


def test_anonymous_callers_share_one_budget_per_address(app, limit):
    limit("public", "2/15minutes")
    first, second = app.test_client(), app.test_client()  # two clients, one address (127.0.0.1)
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"

    assert first.get("/health", headers=JSON).headers["X-RateLimit-Remaining"] == "1"
    assert second.get("/health", headers=JSON).headers["X-RateLimit-Remaining"] == "0"
    assert first.get("/health", headers=JSON).status_code == 429
    response = elsewhere.get("/health", headers=JSON)
    assert (response.status_code, response.headers["X-RateLimit-Remaining"]) == (200, "1")


def test_authenticated_calls_do_not_spend_the_addresss_budget(app, client, tenants, limit):
    limit("api", "1/15minutes")
    token = api_token_for(app, tenants.a.id, ["organization:member"], creator=tenants.user("owner"))
    client.get("/api/v1/health/db")
    assert client.get("/api/v1/health/db").status_code == 429  # the address is out of budget
    assert client.get("/api/v1/auth/verify", headers=bearer(token)).status_code == 200


def test_an_invalid_token_is_counted_against_the_address(client, limit):
    limit("api", "1/15minutes")
    assert client.get("/api/v1/auth/verify", headers=bearer("ct_not-a-real-token")).status_code == 401
    assert client.get("/api/v1/health/db").status_code == 429


# --- switches and storage ---------------------------------------------------------------------


def test_rate_limits_can_be_switched_off(make_app, limit):
    limit("public", "1/15minutes")
    client = make_app(RATELIMIT_ENABLED="false").test_client()
    for _ in range(3):
        response = client.get("/health", headers=JSON)
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers and "Retry-After" not in response.headers


def test_storage_down_lets_requests_through_and_logs_it(make_app, limit, caplog):
    limit("public", "1/15minutes")
    client = make_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0").test_client()  # nothing listens there
    with caplog.at_level(logging.WARNING):
        responses = [client.get("/health", headers=JSON) for _ in range(2)]
    assert [r.status_code for r in responses] == [200, 200]
    assert "X-RateLimit-Limit" not in responses[0].headers
    assert any(getattr(r, "event", None) == "ratelimit_storage_error" for r in caplog.records)


@pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set (CI sets it): the shared counter needs Redis.")
def test_app_instances_share_one_counter_in_redis(make_app, limit):
    from redis import Redis

    # A tier name of our own keeps the keys apart from anything else in this Redis database.
    tier = limit("public", "3/15minutes", key=f"test-public-{secrets.token_hex(8)}")
    one = make_app(RATELIMIT_STORAGE_URI=REDIS_URL).test_client()
    two = make_app(RATELIMIT_STORAGE_URI=REDIS_URL).test_client()
    redis = Redis.from_url(REDIS_URL)
    try:
        assert one.get("/health", headers=JSON).headers["X-RateLimit-Remaining"] == "2"
        assert two.get("/health", headers=JSON).headers["X-RateLimit-Remaining"] == "1"
        assert one.get("/health", headers=JSON).headers["X-RateLimit-Remaining"] == "0"
        response = two.get("/health", headers=JSON)
        assert response.status_code == 429
        assert response.get_json()["rate_limit"]["limit"] == 3
        assert list(redis.scan_iter(match=f"*{tier.name}*"))  # the counter really lives in Redis
    finally:
        keys = list(redis.scan_iter(match=f"*{tier.name}*"))
        if keys:
            redis.delete(*keys)
        redis.close()
