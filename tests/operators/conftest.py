"""Operators: an account outside every organization, signed in with an authenticator app."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from clinic_app.accounts.models import User
from clinic_app.auth import operator_tokens
from clinic_app.extensions import db
from clinic_app.mfa import totp
from tests.factories import PASSWORD, csrf_from, sign_in

OPERATOR_EMAIL = "ops@installation.example"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The TOTP clock, moved by hand (a code is accepted once per 30-second step)."""

    class Clock:
        now = 1_800_000_000.0

    state = Clock()
    monkeypatch.setattr(totp, "clock", lambda: state.now)
    return state


def make_operator(app: Flask, *, with_totp: bool, clock: Any = None) -> tuple[User, str | None]:
    """An operator account (and its authenticator key when ``with_totp``)."""
    with app.app_context():
        user, _created = operator_tokens.make_operator(OPERATOR_EMAIL, "Ops", password=PASSWORD)
        secret = None
        if with_totp:
            secret = totp.start_enrolment(user).secret
            assert totp.confirm(user, pyotp.TOTP(secret).at(clock.now))
            clock.now += totp.STEP_SECONDS
        db.session.commit()
        return db.session.get(User, user.id), secret


def sign_in_operator(client: FlaskClient, secret: str, clock: Any) -> Any:
    """Password, then the authenticator's code: returns the answer to the code."""
    first = sign_in(client, OPERATOR_EMAIL)
    assert first.status_code == 303 and "/login/verify" in first.headers["Location"], first.status_code
    token = csrf_from(client.get("/login/verify").get_data(as_text=True))
    answer = client.post("/login/verify", data={"code": pyotp.TOTP(secret).at(clock.now), "csrf_token": token})
    clock.now += totp.STEP_SECONDS
    return answer


def operator_token(app: Flask) -> str:
    with app.app_context():
        _token, plain = operator_tokens.create_operator_token("prometheus", expires_in_days=None, creator=None)
        db.session.commit()
        return plain


@pytest.fixture
def operator_client(app: Flask, tenants: Any, clock: Any) -> FlaskClient:
    """A browser signed in as an operator with two-factor sign-in (organizations A and B exist)."""
    _user, secret = make_operator(app, with_totp=True, clock=clock)
    client = app.test_client()
    assert secret is not None
    assert sign_in_operator(client, secret, clock).status_code == 303
    return client
