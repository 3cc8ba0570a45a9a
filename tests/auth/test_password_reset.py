"""Resetting a forgotten password, through the API and the browser pages, with the mail read from a
real SMTP server (``smtp_server``): the same answer whatever the address, codes and links that work
once for 30 minutes and are stored hashed, wrong codes that burn the reset, throttles, the audit
trail, and every old credential ended."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text, update

from clinic_app.accounts.models import User
from clinic_app.auth import password_links, password_reset
from clinic_app.auth.models import PasswordLink
from clinic_app.core.audit import AuditEvent
from clinic_app.core.credentials import keyed_hash
from clinic_app.core.mail import wait_for_outbox
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from tests.factories import PASSWORD, access_token_for, csrf_from, sign_in
from tests.live_server import LiveServer

FORGOT = "/api/v1/auth/forgot-password"
RESET = "/api/v1/auth/reset-password"
PROBLEM = "application/problem+json"
NEW_PASSWORD = "a quiet harbour at dawn"
OTHER_PASSWORD = "seven lanterns over the bay"


# --- helpers ------------------------------------------------------------------------------------


def reset_mail(smtp_server, email, *, nth=1):
    """The code and the link of the ``nth`` reset e-mail sent to ``email``."""
    messages = [m for m in smtp_server.wait_for(nth, to=email) if m["Subject"] == "Reset your password"]
    body = messages[nth - 1].get_content()
    code = re.search(r"^ {4}([0-9]{6})\r?$", body, re.MULTILINE).group(1)
    link = re.search(r"(http\S+/reset-password/\S+)", body).group(1)
    return code, link


def token_of(link):
    return link.rsplit("/", 1)[1]


def forgot(client, email, **kwargs):
    return client.post(FORGOT, json={"email": email}, **kwargs)


def other_code(code):
    return f"{(int(code) + 1) % 10**6:06d}"


def actions(app, prefix="auth.password_reset"):
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.created_at)
        )
        return [(row.action, row.outcome, row.target_id, row.details) for row in rows]


def api_login(client, email, password):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


# --- the API --------------------------------------------------------------------------------------


def test_forgot_then_reset_with_the_code_ends_every_old_credential(app, client, tenants, smtp_server):
    user = tenants.user("clinician")
    browser = app.test_client()
    assert sign_in(browser, user.email).status_code == 303
    old = api_login(client, user.email, PASSWORD).get_json()
    other_device = api_login(client, user.email, PASSWORD).get_json()  # a second refresh-token family
    other_browser = app.test_client()
    assert sign_in(other_browser, user.email).status_code == 303

    answer = forgot(client, user.email)
    assert answer.status_code == 202
    assert answer.get_json() == {"message": password_reset.FORGOT_ANSWER}
    code, link = reset_mail(smtp_server, user.email)
    assert link.startswith(app.config["PUBLIC_URL"] + "/reset-password/")
    message = smtp_server.messages[0]
    assert message["To"] == user.email and "30 minutes" in message.get_content()

    done = client.post(RESET, json={"email": user.email.upper(), "code": code, "new_password": NEW_PASSWORD})
    assert done.status_code == 200, done.get_json()
    assert done.get_json() == {"message": password_reset.RESET_DONE}

    assert api_login(client, user.email, PASSWORD).status_code == 401  # the old password
    assert api_login(client, user.email, NEW_PASSWORD).status_code == 200
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": old["refresh_token"]})
    assert refreshed.status_code == 401  # the old refresh token's family has ended
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {old['access_token']}"})
    assert me.status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": other_device["refresh_token"]}).status_code == 401
    assert browser.get("/account").status_code == 302  # the old browser sessions have ended
    assert other_browser.get("/account").status_code == 302

    notice = smtp_server.wait_for(2, to=user.email)[1]
    assert notice["Subject"] == "Your password was changed"
    assert code not in notice.get_content()
    events = actions(app)
    assert ("auth.password_reset_requested", "success", user.id, {"account": "active"}) in events
    assert ("auth.password_reset", "success", user.id, {"method": "code"}) in events
    assert actions(app, "account.password_changed")


def test_reset_with_the_link_token_works_once_and_spends_the_code_too(app, client, tenants, smtp_server):
    user = tenants.user("admin")
    forgot(client, user.email)
    code, link = reset_mail(smtp_server, user.email)
    done = client.post(RESET, json={"token": token_of(link), "new_password": NEW_PASSWORD})
    assert done.status_code == 200, done.get_json()
    assert ("auth.password_reset", "success", user.id, {"method": "link"}) in actions(app)

    again = client.post(RESET, json={"token": token_of(link), "new_password": OTHER_PASSWORD})
    assert again.status_code == 400 and again.mimetype == PROBLEM
    assert again.get_json()["errors"][0]["field"] == "token"
    assert "expired or was already used" in again.get_json()["detail"]
    with_code = client.post(RESET, json={"email": user.email, "code": code, "new_password": OTHER_PASSWORD})
    assert with_code.status_code == 400
    assert api_login(client, user.email, NEW_PASSWORD).status_code == 200


def test_a_code_works_once(client, tenants, smtp_server):
    user = tenants.user("receptionist")
    forgot(client, user.email)
    code, _link = reset_mail(smtp_server, user.email)
    body = {"email": user.email, "code": code, "new_password": NEW_PASSWORD}
    assert client.post(RESET, json=body).status_code == 200
    again = client.post(RESET, json={**body, "new_password": OTHER_PASSWORD})
    assert again.status_code == 400
    assert again.get_json()["detail"] == password_reset.WRONG_CODE
    assert api_login(client, user.email, NEW_PASSWORD).status_code == 200


def test_unknown_and_deactivated_addresses_get_the_same_answer_and_no_mail(app, client, tenants, smtp_server):
    deactivated = tenants.user("owner")
    with app.app_context():
        db.session.execute(update(User).where(User.id == deactivated.id).values(is_active=False))
        db.session.commit()
    known = tenants.user("clinician").email
    answers = {email: forgot(client, email) for email in ("nobody@harbour.example", deactivated.email, known.upper())}
    assert {answer.status_code for answer in answers.values()} == {202}
    assert len({answer.get_data() for answer in answers.values()}) == 1
    assert {answer.mimetype for answer in answers.values()} == {"application/json"}

    smtp_server.wait_for(1, to=known)
    assert wait_for_outbox()
    assert [str(m["To"]) for m in smtp_server.messages] == [known]
    details = [d["account"] for action, _o, _t, d in actions(app) if action == "auth.password_reset_requested"]
    assert details == ["unknown", "deactivated", "active"]
    with app.app_context():
        assert db.session.scalar(select(PasswordLink.user_id)) == tenants.user("clinician").id  # one row only


def test_the_mail_leaves_after_the_answer(client, tenants, smtp_server):
    """A slow mail server does not show in the answer's timing: the message is sent afterwards."""
    smtp_server.delay = 1.5
    started = time.perf_counter()
    assert forgot(client, tenants.user("clinician").email).status_code == 202
    known = time.perf_counter() - started
    started = time.perf_counter()
    assert forgot(client, "nobody@harbour.example").status_code == 202
    unknown = time.perf_counter() - started
    assert known < 1.0 and unknown < 1.0, (known, unknown)
    assert not smtp_server.messages  # still on its way
    reset_mail(smtp_server, tenants.user("clinician").email)


