"""Two-factor sign-in with an authenticator app and recovery codes: enrolment, the second step of
the API and browser log-ins, replays, races, throttling, what is stored, and the organization's
"two-factor required" rule."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from clinic_app.accounts import service as accounts
from clinic_app.core.mail import wait_for_outbox
from clinic_app.core.sealed import unseal
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.mfa import challenges, totp
from clinic_app.mfa.models import TotpFactor
from tests.factories import PASSWORD, api_token_for, csrf_from, page_csrf, sign_in
from tests.live_server import LiveServer

STEP = totp.STEP_SECONDS


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The TOTP clock, moved by hand: ``clock.tick()`` goes to the next 30-second step."""

    class Clock:
        now = 1_800_000_000.0

        def tick(self, steps: int = 1) -> None:
            self.now += steps * STEP

    state = Clock()
    monkeypatch.setattr(totp, "clock", lambda: state.now)
    return state


def _code(secret: str, clock: Any, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now + offset_steps * STEP)


def _bearer(client: FlaskClient, email: str) -> str:
    answer = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).get_json()
    return answer["access_token"]


def enrol_over_api(client: FlaskClient, email: str, clock: Any) -> tuple[str, list[str]]:
    """Set up an authenticator app through the API; returns the key and the recovery codes."""
    headers = {"Authorization": f"Bearer {_bearer(client, email)}"}
    started = client.post("/api/v1/auth/mfa/totp", headers=headers)
    assert started.status_code == 201, started.get_json()
    secret = started.get_json()["secret"]
    assert started.get_json()["otpauth_uri"].startswith("otpauth://totp/")
    confirmed = client.post("/api/v1/auth/mfa/totp/confirm", headers=headers, json={"code": _code(secret, clock)})
    assert confirmed.status_code == 200, confirmed.get_json()
    codes = confirmed.get_json()["recovery_codes"]
    clock.tick()
    return secret, codes


def _login(client: FlaskClient, email: str) -> Any:
    return client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})


# --- the API ------------------------------------------------------------------------------------


