"""An account's whole life through the API alone, reading the mail from a local SMTP server:
register → 202 → confirm → log in; forgot → reset → the old password, refresh token and browser
session refused; two-factor enrolment → the log-in answers mfa_required → verify gives tokens."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from clinic_app.core.mail import wait_for_outbox
from clinic_app.mfa import totp
from tests.factories import PASSWORD, sign_in

EMAIL = "lee@riverbend.example"
NEW_PASSWORD = "a different long passphrase"


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> float:
    now = 1_800_000_000.0
    monkeypatch.setattr(totp, "clock", lambda: now)
    return now


def _code_from(smtp_server: Any, subject: str) -> str:
    wait_for_outbox()
    message = next(m for m in reversed(smtp_server.messages) if m["Subject"] == subject and str(m["To"]) == EMAIL)
    return re.search(r"\b(\d{6})\b", message.get_content()).group(1)


def test_register_confirm_reset_and_two_factor_through_the_api(
    app: Flask, client: FlaskClient, smtp_server: Any, fixed_clock: float
) -> None:
    registered = client.post(
        "/api/v1/auth/register",
        json={
            "name": "Lee Morgan",
            "email": EMAIL,
            "password": PASSWORD,
            "practice_name": "Riverbend Psychology",
            "time_zone": "Australia/Brisbane",
        },
    )
    assert registered.status_code == 202
    refused = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert refused.status_code == 403 and refused.get_json()["code"] == "email_confirmation_required"
    smtp_server.wait_for(1, to=EMAIL)
    code = _code_from(smtp_server, "Confirm your e-mail address")
    assert client.post("/api/v1/auth/confirm-email", json={"email": EMAIL, "code": code}).status_code == 200
    first = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert first.status_code == 200 and first.get_json()["user"]["is_verified"] is True
    old_refresh = first.get_json()["refresh_token"]
    browser = app.test_client()
    assert sign_in(browser, EMAIL).status_code == 303

    # Forgot → reset: an unknown address answers exactly as a known one.
    known = client.post("/api/v1/auth/forgot-password", json={"email": EMAIL})
    unknown = client.post("/api/v1/auth/forgot-password", json={"email": "nobody@riverbend.example"})
    assert (known.status_code, known.get_json()) == (unknown.status_code, unknown.get_json())
    assert known.status_code == 202
    smtp_server.wait_for(2, to=EMAIL)
    reset_code = _code_from(smtp_server, "Reset your password")
    reset = client.post(
        "/api/v1/auth/reset-password", json={"email": EMAIL, "code": reset_code, "new_password": NEW_PASSWORD}
    )
    assert reset.status_code == 200
    assert client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": old_refresh}).status_code == 401
    assert browser.get("/account").status_code == 302

    # Two-factor: enrol, confirm, and the log-in asks for the second step.
    tokens = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": NEW_PASSWORD}).get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    secret = client.post("/api/v1/auth/mfa/totp", headers=headers).get_json()["secret"]
    confirm = client.post(
        "/api/v1/auth/mfa/totp/confirm", headers=headers, json={"code": pyotp.TOTP(secret).at(fixed_clock)}
    )
    assert confirm.status_code == 200 and len(confirm.get_json()["recovery_codes"]) == 10
    login = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": NEW_PASSWORD}).get_json()
    assert login["mfa_required"] is True and "refresh_token" not in login
    verified = client.post(
        "/api/v1/auth/mfa/verify",
        json={"mfa_token": login["mfa_token"], "code": pyotp.TOTP(secret).at(fixed_clock + totp.STEP_SECONDS)},
    )
    # The clock has not moved: the next step's code is inside the drift window and later than the last.
    assert verified.status_code == 200
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {verified.get_json()['access_token']}"})
    assert me.get_json()["email"] == EMAIL