def test_a_code_belongs_to_its_address(client, tenants, smtp_server):
    first, second = tenants.user("clinician"), tenants.user("admin")
    forgot(client, first.email)
    code, _link = reset_mail(smtp_server, first.email)
    elsewhere = client.post(RESET, json={"email": second.email, "code": code, "new_password": NEW_PASSWORD})
    assert elsewhere.status_code == 400 and elsewhere.get_json()["detail"] == password_reset.WRONG_CODE
    assert api_login(client, second.email, PASSWORD).status_code == 200  # nothing changed there
    right = client.post(RESET, json={"email": first.email, "code": code, "new_password": NEW_PASSWORD})
    assert right.status_code == 200


def test_expired_codes_and_links_are_refused(app, client, tenants, smtp_server):
    user = tenants.user("clinician")
    forgot(client, user.email)
    code, link = reset_mail(smtp_server, user.email)
    with app.app_context():
        row = db.session.scalars(select(PasswordLink)).one()
        assert row.expires_at - row.created_at == timedelta(minutes=30)
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    by_code = client.post(RESET, json={"email": user.email, "code": code, "new_password": NEW_PASSWORD})
    by_link = client.post(RESET, json={"token": token_of(link), "new_password": NEW_PASSWORD})
    assert by_code.status_code == by_link.status_code == 400
    assert app.test_client().get(f"/reset-password/{token_of(link)}").status_code == 400
    assert api_login(client, user.email, PASSWORD).status_code == 200