def test_api_enrol_then_login_asks_for_the_code_and_verify_returns_tokens(
    app: Flask, client: FlaskClient, tenants: Any, clock: Any, smtp_server: Any
) -> None:
    user = tenants.user("clinician")
    secret, codes = enrol_over_api(client, user.email, clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
    # "Two-factor sign-in is on" reached the person.
    assert any(m["Subject"] == "Two-factor sign-in is on" for m in smtp_server.wait_for(1, to=user.email))

    answer = _login(client, user.email)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["mfa_required"] is True and "access_token" not in body
    assert body["methods"] == ["totp", "recovery_code"]
    assert body["mfa_token"].startswith("mfa_") and body["expires_in"] == 600

    verified = client.post(
        "/api/v1/auth/mfa/verify", json={"mfa_token": body["mfa_token"], "code": _code(secret, clock)}
    )
    assert verified.status_code == 200, verified.get_json()
    tokens = verified.get_json()
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200 and me.get_json()["user_id"] == user.id

    # The mfa_token was used up.
    again = client.post("/api/v1/auth/mfa/verify", json={"mfa_token": body["mfa_token"], "code": _code(secret, clock)})
    assert again.status_code == 401
    assert again.get_json()["code"] == "mfa_token_invalid"


def test_a_code_is_refused_when_replayed_within_its_window(client: FlaskClient, tenants: Any, clock: Any) -> None:
    user = tenants.user("admin")
    secret, _codes = enrol_over_api(client, user.email, clock)
    code = _code(secret, clock)
    first = _login(client, user.email).get_json()["mfa_token"]
    assert client.post("/api/v1/auth/mfa/verify", json={"mfa_token": first, "code": code}).status_code == 200
    second = _login(client, user.email).get_json()["mfa_token"]
    replay = client.post("/api/v1/auth/mfa/verify", json={"mfa_token": second, "code": code})
    assert replay.status_code == 401 and replay.get_json()["code"] == "mfa_code_invalid"
    # An older code (the previous step, still inside the drift window) is refused too.
    older = client.post("/api/v1/auth/mfa/verify", json={"mfa_token": second, "code": _code(secret, clock, -1)})
    assert older.status_code == 401
    clock.tick()
    fresh = client.post("/api/v1/auth/mfa/verify", json={"mfa_token": second, "code": _code(secret, clock)})
    assert fresh.status_code == 200


def test_a_recovery_code_works_once_and_is_mailed(
    client: FlaskClient, tenants: Any, clock: Any, smtp_server: Any
) -> None:
    user = tenants.user("receptionist")
    _secret, codes = enrol_over_api(client, user.email, clock)
    token = _login(client, user.email).get_json()["mfa_token"]
    used = client.post("/api/v1/auth/mfa/verify", json={"mfa_token": token, "code": codes[3].upper()})
    assert used.status_code == 200
    wait_for_outbox()
    subjects = [m["Subject"] for m in smtp_server.wait_for(2, to=user.email)]
    assert "A recovery code was used to sign in" in subjects
    token = _login(client, user.email).get_json()["mfa_token"]
    assert client.post("/api/v1/auth/mfa/verify", json={"mfa_token": token, "code": codes[3]}).status_code == 401
    assert client.post("/api/v1/auth/mfa/verify", json={"mfa_token": token, "code": codes[4]}).status_code == 200
    with client.application.app_context():
        used = db.session.execute(
            text("SELECT target_id FROM audit_events WHERE action = 'mfa.recovery_code_used'")
        ).scalars()
        assert used.all() == [user.id, user.id]  # each use is audited, the refused one is not a use


def test_five_wrong_codes_end_the_mfa_token(client: FlaskClient, tenants: Any, clock: Any) -> None:
    user = tenants.user("clinician")
    secret, _codes = enrol_over_api(client, user.email, clock)
    token = _login(client, user.email).get_json()["mfa_token"]
    for _ in range(5):
        wrong = client.post("/api/v1/auth/mfa/verify", json={"mfa_token": token, "code": "000000"})
        assert wrong.status_code == 401
    right = client.post("/api/v1/auth/mfa/verify", json={"mfa_token": token, "code": _code(secret, clock)})
    assert right.status_code == 401 and right.get_json()["code"] == "mfa_token_invalid"


def test_verification_is_throttled_across_new_log_ins_with_the_contract_headers(
    app: Flask, client: FlaskClient, tenants: Any, clock: Any
) -> None:
    user = tenants.user("clinician")
    enrol_over_api(client, user.email, clock)
    statuses = []
    for _ in range(3):
        token = _login(client, user.email).get_json()["mfa_token"]
        for _ in range(4):
            statuses.append(client.post("/api/v1/auth/mfa/verify", json={"mfa_token": token, "code": "123456"}))
    refused = [r for r in statuses if r.status_code == 429]
    assert [r.status_code for r in statuses[:10]] == [401] * 10
    assert refused, "an eleventh code within 15 minutes is throttled"
    assert refused[0].headers["X-RateLimit-Limit"] == "10"
    assert refused[0].headers["X-RateLimit-Remaining"] == "0"
    assert int(refused[0].headers["X-RateLimit-Reset"]) > time.time()
    assert int(refused[0].headers["Retry-After"]) > 0
    assert refused[0].mimetype == "application/problem+json"
    with app.app_context():
        actions = db.session.execute(text("SELECT action FROM audit_events")).scalars().all()
    assert "auth.second_factor_throttled" in actions
    assert actions.count("auth.second_factor_failed") == 10


def test_one_mfa_token_gives_tokens_once_under_concurrency(app: Flask, tenants: Any, clock: Any) -> None:
    user = tenants.user("clinician")
    _secret, codes = enrol_over_api(app.test_client(), user.email, clock)
    with LiveServer(app) as server:
        token = httpx.post(f"{server.url}/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
        mfa_token = token.json()["mfa_token"]

        def verify(code: str) -> int:
            return httpx.post(
                f"{server.url}/api/v1/auth/mfa/verify", json={"mfa_token": mfa_token, "code": code}, timeout=30
            ).status_code

        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(pool.map(verify, codes[:6]))
    assert statuses.count(200) == 1, statuses
    with app.app_context():
        used = db.session.execute(text("SELECT count(*) FROM recovery_codes WHERE used_at IS NOT NULL")).scalar()
        families = db.session.execute(
            text("SELECT count(*) FROM token_families WHERE user_id = :u"), {"u": user.id}
        ).scalar()
    # Two logins through the helper (one for enrolment), one through the race: the race made one.
    assert families == 2
    assert used >= 1


def test_secrets_are_stored_sealed_and_hashed(app: Flask, client: FlaskClient, tenants: Any, clock: Any) -> None:
    user = tenants.user("owner")
    secret, codes = enrol_over_api(client, user.email, clock)
    token = _login(client, user.email).get_json()["mfa_token"]
    with app.app_context():
        sealed = db.session.execute(text("SELECT secret_sealed FROM totp_factors")).scalar()
        hashes = db.session.execute(text("SELECT code_hash FROM recovery_codes")).scalars().all()
        challenge = db.session.execute(text("SELECT secret_hash FROM mfa_challenges")).scalars().all()
    assert secret not in sealed and sealed.startswith("m1:")
    assert len(hashes) == 10
    for code in codes:
        assert code not in hashes and code.replace("-", "") not in hashes
    assert token not in challenge


def test_enrolment_needs_the_right_first_code_and_cannot_be_started_twice(
    client: FlaskClient, tenants: Any, clock: Any
) -> None:
    user = tenants.user("clinician")
    headers = {"Authorization": f"Bearer {_bearer(client, user.email)}"}
    secret = client.post("/api/v1/auth/mfa/totp", headers=headers).get_json()["secret"]
    wrong = client.post("/api/v1/auth/mfa/totp/confirm", headers=headers, json={"code": "12345"})
    assert wrong.status_code == 422
    assert wrong.get_json()["errors"][0]["field"] == "code"
    # Until confirmed, the log-in does not ask for a code.
    assert "access_token" in _login(client, user.email).get_json()
    ok = client.post("/api/v1/auth/mfa/totp/confirm", headers=headers, json={"code": _code(secret, clock)})
    assert ok.status_code == 200
    assert client.post("/api/v1/auth/mfa/totp", headers=headers).status_code == 409
    status = client.get("/api/v1/auth/mfa", headers=headers).get_json()
    assert status == {
        "methods": ["totp", "recovery_code"],
        "totp": True,
        "passkeys": 0,
        "recovery_codes_left": 10,
        "required": False,
    }


def test_removing_the_app_needs_the_password_and_is_mailed(
    app: Flask, client: FlaskClient, tenants: Any, clock: Any, smtp_server: Any
) -> None:
    user = tenants.user("clinician")
    enrol_over_api(client, user.email, clock)
    token = _login(client, user.email).get_json()["mfa_token"]
    assert token
    headers = {"Authorization": f"Bearer {access_token_after_mfa(client, user.email, clock)}"}
    wrong = client.delete("/api/v1/auth/mfa/totp", headers=headers, json={"password": "not it at all"})
    assert wrong.status_code == 422
    removed = client.delete("/api/v1/auth/mfa/totp", headers=headers, json={"password": PASSWORD})
    assert removed.status_code == 204
    wait_for_outbox()
    assert "An authenticator app was removed" in [m["Subject"] for m in smtp_server.wait_for(2, to=user.email)]
    assert "access_token" in _login(client, user.email).get_json()
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM recovery_codes")).scalar() == 0
        actions = db.session.execute(text("SELECT action FROM audit_events")).scalars().all()
    assert "mfa.totp_removed" in actions and "mfa.totp_enabled" in actions


def access_token_after_mfa(client: FlaskClient, email: str, clock: Any) -> str:
    with client.application.app_context():
        secret = _secret_of(email)
    clock.tick()
    token = _login(client, email).get_json()["mfa_token"]
    answer = client.post("/api/v1/auth/mfa/verify", json={"mfa_token": token, "code": _code(secret, clock)})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["access_token"]


def _secret_of(email: str) -> str:
    user = accounts.find_by_email(email)
    row = db.session.query(TotpFactor).filter_by(user_id=user.id).one()
    return unseal(totp.SEAL_PURPOSE, user.id, row.secret_sealed).decode()


def test_an_organization_api_token_has_no_second_factor(app: Flask, client: FlaskClient, tenants: Any) -> None:
    token = api_token_for(app, tenants.a.id, ["patients:read"], creator=tenants.user("owner"))
    answer = client.get("/api/v1/auth/mfa", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403


# --- the browser --------------------------------------------------------------------------------


def test_browser_enrol_with_the_qr_page_then_sign_in_with_password_and_code(
    app: Flask, tenants: Any, clock: Any
) -> None:
    user = tenants.user("clinician")
    browser = app.test_client()
    assert sign_in(browser, user.email).status_code == 303
    page = browser.get("/account/security").get_data(as_text=True)
    assert "Set up an authenticator app" in page
    started = browser.post("/account/security/totp", data={"csrf_token": csrf_from(page)})
    assert started.status_code == 303 and started.headers["Location"].endswith("/account/security/totp/setup")
    setup = browser.get("/account/security/totp/setup")
    html = setup.get_data(as_text=True)
    assert setup.headers["Cache-Control"] == "no-store"
    assert "<svg" in html and 'class="segno"' in html
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', html).group(1)
    wrong = browser.post("/account/security/totp/setup", data={"csrf_token": csrf_from(html), "code": "000000"})
    assert wrong.status_code == 422 and "That code is not right" in wrong.get_data(as_text=True)
    done = browser.post(
        "/account/security/totp/setup", data={"csrf_token": csrf_from(html), "code": _code(secret, clock)}
    )
    assert done.status_code == 200
    shown = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", done.get_data(as_text=True))
    assert len(shown) == 10
    clock.tick()

    fresh = app.test_client()
    first = sign_in(fresh, user.email)
    assert first.status_code == 303 and first.headers["Location"].endswith("/login/verify")
    # Not signed in yet: a page needing a session sends to the log-in.
    assert fresh.get("/account").status_code == 302
    verify_page = fresh.get("/login/verify").get_data(as_text=True)
    code = _code(secret, clock)
    ok = fresh.post("/login/verify", data={"csrf_token": csrf_from(verify_page), "code": code})
    assert ok.status_code == 303
    assert fresh.get("/account").status_code == 200

    # The same code at another sign-in is refused.
    other = app.test_client()
    sign_in(other, user.email)
    verify_page = other.get("/login/verify").get_data(as_text=True)
    replay = other.post("/login/verify", data={"csrf_token": csrf_from(verify_page), "code": code})
    assert replay.status_code == 401 and "already used" in replay.get_data(as_text=True)
    # A recovery code works once.
    ok = other.post("/login/verify", data={"csrf_token": csrf_from(verify_page), "code": shown[0]})
    assert ok.status_code == 303
    third = app.test_client()
    sign_in(third, user.email)
    verify_page = third.get("/login/verify").get_data(as_text=True)
    assert third.post("/login/verify", data={"csrf_token": csrf_from(verify_page), "code": shown[0]}).status_code == 401


def test_the_verify_page_without_a_pending_sign_in_goes_back_to_the_log_in(client: FlaskClient) -> None:
    answer = client.get("/login/verify")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/login")


# --- the organization's rule --------------------------------------------------------------------


def test_owner_requires_two_factor_for_admins_and_an_admin_is_sent_to_enrolment(
    app: Flask, tenants: Any, clock: Any
) -> None:
    owner = app.test_client()
    sign_in(owner, tenants.user("owner").email)
    page = owner.get("/account/security").get_data(as_text=True)
    assert "who must use it" in page
    # The owner must have a factor first.
    refused = owner.post("/account/security/organization", data={"csrf_token": csrf_from(page), "policy": "admins"})
    assert refused.status_code == 422 and "for your own account first" in refused.get_data(as_text=True)
    enrol_over_api(app.test_client(), tenants.user("owner").email, clock)
    saved = owner.post("/account/security/organization", data={"csrf_token": csrf_from(page), "policy": "admins"})
    assert saved.status_code == 303

    admin = app.test_client()
    signed_in = sign_in(admin, tenants.user("admin").email)
    # The sign-in itself lands on the enrolment page, whatever page was asked for ...
    assert signed_in.status_code == 303 and signed_in.headers["Location"].endswith("/account/security")
    assert "requires two-factor sign-in" in admin.get("/account/security").get_data(as_text=True)
    # ... and every other page sends there until a second factor is set up.
    sent = admin.get("/patients")
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/account/security")
    hx = admin.get("/patients", headers={"HX-Request": "true"})
    assert hx.headers["HX-Redirect"].endswith("/account/security")
    assert admin.get("/account/security").status_code == 200
    token = _bearer(app.test_client(), tenants.user("admin").email)
    api = app.test_client().get(
        f"/api/v1/patients/{tenants.a.id}/patients", headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 403 and api.get_json()["code"] == "mfa_enrolment_required"
    # A clinician is not concerned by "admins".
    clinician = app.test_client()
    sign_in(clinician, tenants.user("clinician").email)
    assert clinician.get("/patients").status_code == 200

    enrol_over_api(app.test_client(), tenants.user("admin").email, clock)
    assert admin.get("/patients").status_code == 200
    assert (
        app.test_client()
        .get(f"/api/v1/patients/{tenants.a.id}/patients", headers={"Authorization": f"Bearer {token}"})
        .status_code
        == 200
    )
    with app.app_context():
        actions = db.session.execute(text("SELECT action FROM audit_events")).scalars().all()
    assert "organization.two_factor_policy_changed" in actions


def test_only_the_owner_may_set_the_rule(app: Flask, tenants: Any) -> None:
    admin = app.test_client()
    sign_in(admin, tenants.user("admin").email)
    page = admin.get("/account/security").get_data(as_text=True)
    assert "who must use it" not in page
    answer = admin.post("/account/security/organization", data={"csrf_token": page_csrf(admin), "policy": "off"})
    assert answer.status_code == 403


def test_challenges_are_purged_a_day_after_they_end(app: Flask, tenants: Any) -> None:
    with app.app_context():
        _old, row = challenges.open_challenge(challenges.SIGN_IN, user_id=tenants.user("owner").id)
        _new, kept = challenges.open_challenge(challenges.SIGN_IN, user_id=tenants.user("owner").id)
        row.expires_at = utcnow() - timedelta(days=1, minutes=1)
        db.session.commit()
        assert challenges.purge_expired() == 1
        left = db.session.execute(text("SELECT id FROM mfa_challenges")).scalars().all()
    assert left == [kept.id]


def test_the_operations_are_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    enrolment = {
        ("/api/v1/auth/mfa/totp", "post"): "201",
        ("/api/v1/auth/mfa/totp/confirm", "post"): "200",
        ("/api/v1/auth/mfa/totp", "delete"): "204",
    }
    for (path, method), success in enrolment.items():
        operation = paths[path][method]
        assert operation["security"] == [{"bearerAuth": []}], path
        assert {success, "401", "429"} <= set(operation["responses"]), path
    verify = paths["/api/v1/auth/mfa/verify"]["post"]
    assert verify["security"] == [] and {"200", "401", "429"} <= set(verify["responses"])
