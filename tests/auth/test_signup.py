"""A practice signing itself up and confirming its owner's e-mail address, through the API and the
browser pages, with the mail read from a real SMTP server (``smtp_server``): no sign-in before
confirmation, the same answer for a taken address, codes and links that work once for 24 hours
and are stored hashed, throttles, the audit trail, and ``SIGNUP_ENABLED``."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from sqlalchemy import func, select, text, update

from clinic_app.accounts import service as accounts
from clinic_app.accounts.models import User
from clinic_app.auth import password_links, signup
from clinic_app.auth.models import PasswordLink
from clinic_app.core.audit import AuditEvent
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs.models import Organization
from tests.factories import csrf_from

REGISTER = "/api/v1/auth/register"
CONFIRM = "/api/v1/auth/confirm-email"
VERIFY = "/api/v1/auth/verify-email"
RESEND = "/api/v1/auth/resend-confirmation"
LOGIN = "/api/v1/auth/login"
PROBLEM = "application/problem+json"
PASSWORD = "a quiet harbour at dawn"
EMAIL = "ada@lighthouse.example"


def registration(email=EMAIL, **changes):
    body = {
        "name": "Ada Lovelace",
        "email": email,
        "password": PASSWORD,
        "practice_name": "Lighthouse Psychology",
        "time_zone": "Australia/Hobart",
    }
    return {**body, **changes}


def confirmation_mail(smtp_server, email, *, nth=1):
    """The code and the link of the ``nth`` confirmation e-mail sent to ``email``."""
    messages = smtp_server.wait_for(nth, to=email)
    mails = [m for m in messages if m["Subject"] == "Confirm your e-mail address"]
    body = mails[nth - 1].get_content()
    code = re.search(r"^ {4}([0-9]{6})\r?$", body, re.MULTILINE).group(1)
    link = re.search(r"(http\S+/confirm-email/\S+)", body).group(1)
    return code, link


def login(client, email=EMAIL, password=PASSWORD):
    return client.post(LOGIN, json={"email": email, "password": password})


def actions(app, prefix="account."):
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.created_at)
        )
        return [(row.action, row.outcome, row.details) for row in rows]


def counts(app):
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(User)),
            db.session.scalar(select(func.count()).select_from(Organization)),
        )


def other_code(code):
    return f"{(int(code) + 1) % 10**6:06d}"


def assert_throttled(answer, limit):
    """A 429 problem with the documented rate-limit headers (docs/identity.md)."""
    assert answer.status_code == 429 and answer.mimetype == PROBLEM
    assert answer.headers["X-RateLimit-Limit"] == str(limit)
    assert answer.headers["X-RateLimit-Remaining"] == "0"
    assert int(answer.headers["X-RateLimit-Reset"]) > time.time()
    assert int(answer.headers["Retry-After"]) > 0


def test_register_confirm_with_the_mailed_code_then_log_in(app, client, smtp_server):
    answer = client.post(REGISTER, json=registration())
    assert answer.status_code == 202
    assert answer.get_json() == {"message": signup.SIGNUP_ANSWER}

    refused = login(client)
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert refused.get_json()["code"] == "email_confirmation_required"
    assert "confirm your e-mail address" in refused.get_json()["detail"]

    code, _link = confirmation_mail(smtp_server, EMAIL)
    confirmed = client.post(CONFIRM, json={"email": EMAIL, "code": code})
    assert confirmed.status_code == 200 and confirmed.get_json() == {"message": signup.CONFIRMED}

    tokens = login(client)
    assert tokens.status_code == 200
    user = tokens.get_json()["user"]
    assert user["is_verified"] is True and user["role"] == "owner"
    assert user["organizations"][0]["name"] == "Lighthouse Psychology"
    bearer = {"Authorization": f"Bearer {tokens.get_json()['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=bearer).get_json()["is_verified"] is True
    assert client.get("/api/v1/users/me", headers=bearer).get_json()["is_verified"] is True
    with app.app_context():
        org = db.session.scalar(select(Organization).where(Organization.name == "Lighthouse Psychology"))
        assert org.time_zone == "Australia/Hobart"

    # The code worked once.
    again = client.post(CONFIRM, json={"email": EMAIL, "code": code})
    assert again.status_code == 400 and again.get_json()["errors"][0]["field"] == "code"
    assert [a for a, _o, _d in actions(app) if a in ("account.signed_up", "account.email_confirmed")] == [
        "account.signed_up",
        "account.email_confirmed",
    ]


def test_unconfirmed_account_is_not_verified_in_me_and_cannot_sign_in_in_the_browser(app, smtp_server):
    browser = app.test_client()
    assert browser.post(REGISTER, json=registration()).status_code == 202
    page = browser.get("/login")
    answer = browser.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_from(page.text)})
    assert answer.status_code == 403
    assert "confirm your e-mail address" in answer.text and 'data-link="confirm-email"' in answer.text
    # The confirmation page offers the address the sign-in was refused for.
    assert EMAIL in browser.get("/confirm-email").text


def test_confirm_through_the_link_page_in_the_browser(app, smtp_server):
    browser = app.test_client()
    assert 'data-link="signup"' in browser.get("/login").text
    page = browser.get("/signup")
    assert page.status_code == 200
    form = {**registration(), "csrf_token": csrf_from(page.text)}
    answer = browser.post("/signup", data=form)
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/confirm-email")

    _code, link = confirmation_mail(smtp_server, EMAIL)
    path = link.split("://", 1)[1].split("/", 1)[1]
    shown = browser.get(f"/{path}")
    assert shown.status_code == 200 and EMAIL in shown.text
    with app.app_context():  # opening the link (a mail scanner might) used nothing up
        assert db.session.scalar(select(User).where(User.email == EMAIL)).email_verified_at is None
    confirmed = browser.post(f"/{path}", data={"csrf_token": csrf_from(shown.text)})
    assert confirmed.status_code == 303 and confirmed.headers["Location"].endswith("/login")
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == EMAIL)).email_verified_at is not None
    gone = browser.get(f"/{path}")
    assert gone.status_code == 400 and "expired or was already used" in gone.text

    page = browser.get("/login")
    signed_in = browser.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_from(page.text)})
    assert signed_in.status_code == 303


def test_confirm_with_the_code_page_and_the_token_over_the_api(app, client, smtp_server):
    browser = app.test_client()
    assert client.post(REGISTER, json=registration()).status_code == 202
    code, _link = confirmation_mail(smtp_server, EMAIL)
    page = browser.get("/confirm-email")
    wrong = browser.post(
        "/confirm-email", data={"email": EMAIL, "code": other_code(code), "csrf_token": csrf_from(page.text)}
    )
    assert wrong.status_code == 400 and "This code is not right" in wrong.text
    right = browser.post("/confirm-email", data={"email": EMAIL, "code": code, "csrf_token": csrf_from(page.text)})
    assert right.status_code == 303

    other = "grace@lighthouse.example"
    assert client.post(REGISTER, json=registration(other)).status_code == 202
    _code, link = confirmation_mail(smtp_server, other)
    token = link.rsplit("/", 1)[1]
    assert client.post(VERIFY, json={"token": token}).status_code == 200  # seed 002's name, same operation
    assert client.post(CONFIRM, json={"token": token}).status_code == 400
    assert login(client, other).status_code == 200


def test_duplicate_email_answers_as_a_new_one_and_mails_the_owner(app, client, tenants, smtp_server):
    owner = tenants.user("owner")
    before = counts(app)
    new = client.post(REGISTER, json=registration("newcomer@elsewhere.example"))
    after_new = counts(app)
    duplicate = client.post(REGISTER, json=registration(owner.email.upper(), name="Mallory"))
    assert (
        (duplicate.status_code, duplicate.get_json())
        == (new.status_code, new.get_json())
        == (
            202,
            {"message": signup.SIGNUP_ANSWER},
        )
    )
    assert after_new == (before[0] + 1, before[1] + 1)
    assert counts(app) == after_new  # no second account, no second organization
    note = smtp_server.wait_for(1, to=owner.email)[0]
    assert note["Subject"] == "Someone tried to sign up with your address"
    assert "No new account was made" in note.get_content()
    with app.app_context():
        rows = db.session.scalars(select(PasswordLink).where(PasswordLink.user_id == owner.id)).all()
        assert rows == []  # nothing issued for the existing account
    assert ("account.signup_duplicate", "denied", {}) in [(a, o, d or {}) for a, o, d in actions(app)]
    assert login(client, owner.email, "correct horse battery staple").status_code == 200


def test_resend_sends_a_new_code_and_answers_the_same_for_every_address(app, client, tenants, smtp_server):
    assert client.post(REGISTER, json=registration()).status_code == 202
    first, _ = confirmation_mail(smtp_server, EMAIL)
    answers = [client.post(RESEND, json={"email": email}) for email in (EMAIL, "nobody@nowhere.example")]
    answers.append(client.post(RESEND, json={"email": tenants.user("owner").email}))
    assert {(a.status_code, a.get_json()["message"]) for a in answers} == {(202, signup.RESEND_ANSWER)}
    second, _ = confirmation_mail(smtp_server, EMAIL, nth=2)
    if first != second:
        assert client.post(CONFIRM, json={"email": EMAIL, "code": first}).status_code == 400
    assert client.post(CONFIRM, json={"email": EMAIL, "code": second}).status_code == 200
    resent = [d["account"] for a, _o, d in actions(app) if a == "account.email_confirmation_resent"]
    assert resent == ["waiting", "unknown", "other"]


def test_wrong_expired_and_unknown_codes_change_nothing(app, client, smtp_server):
    assert client.post(REGISTER, json=registration()).status_code == 202
    code, _ = confirmation_mail(smtp_server, EMAIL)
    for body in (
        {"email": EMAIL, "code": other_code(code)},
        {"email": "nobody@nowhere.example", "code": code},
        {"token": "not-a-real-token"},
    ):
        refused = client.post(CONFIRM, json=body)
        assert refused.status_code == 400 and refused.mimetype == PROBLEM, body
    assert client.post(CONFIRM, json={"email": EMAIL, "code": "12ab"}).status_code == 422
    assert client.post(CONFIRM, json={"email": EMAIL}).status_code == 422
    with app.app_context():
        db.session.execute(update(PasswordLink).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    expired = client.post(CONFIRM, json={"email": EMAIL, "code": code})
    assert expired.status_code == 400 and "expired" in expired.get_json()["detail"]
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == EMAIL)).email_verified_at is None
    assert login(client).status_code == 403
    failed = [d["reason"] for a, _o, d in actions(app) if a == "account.email_confirmation_failed"]
    assert failed == ["wrong_code", "no_live_confirmation", "unknown_or_used", "no_live_confirmation"]


def test_codes_and_links_are_stored_hashed(app, client, smtp_server):
    assert client.post(REGISTER, json=registration()).status_code == 202
    code, link = confirmation_mail(smtp_server, EMAIL)
    token = link.rsplit("/", 1)[1]
    with app.app_context():
        rows = db.session.execute(
            text("SELECT purpose, secret_hash, code_hash, expires_at, created_at FROM password_links")
        ).all()
    assert len(rows) == 1
    purpose, secret_hash, code_hash, *_ = rows[0]
    assert purpose == password_links.CONFIRM_EMAIL
    assert token not in secret_hash and code not in (code_hash or "") and len(code_hash) == 64
    with app.app_context():
        link_row = db.session.scalar(select(PasswordLink))
        assert code_hash == password_links.code_digest(link_row.id, code)
        assert link_row.expires_at - link_row.created_at == timedelta(hours=24)


def test_signup_disabled_answers_404_and_hides_the_link(make_app):
    app = make_app(SIGNUP_ENABLED=False)
    client = app.test_client()
    assert client.post(REGISTER, json=registration()).status_code == 404
    assert client.get("/signup").status_code == 404
    assert 'data-link="signup"' not in client.get("/login").text
    assert counts(app) == (0, 0)


def test_signup_and_confirmation_are_throttled(app, client, smtp_server):
    limit = signup.SIGNUP_LIMITS["address"].amount
    statuses = [client.post(REGISTER, json=registration()).status_code for _ in range(limit + 1)]
    assert statuses == [202] * limit + [429]
    refused = client.post(REGISTER, json=registration())
    assert_throttled(refused, limit)
    assert "Too many sign-up attempts" in refused.get_json()["detail"]

    per_client = signup.SIGNUP_LIMITS["ip"].amount
    other = app.test_client()
    statuses = [
        other.post(
            REGISTER, json=registration(f"p{n}@elsewhere.example"), environ_base={"REMOTE_ADDR": "192.0.2.9"}
        ).status_code
        for n in range(per_client + 1)
    ]
    assert statuses == [202] * per_client + [429]

    tries = signup.CONFIRM_LIMITS["address"].amount
    body = {"email": EMAIL, "code": "123456"}
    answers = [client.post(CONFIRM, json=body, environ_base={"REMOTE_ADDR": "192.0.2.10"}) for _ in range(tries + 1)]
    assert_throttled(answers[-1], tries)
    resends = signup.RESEND_LIMITS["address"].amount
    answers = [client.post(RESEND, json={"email": EMAIL}) for _ in range(resends + 1)]
    assert [a.status_code for a in answers] == [202] * resends + [429]
    assert_throttled(answers[-1], resends)
    throttled = [(d["stage"], d["by"]) for a, _o, d in actions(app) if a == "account.signup_throttled"]
    assert {("signup", "address"), ("signup", "ip"), ("confirm", "address"), ("resend", "address")} <= set(throttled)


def test_invalid_registration_names_each_field_and_makes_nothing(app, client):
    answer = client.post(REGISTER, json=registration("not-an-address", password="short", time_zone="Mars/Base"))
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.get_json()["errors"]}
    assert {"email", "password", "time_zone"} <= fields
    assert counts(app) == (0, 0)


def test_set_password_link_marks_invited_staff_verified(app, client):
    with app.app_context():
        user = accounts.create_user(email="staff@lighthouse.example", display_name="Staff", email_verified=False)
        secret = password_links.issue_password_link(user)
        db.session.commit()
        password_links.use_password_link(secret, PASSWORD)
        db.session.commit()
        assert db.session.get(User, user.id).email_verified_at is not None


def test_the_operations_are_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in (REGISTER, CONFIRM, VERIFY, RESEND):
        operation = spec["paths"][path]["post"]
        assert operation["security"] == [], path
        assert {"422", "429"} <= set(operation["responses"]), path
    assert "202" in spec["paths"][REGISTER]["post"]["responses"]
    assert "202" in spec["paths"][RESEND]["post"]["responses"]
    assert spec["paths"]["/api/v1/auth/health"]["get"]["security"] == []