def test_set_password_links_keep_their_72_hours(app, tenants):
    with app.app_context():
        user = db.session.get(User, tenants.user("clinician").id)
        secret = password_links.issue_password_link(user)
        row = db.session.scalars(select(PasswordLink)).one()
        assert row.expires_at - row.created_at == timedelta(hours=72) and row.code_hash is None
        db.session.commit()
        # A set-password link is not a reset link, and the other way round.
        with pytest.raises(password_reset.ResetRefused):
            password_reset.reset_link_user(secret)
        assert password_links.find_password_link(secret)[1].id == user.id


def test_wrong_codes_burn_the_reset(app, client, tenants, smtp_server):
    user = tenants.user("clinician")
    forgot(client, user.email)
    code, link = reset_mail(smtp_server, user.email)
    wrong = {"email": user.email, "code": other_code(code), "new_password": NEW_PASSWORD}
    for _ in range(password_links.MAX_CODE_ATTEMPTS):
        answer = client.post(RESET, json=wrong)
        assert answer.status_code == 400 and answer.get_json()["detail"] == password_reset.WRONG_CODE
    right = client.post(RESET, json={**wrong, "code": code})
    assert right.status_code == 400 and right.get_json()["detail"] == password_reset.WRONG_CODE  # the same words
    assert client.post(RESET, json={"token": token_of(link), "new_password": NEW_PASSWORD}).status_code == 400
    assert api_login(client, user.email, PASSWORD).status_code == 200
    reasons = [d["reason"] for action, _o, _t, d in actions(app) if action == "auth.password_reset_failed"]
    assert reasons == ["wrong_code"] * 4 + ["burned", "no_live_reset", "unknown_or_used"]

    # A new request starts a new reset with its own tries.
    forgot(client, user.email)
    code, _link = reset_mail(smtp_server, user.email, nth=2)
    assert client.post(RESET, json={**wrong, "code": other_code(code)}).status_code == 400
    assert client.post(RESET, json={**wrong, "code": code}).status_code == 200


def test_concurrent_wrong_codes_cannot_get_past_the_tries(app, tenants, smtp_server):
    """Real concurrent requests: each try is counted before its code is compared, so no more than
    the allowed number of codes is ever compared."""
    user = tenants.user("clinician")
    with LiveServer(app) as live:
        assert httpx.post(f"{live.url}{FORGOT}", json={"email": user.email}, timeout=30).status_code == 202
        code, link = reset_mail(smtp_server, user.email)
        guesses = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, 9)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(
                pool.map(
                    lambda guess: httpx.post(
                        f"{live.url}{RESET}",
                        json={"email": user.email, "code": guess, "new_password": NEW_PASSWORD},
                        timeout=30,
                    ),
                    guesses,
                )
            )
        assert {answer.status_code for answer in answers} == {400}
        late = httpx.post(f"{live.url}{RESET}", json={"token": token_of(link), "new_password": NEW_PASSWORD})
        assert late.status_code == 400
    with app.app_context():
        row = db.session.scalars(select(PasswordLink)).one()
        assert row.code_attempts == password_links.MAX_CODE_ATTEMPTS and row.used_at is not None


