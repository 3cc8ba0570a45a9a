"""Passkeys (WebAuthn): adding one, signing in with one alone (no password) or as the second
factor, and removing one. The authenticator is a small software one (tests/mfa/
webauthn_authenticator.py); the app checks its answers with py_webauthn."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from clinic_app.accounts.models import User
from clinic_app.core.audit import AuditEvent
from clinic_app.core.errors import Invalid, NotFound, Unauthorized
from clinic_app.core.ratelimit import Throttled
from clinic_app.extensions import db
from clinic_app.mfa import challenges, passkeys
from clinic_app.mfa.models import MfaChallenge, Passkey
from tests.factories import PASSWORD, csrf_from, make_user, page_csrf, sign_in
from tests.live_server import LiveServer
from tests.mfa.webauthn_authenticator import SoftAuthenticator, b64url

ORIGIN = "http://localhost:5000"
RP_ID = "localhost"


@pytest.fixture
def app(make_app: Any) -> Flask:
    """The app at a host name (WebAuthn refuses IP-address origins)."""
    return make_app(PUBLIC_URL=ORIGIN)


def _user(app: Flask, user: Any) -> User:
    found = db.session.get(User, user.id)
    assert found is not None
    return found


def enrol(app: Flask, user: Any, name: str = "Test key", **options: Any) -> SoftAuthenticator:
    """A passkey for ``user`` through the service (as the security page would add it)."""
    authenticator = SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID, **options)
    with app.test_request_context():
        person = _user(app, user)
        secret, creation = passkeys.registration_options(person)
        passkeys.finish_registration(person, secret, authenticator.registration(creation), name=name)
        db.session.commit()
    return authenticator


def events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        # In the order recorded: without ORDER BY, PostgreSQL may return rows in any order (a row
        # can land in space an earlier test's deleted rows left).
        query = select(AuditEvent).where(AuditEvent.action == action)
        return list(db.session.scalars(query.order_by(AuditEvent.created_at, AuditEvent.seq)))


def json_headers(token: str) -> dict[str, str]:
    return {"X-CSRFToken": token, "Accept": "application/json"}


def anonymous_csrf(client: FlaskClient) -> str:
    return csrf_from(client.get("/login").get_data(as_text=True))


def passkey_sign_in(client: FlaskClient, authenticator: SoftAuthenticator, **answer: Any) -> Any:
    """ "Sign in with a passkey" on the sign-in page: options, the authenticator, the answer."""
    token = anonymous_csrf(client)
    options = client.post("/login/passkey/options", headers=json_headers(token))
    assert options.status_code == 200, options.get_data(as_text=True)
    body = {"credential": authenticator.assertion(options.get_json(), **answer)}
    return client.post("/login/passkey?next=/account", json=body, headers=json_headers(token))


# --- adding a passkey -------------------------------------------------------------------------------


def test_registration_options_ask_for_a_discoverable_verified_passkey_named_by_the_account_id(
    app: Flask, tenants: Any
) -> None:
    user = tenants.user("clinician")
    enrol(app, user)
    with app.test_request_context():
        secret, options = passkeys.registration_options(_user(app, user))
        row = challenges.live_challenge(secret, challenges.PASSKEY_REGISTER)
        assert row is not None and row.user_id == user.id and row.webauthn_challenge == options["challenge"]
        existing = passkeys.list_for(user.id)
    assert options["rp"] == {"name": "Clinic", "id": RP_ID}
    assert options["user"]["id"] == b64url(user.id.encode())  # the account id, not the e-mail
    assert options["user"]["name"] == user.email
    selection = options["authenticatorSelection"]
    assert selection["residentKey"] == "required" and selection["userVerification"] == "required"
    assert {-7, -257} <= {p["alg"] for p in options["pubKeyCredParams"]}
    assert [c["id"] for c in options["excludeCredentials"]] == [p.credential_id for p in existing]


def test_adding_a_passkey_through_the_security_routes_stores_audits_and_mails(
    app: Flask, tenants: Any, smtp_server: Any
) -> None:
    user = tenants.user("clinician")
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 303
    token = page_csrf(client)
    options = client.post("/account/security/passkeys/options", headers=json_headers(token))
    assert options.status_code == 200
    assert "mfa_" not in options.get_data(as_text=True)  # the ceremony's secret stays in the session
    authenticator = SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID)
    answer = {"credential": authenticator.registration(options.get_json()), "name": "  Work   laptop "}
    added = client.post("/account/security/passkeys", json=answer, headers=json_headers(token))
    assert added.status_code == 201, added.get_json()
    assert added.get_json() == {"redirect": "/account/security#passkeys-section"}
    with app.app_context():
        (stored,) = passkeys.list_for(user.id)
        assert stored.name == "Work laptop"
        assert stored.credential_id == b64url(authenticator.credential_id)
        assert stored.transports == ["internal"] and stored.sign_count == 0
        assert passkeys.has_passkey(user.id)
    assert [e.target_id for e in events(app, "mfa.passkey_added")] == [stored.id]
    (mail,) = smtp_server.wait_for(1, to=user.email)
    assert mail["Subject"] == "A passkey was added to your account"
    # The same answer again: the challenge was used up.
    again = client.post("/account/security/passkeys", json=answer, headers=json_headers(token))
    assert again.status_code == 422
    assert again.get_json()["detail"] == passkeys.REGISTER_REFUSED


def test_registration_refuses_a_wrong_origin_a_long_name_and_a_body_that_is_not_json(app: Flask, tenants: Any) -> None:
    user = tenants.user("clinician")
    client = app.test_client()
    sign_in(client, user.email)
    token = page_csrf(client)
    authenticator = SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID)

    def attempt(**kwargs: Any) -> Any:
        name = kwargs.pop("name", None)
        options = client.post("/account/security/passkeys/options", headers=json_headers(token)).get_json()
        body = {"credential": authenticator.registration(options, **kwargs), "name": name}
        return client.post("/account/security/passkeys", json=body, headers=json_headers(token))

    assert attempt(origin="http://evil.example:5000").status_code == 422
    assert attempt(rp_id="evil.example").status_code == 422
    too_long = attempt(name="x" * 101)
    assert too_long.status_code == 422 and too_long.get_json()["errors"][0]["field"] == "name"
    form = client.post("/account/security/passkeys", data={"credential": "x"}, headers=json_headers(token))
    assert form.status_code == 415
    with app.app_context():
        assert passkeys.list_for(user.id) == []
    assert {e.details["reason"] for e in events(app, "mfa.passkey_add_failed")} == {"not_verified"}
    blank = attempt(name="   ")
    assert blank.status_code == 201
    with app.app_context():
        assert passkeys.list_for(user.id)[0].name.startswith("Passkey added ")


# --- signing in with a passkey alone ------------------------------------------------------------------


def test_a_passkey_signs_in_without_a_password(app: Flask, tenants: Any) -> None:
    user = tenants.user("clinician")
    authenticator = enrol(app, user)
    client = app.test_client()
    assert client.get("/account").status_code == 302  # not signed in
    answer = passkey_sign_in(client, authenticator)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"redirect": "/account"}
    page = client.get("/account")
    assert page.status_code == 200 and user.email in page.get_data(as_text=True)
    with app.app_context():
        (stored,) = passkeys.list_for(user.id)
        assert stored.sign_count == 1 and stored.last_used_at is not None
    assert [e.target_id for e in events(app, "auth.passkey_sign_in")] == [user.id]
    assert any(e.actor_user_id == user.id for e in events(app, "auth.login"))


def test_the_sign_in_options_list_no_passkey_and_the_second_factor_options_only_the_persons(
    app: Flask, tenants: Any
) -> None:
    mine, theirs = tenants.user("clinician"), tenants.user("receptionist")
    my_keys = [enrol(app, mine, name="Phone"), enrol(app, mine, name="Laptop")]
    enrol(app, theirs)
    with app.test_request_context():
        _secret, anyone = passkeys.authentication_options(None)
        _secret, second_factor = passkeys.authentication_options(mine.id)
    assert anyone["allowCredentials"] == [] and anyone["userVerification"] == "required"
    assert anyone["rpId"] == RP_ID
    assert {c["id"] for c in second_factor["allowCredentials"]} == {b64url(k.credential_id) for k in my_keys}


def test_a_replayed_answer_is_refused_because_its_challenge_was_used(app: Flask, tenants: Any) -> None:
    user = tenants.user("clinician")
    authenticator = enrol(app, user, counter=0)  # no counter: only the challenge stops a replay
    with app.test_request_context():
        secret, options = passkeys.authentication_options(None)
        answer = authenticator.assertion(options)
        assert passkeys.finish_authentication(secret, answer, user_id=None).id == user.id
        db.session.commit()
        with pytest.raises(Unauthorized) as refused:
            passkeys.finish_authentication(secret, answer, user_id=None)
        assert refused.value.detail == passkeys.SIGN_IN_REFUSED
        db.session.rollback()
    assert [e.details["reason"] for e in events(app, "mfa.passkey_failed")] == ["no_live_challenge"]


def test_a_wrong_origin_or_rp_id_is_refused_and_counted_against_the_challenge(app: Flask, tenants: Any) -> None:
    user = tenants.user("clinician")
    authenticator = enrol(app, user)
    with app.test_request_context():
        secret, options = passkeys.authentication_options(None)
        db.session.commit()
        for wrong in ({"origin": "http://localhost.evil.example"}, {"rp_id": "evil.example"}):
            with pytest.raises(Unauthorized):
                passkeys.finish_authentication(secret, authenticator.assertion(options, **wrong), user_id=None)
            db.session.rollback()
        row = db.session.scalar(select(MfaChallenge).where(MfaChallenge.purpose == challenges.PASSKEY_SIGN_IN))
        assert row is not None and row.failed_attempts == 2
        # The right answer still works on this challenge (two wrong answers of five).
        assert passkeys.finish_authentication(secret, authenticator.assertion(options), user_id=None).id == user.id
    assert [e.details["reason"] for e in events(app, "mfa.passkey_failed")] == ["not_verified", "not_verified"]


def test_with_a_user_id_another_persons_passkey_is_refused(app: Flask, tenants: Any) -> None:
    me, other = tenants.user("clinician"), tenants.user("receptionist")
    enrol(app, me)
    theirs = enrol(app, other)
    with app.test_request_context():
        secret, options = passkeys.authentication_options(me.id)
        db.session.commit()
        with pytest.raises(Unauthorized):
            passkeys.finish_authentication(secret, theirs.assertion(options), user_id=me.id)
        db.session.rollback()
        # A challenge opened for the second factor is not a password-less sign-in's either.
        with pytest.raises(Unauthorized):
            passkeys.finish_authentication(secret, theirs.assertion(options), user_id=None)
        db.session.rollback()
    reasons = [e.details["reason"] for e in events(app, "mfa.passkey_failed")]
    assert reasons == ["not_this_persons_passkey", "no_live_challenge"]


def test_the_user_handle_must_name_the_passkeys_owner(app: Flask, tenants: Any) -> None:
    user, other = tenants.user("clinician"), tenants.user("receptionist")
    authenticator = enrol(app, user)
    with app.test_request_context():
        for handle in (other.id.encode(), None):
            secret, options = passkeys.authentication_options(None)
            db.session.commit()
            answer = authenticator.assertion(options, user_handle=handle)
            with pytest.raises(Unauthorized):
                passkeys.finish_authentication(secret, answer, user_id=None)
            db.session.rollback()
    assert {e.details["reason"] for e in events(app, "mfa.passkey_failed")} == {"user_handle_mismatch"}


def test_a_counter_going_backwards_is_refused_and_raises_an_alarm(app: Flask, tenants: Any) -> None:
    user = tenants.user("clinician")
    authenticator = enrol(app, user, counter=5)

    def attempt() -> None:
        with app.test_request_context():
            secret, options = passkeys.authentication_options(user.id)
            db.session.commit()
            try:
                passkeys.finish_authentication(secret, authenticator.assertion(options), user_id=user.id)
            except Unauthorized:
                db.session.rollback()
                raise
            db.session.commit()

    attempt()
    authenticator.counter = 3
    with pytest.raises(Unauthorized):
        attempt()
    authenticator.counter = 5  # the same counter again is no step forward either
    with pytest.raises(Unauthorized):
        attempt()
    with app.app_context():
        assert passkeys.list_for(user.id)[0].sign_count == 5
    alarms = events(app, "mfa.passkey_counter_alarm")
    assert [(e.outcome, e.details["stored"], e.details["presented"]) for e in alarms] == [
        ("alarm", 5, 3),
        ("alarm", 5, 5),
    ]
    authenticator.counter = 6
    attempt()


def test_an_authenticator_without_a_counter_signs_in_again_and_again(app: Flask, tenants: Any) -> None:
    user = tenants.user("clinician")
    authenticator = enrol(app, user, counter=0)
    for _ in range(3):
        assert passkey_sign_in(app.test_client(), authenticator).status_code == 200
    assert events(app, "mfa.passkey_counter_alarm") == []


def test_signing_in_needs_an_active_member_with_a_confirmed_address(app: Flask, tenants: Any) -> None:
    user = tenants.user("clinician")
    authenticator = enrol(app, user)
    with app.app_context():
        person = _user(app, user)
        person.email_verified_at = None
        db.session.commit()
    refused = passkey_sign_in(app.test_client(), authenticator)
    assert refused.status_code == 403 and refused.get_json()["code"] == "email_confirmation_required"
    with app.app_context():
        person = _user(app, user)
        person.is_active = False
        db.session.commit()
    assert passkey_sign_in(app.test_client(), authenticator).status_code == 401
    with app.app_context():
        loner = make_user("loner@example.com")  # no organization
        db.session.commit()
    lonely = enrol(app, loner)
    refused = passkey_sign_in(app.test_client(), lonely)
    assert refused.status_code == 401 and refused.get_json()["detail"] == passkeys.SIGN_IN_REFUSED


def test_an_unknown_passkey_and_a_junk_answer_are_refused_with_one_message(app: Flask, tenants: Any) -> None:
    stranger = SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID, user_handle=tenants.user("owner").id.encode())
    client = app.test_client()
    answer = passkey_sign_in(client, stranger)
    assert answer.status_code == 401 and answer.get_json()["detail"] == passkeys.SIGN_IN_REFUSED
    token = anonymous_csrf(client)
    client.post("/login/passkey/options", headers=json_headers(token))
    junk = client.post("/login/passkey", json={"credential": {"id": 5}}, headers=json_headers(token))
    assert junk.status_code == 401 and junk.get_json()["detail"] == passkeys.SIGN_IN_REFUSED
    assert client.get("/account").status_code == 302


def test_the_passkey_sign_in_is_throttled_per_client_address(app: Flask, tenants: Any) -> None:
    client = app.test_client()
    token = anonymous_csrf(client)
    limit = 20
    for _ in range(limit):
        answer = client.post("/login/passkey", json={"credential": {}}, headers=json_headers(token))
        assert answer.status_code == 401
    throttled = client.post("/login/passkey", json={"credential": {}}, headers=json_headers(token))
    assert throttled.status_code == 429
    assert throttled.headers["X-RateLimit-Limit"] == str(limit) and int(throttled.headers["Retry-After"]) > 0
    assert [e.details["stage"] for e in events(app, "auth.passkey_sign_in_throttled")] == ["answer"]


def test_of_racing_answers_to_one_challenge_exactly_one_signs_in(app: Flask, tenants: Any) -> None:
    user = tenants.user("clinician")
    authenticator = enrol(app, user, counter=0)
    client = app.test_client()
    token = anonymous_csrf(client)
    options = client.post("/login/passkey/options", headers=json_headers(token)).get_json()
    cookie = client.get_cookie("clinic_session")
    assert cookie is not None
    body = {"credential": authenticator.assertion(options)}
    with LiveServer(app) as server:

        def answer(_: int) -> int:
            return httpx.post(
                f"{server.url}/login/passkey",
                json=body,
                headers=json_headers(token),
                cookies={"clinic_session": cookie.value},
                timeout=30,
            ).status_code

        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(pool.map(answer, range(6)))
    assert sorted(statuses) == [200] + [401] * 5, statuses
    assert len(events(app, "auth.passkey_sign_in")) == 1


# --- removing a passkey -------------------------------------------------------------------------------


def test_removing_a_passkey_asks_for_the_password_audits_and_mails(app: Flask, tenants: Any, smtp_server: Any) -> None:
    user = tenants.user("clinician")
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 303
    enrol(app, user, name="Old phone")
    with app.app_context():
        (passkey,) = passkeys.list_for(user.id)
    token = page_csrf(client)
    url = f"/account/security/passkeys/{passkey.id}/remove"
    wrong = client.post(url, data={"password": "not the password", "csrf_token": token})
    assert wrong.status_code == 303 and wrong.headers["Location"].endswith("/account/security#passkeys-section")
    as_json = client.post(url, data={"password": "not the password"}, headers=json_headers(token))
    assert as_json.status_code == 422 and as_json.get_json()["errors"][0]["field"] == "password"
    with app.app_context():
        assert passkeys.has_passkey(user.id)
    assert len(events(app, "mfa.passkey_remove_failed")) == 2
    removed = client.post(url, data={"password": PASSWORD, "csrf_token": token})
    assert removed.status_code == 303
    with app.app_context():
        assert not passkeys.has_passkey(user.id)
    assert [e.details["name"] for e in events(app, "mfa.passkey_removed")] == ["Old phone"]
    subjects = [m["Subject"] for m in smtp_server.wait_for(2, to=user.email)]
    assert "A passkey was removed from your account" in subjects


def test_another_persons_passkey_is_not_found(app: Flask, tenants: Any) -> None:
    enrol(app, tenants.outsider)
    with app.app_context():
        (theirs,) = passkeys.list_for(tenants.outsider.id)
    client = app.test_client()
    sign_in(client, tenants.user("owner").email)
    token = page_csrf(client)
    answer = client.post(
        f"/account/security/passkeys/{theirs.id}/remove", data={"password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 404
    with app.test_request_context():
        with pytest.raises(NotFound):
            passkeys.remove(_user(app, tenants.user("owner")), theirs.id, password=PASSWORD)
        assert passkeys.has_passkey(tenants.outsider.id)


def test_removal_password_guesses_are_throttled(app: Flask, tenants: Any) -> None:
    user = tenants.user("clinician")
    enrol(app, user)
    with app.test_request_context():
        person = _user(app, user)
        passkey_id = passkeys.list_for(user.id)[0].id
        for _ in range(10):
            with pytest.raises(Invalid):
                passkeys.remove(person, passkey_id, password="guess")
        with pytest.raises(Throttled):
            passkeys.remove(person, passkey_id, password=PASSWORD)
        assert db.session.get(Passkey, passkey_id) is not None