def test_asking_is_throttled_per_address_and_per_client(app, client, tenants):
    email = "nobody@harbour.example"  # an unknown address is throttled exactly like a known one
    limit = password_reset.REQUEST_LIMITS["address"].amount
    for _ in range(limit):
        assert forgot(client, email).status_code == 202
    refused = forgot(client, email)
    assert refused.status_code == 429 and refused.mimetype == PROBLEM
    assert refused.headers["X-RateLimit-Limit"] == str(limit)
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["X-RateLimit-Reset"]) > time.time()
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    body = refused.get_json()
    assert body["error"] == "Rate limit exceeded" and "Too many password reset requests" in body["detail"]
    assert body["rate_limit"]["limit"] == limit and body["rate_limit"]["remaining"] == 0
    known = tenants.user("clinician").email
    assert [forgot(client, known).status_code for _ in range(limit + 1)] == [202] * limit + [429]

    per_client = password_reset.REQUEST_LIMITS["ip"].amount
    other = app.test_client()
    statuses = [
        forgot(other, f"person{n}@elsewhere.example", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code
        for n in range(per_client + 1)
    ]
    assert statuses == [202] * per_client + [429]
    throttled = [d for action, outcome, _t, d in actions(app) if action == "auth.password_reset_throttled"]
    assert {"stage": "request", "by": "address"} in throttled and {"stage": "request", "by": "ip"} in throttled


def test_reset_attempts_are_throttled_per_address_and_per_client(app, client, tenants):
    email = tenants.user("clinician").email
    limit = password_reset.ATTEMPT_LIMITS["address"].amount
    body = {"email": email, "code": "123456", "new_password": NEW_PASSWORD}
    assert [client.post(RESET, json=body).status_code for _ in range(limit)] == [400] * limit
    refused = client.post(RESET, json=body)
    assert refused.status_code == 429 and refused.mimetype == PROBLEM
    assert refused.headers["X-RateLimit-Limit"] == str(limit)
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["X-RateLimit-Reset"]) > time.time()
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many password reset attempts" in refused.get_json()["detail"]

    per_client = password_reset.ATTEMPT_LIMITS["ip"].amount
    other = app.test_client()
    here = {"REMOTE_ADDR": "192.0.2.9"}
    statuses = [
        other.post(RESET, json={**body, "email": f"p{n}@elsewhere.example"}, environ_base=here).status_code
        for n in range(per_client)
    ]
    assert set(statuses) == {400}
    by_link = other.post(RESET, json={"token": "x" * 43, "new_password": NEW_PASSWORD}, environ_base=here)
    assert by_link.status_code == 429 and by_link.headers["X-RateLimit-Limit"] == str(per_client)
    throttled = [d for action, outcome, _t, d in actions(app) if action == "auth.password_reset_throttled"]
    assert {"stage": "attempt", "by": "address"} in throttled and {"stage": "attempt", "by": "ip"} in throttled


def test_the_table_holds_neither_the_code_nor_the_token(app, client, tenants, smtp_server):
    user = tenants.user("clinician")
    forgot(client, user.email)
    code, link = reset_mail(smtp_server, user.email)
    token = token_of(link)
    with app.app_context():
        rows = [dict(row._mapping) for row in db.session.execute(text("SELECT * FROM password_links"))]
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0].values())
    assert code not in stored and token not in stored
    # Not a plain hash of either (a plain hash of a 6-digit code falls to a million tries).
    for plain in (code, token):
        assert hashlib.sha256(plain.encode()).hexdigest() != rows[0]["code_hash"]
    assert rows[0]["secret_hash"] == hashlib.sha256(token.encode()).hexdigest()  # 256 bits: a hash is enough
    key = app.config["SECRET_KEY"]
    assert rows[0]["code_hash"] == keyed_hash(key, f"password-code:{rows[0]['id']}:{code}")


def test_request_shapes_and_password_rules(client, tenants, smtp_server):
    user = tenants.user("clinician")
    malformed = forgot(client, "not an address")
    assert malformed.status_code == 422 and malformed.get_json()["errors"][0]["field"] == "email"
    missing = client.post(RESET, json={"new_password": NEW_PASSWORD})
    assert missing.status_code == 422
    assert [e["field"] for e in missing.get_json()["errors"]] == ["email", "code"]
    both = client.post(RESET, json={"token": "abc", "email": user.email, "code": "123456", "new_password": "x"})
    assert both.status_code == 422 and both.get_json()["errors"][0]["field"] == "token"
    assert client.post(RESET, json={"email": user.email, "code": "12345", "new_password": "x"}).status_code == 422

    forgot(client, user.email)
    code, _link = reset_mail(smtp_server, user.email)
    weak = client.post(RESET, json={"email": user.email, "code": code, "new_password": "password1234"})
    assert weak.status_code == 422 and weak.get_json()["errors"][0]["field"] == "new_password"
    own = client.post(RESET, json={"email": user.email, "code": code, "new_password": user.email})
    assert own.status_code == 422 and own.get_json()["errors"][0]["field"] == "new_password"
    # Refused passwords changed nothing: the code still works.
    assert client.post(RESET, json={"email": user.email, "code": code, "new_password": NEW_PASSWORD}).status_code == 200


def test_a_reset_of_someone_deactivated_since_is_refused(app, client, tenants, smtp_server):
    user = tenants.user("clinician")
    forgot(client, user.email)
    code, link = reset_mail(smtp_server, user.email)
    with app.app_context():
        db.session.execute(update(User).where(User.id == user.id).values(is_active=False))
        db.session.commit()
    assert client.post(RESET, json={"email": user.email, "code": code, "new_password": NEW_PASSWORD}).status_code == 400
    assert client.post(RESET, json={"token": token_of(link), "new_password": NEW_PASSWORD}).status_code == 400


def test_the_operations_are_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    forgot_op = spec["paths"][FORGOT]["post"]
    reset_op = spec["paths"][RESET]["post"]
    assert forgot_op["security"] == [] and reset_op["security"] == []
    assert {"202", "422", "429"} <= set(forgot_op["responses"])
    assert {"200", "400", "422", "429"} <= set(reset_op["responses"])


def test_the_model_matches_the_migrated_schema(app):
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), db.metadata)
    assert [d for d in differences if "password_links" in repr(d)] == []


# --- the browser pages ---------------------------------------------------------------------------


def test_the_sign_in_page_offers_forgot_password(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/forgot-password"' in page and "Forgot password?" in page


def test_forgot_page_answers_every_address_with_the_same_confirmation(app, client, tenants, smtp_server):
    page = client.get("/forgot-password")
    assert page.status_code == 200 and 'name="email"' in page.get_data(as_text=True)
    assert client.post("/forgot-password", data={"email": "x@harbour.example"}).status_code == 400  # no CSRF token

    pages = []
    for email in ("nobody@harbour.example", tenants.user("clinician").email):
        browser = app.test_client()
        token = csrf_from(browser.get("/forgot-password").get_data(as_text=True))
        answer = browser.post("/forgot-password", data={"email": email, "csrf_token": token})
        assert answer.status_code == 303 and answer.headers["Location"] == "/reset-password"
        confirmation = browser.get("/reset-password").get_data(as_text=True)
        assert password_reset.FORGOT_ANSWER.split(",")[0] in confirmation
        assert f'value="{email}"' in confirmation  # the address is offered again on the code form
        pages.append(re.sub(r'(value|content|nonce)="[^"]*"', "", confirmation))  # tokens, nonces, the address
    assert pages[0] == pages[1]
    reset_mail(smtp_server, tenants.user("clinician").email)

    token = csrf_from(client.get("/forgot-password").get_data(as_text=True))
    malformed = client.post("/forgot-password", data={"email": "not an address", "csrf_token": token})
    assert malformed.status_code == 422 and 'class="field-error"' in malformed.get_data(as_text=True)


def test_the_code_page_resets_the_password(app, client, tenants, smtp_server):
    user = tenants.user("receptionist")
    signed_in = app.test_client()
    assert sign_in(signed_in, user.email).status_code == 303
    forgot(client, user.email)
    code, _link = reset_mail(smtp_server, user.email)
    token = csrf_from(client.get("/reset-password").get_data(as_text=True))
    form = {"email": user.email, "code": other_code(code), "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}

    wrong = client.post("/reset-password", data={**form, "csrf_token": token})
    assert wrong.status_code == 400 and password_reset.WRONG_CODE in wrong.get_data(as_text=True)
    differ = client.post(
        "/reset-password", data={**form, "code": code, "confirm": "something else", "csrf_token": token}
    )
    assert differ.status_code == 422 and "The passwords differ." in differ.get_data(as_text=True)
    spaced = f"{code[:3]} {code[3:]}"  # as people type it back
    done = client.post("/reset-password", data={**form, "code": spaced, "csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"] == "/login"
    assert password_reset.RESET_DONE in client.get("/login").get_data(as_text=True)
    assert sign_in(app.test_client(), user.email, NEW_PASSWORD).status_code == 303
    assert signed_in.get("/account").status_code == 302  # signed out everywhere


def test_the_link_page_sets_the_password_once(app, client, tenants, smtp_server, caplog):
    user = tenants.user("clinician")
    forgot(client, user.email)
    _code, link = reset_mail(smtp_server, user.email)
    path = f"/reset-password/{token_of(link)}"
    caplog.set_level(logging.INFO, logger="clinic_app.request")
    page = client.get(path)
    assert page.status_code == 200 and user.email in page.get_data(as_text=True)
    assert client.post(path, data={"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 400  # CSRF
    token = csrf_from(page.get_data(as_text=True))
    weak = client.post(path, data={"new_password": "short", "confirm": "short", "csrf_token": token})
    assert weak.status_code == 422 and "at least 12 characters" in weak.get_data(as_text=True)
    done = client.post(path, data={"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"] == "/login"
    gone = client.get(path)
    assert gone.status_code == 400
    assert 'href="/forgot-password"' in gone.get_data(as_text=True)
    assert "expired or was already used" in gone.get_data(as_text=True)
    assert client.get("/reset-password/not-a-real-secret").status_code == 400
    assert sign_in(app.test_client(), user.email, NEW_PASSWORD).status_code == 303
    assert not any(token_of(link) in record.getMessage() + str(record.__dict__) for record in caplog.records)


def test_the_browser_throttle_answers_429_with_the_headers(app, client, tenants):
    limit = password_reset.REQUEST_LIMITS["address"].amount
    for _ in range(limit + 1):
        token = csrf_from(client.get("/forgot-password").get_data(as_text=True))
        answer = client.post("/forgot-password", data={"email": "nobody@harbour.example", "csrf_token": token})
    assert answer.status_code == 429
    assert answer.headers["X-RateLimit-Limit"] == str(limit) and int(answer.headers["Retry-After"]) > 0
    assert "Too many password reset requests" in answer.get_data(as_text=True)


def test_an_access_token_does_not_survive_a_reset(app, client, tenants, smtp_server):
    user = tenants.user("admin")
    access = access_token_for(app, user)
    forgot(client, user.email)
    code, _link = reset_mail(smtp_server, user.email)
    assert client.post(RESET, json={"email": user.email, "code": code, "new_password": NEW_PASSWORD}).status_code == 200
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {access}"}).status_code == 401
