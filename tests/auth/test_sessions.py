"""Browser sign-in: sessions that really end, timeouts on the server, no fixation, safe redirects,
throttled guessing, and passwords stored with argon2id."""

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from clinic_app.accounts.models import User
from clinic_app.auth.models import UserSession
from clinic_app.core.audit import AuditEvent
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from tests.factories import PASSWORD, csrf_from, page_csrf, sign_in

COOKIE = "clinic_session"


def session_cookie(client):
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def test_sign_in_lands_on_the_next_page_with_a_fresh_session(app, client, tenants):
    client.get("/login")
    before = session_cookie(client)
    token = csrf_from(client.get("/login?next=/account").get_data(as_text=True))
    response = client.post(
        "/login?next=/account",
        data={"email": tenants.user("clinician").email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    assert session_cookie(client) != before  # the pre-login session is not reused
    assert signed_in(client)
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login")).one()
        assert event.actor_user_id == tenants.user("clinician").id
        assert event.organization_id == tenants.a.id


def test_unknown_email_and_wrong_password_get_the_same_answer(client, tenants):
    unknown = sign_in(client, "nobody@harbour.example")
    wrong = sign_in(client, tenants.user("admin").email, "not the right password")
    assert unknown.status_code == wrong.status_code == 401
    message = "The e-mail address or password is not right."
    assert message in unknown.get_data(as_text=True) and message in wrong.get_data(as_text=True)
    assert not signed_in(client)


def test_deactivated_person_cannot_sign_in(app, client, tenants):
    with app.app_context():
        db.session.get(User, tenants.user("clinician").id).is_active = False
        db.session.commit()
    assert sign_in(client, tenants.user("clinician").email).status_code == 401


@pytest.mark.parametrize(
    ("next_url", "landing"),
    [
        ("/patients", "/patients"),
        ("https://evil.example/steal", "/"),
        ("//evil.example/steal", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/\t/evil.example", "/"),  # browsers drop the tab: "//evil.example"
        ("/\n/evil.example", "/"),
        ("/patients\\evil", "/"),
        ("/patients\u2028x", "/"),
        ("/patients\x00", "/"),
        ("/" + "a" * 2001, "/"),
        ("/patients?q=jane&status=all", "/patients?q=jane&status=all"),
    ],
    ids=lambda value: repr(value)[:32],
)
def test_next_redirects_never_leave_the_site(client, tenants, next_url, landing):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login",
        query_string={"next": next_url},
        data={"email": tenants.user("admin").email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == landing


@pytest.mark.parametrize("encoded", ["/%0d%0aSet-Cookie:x=1", "/%0aLocation:%20https://evil.example", "/a%0d"])
def test_next_with_a_line_break_lands_home_signed_in(client, tenants, encoded):
    """A CR or LF in ``next`` would split the redirect's headers (the framework refuses such a
    header, which was a 500 after a correct password): the sign-in goes home instead."""
    token = csrf_from(client.get(f"/login?next={encoded}").get_data(as_text=True))
    response = client.post(
        f"/login?next={encoded}",
        data={"email": tenants.user("clinician").email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert client.get_cookie("x") is None
    assert signed_in(client)  # the session is kept
    again = client.get(f"/login?next={encoded}")  # signed in already: straight on, home
    assert again.status_code == 302 and again.headers["Location"] == "/"


def test_a_cookie_copied_before_sign_out_is_refused_afterwards(app, login_as):
    client = login_as("clinician")
    stolen = session_cookie(client)
    client.post("/logout", data={"csrf_token": page_csrf(client)})
    assert not signed_in(client)

    thief = app.test_client()
    thief.set_cookie(COOKIE, stolen)
    response = thief.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_sign_out_needs_csrf(login_as):
    client = login_as("clinician")
    assert client.post("/logout").status_code == 400
    assert signed_in(client)


def test_password_change_signs_out_every_other_session(app, login_as, tenants):
    laptop = login_as("clinician")
    phone = login_as("clinician")
    new_password = "a brand new harbour passphrase"
    response = laptop.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": new_password,
            "confirm": new_password,
            "csrf_token": page_csrf(laptop),
        },
    )
    assert response.status_code == 303
    assert signed_in(laptop)
    assert not signed_in(phone)
    assert sign_in(app.test_client(), tenants.user("clinician").email, new_password).status_code == 303


def test_password_change_refuses_a_weak_or_common_password(login_as):
    client = login_as("clinician")
    for bad, message in [
        ("short", "at least 12 characters"),
        ("qwerty123456", "commonly used passwords"),
        ("passwordpassword", "repeats"),
        ("dragon1234567", "commonly used passwords"),
    ]:
        response = client.post(
            "/account/password",
            data={"current_password": PASSWORD, "new_password": bad, "confirm": bad, "csrf_token": page_csrf(client)},
        )
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)


def test_passwords_are_stored_with_argon2id(app, tenants):
    with app.app_context():
        hashes = db.session.scalars(select(User.password_hash)).all()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(PASSWORD in h for h in hashes)


def test_idle_timeout_is_enforced_on_the_server(app, login_as):
    client = login_as("receptionist")
    now = utcnow()
    with time_machine.travel(now + timedelta(minutes=29), tick=False):
        assert signed_in(client)  # activity keeps the session alive ...
    with time_machine.travel(now + timedelta(minutes=29 + 29), tick=False):
        assert signed_in(client)
    with time_machine.travel(now + timedelta(minutes=29 + 29 + 31), tick=False):
        assert not signed_in(client)  # ... but 31 idle minutes end it
    with app.app_context():
        assert db.session.scalars(select(UserSession)).one().revoked_at is not None


def test_absolute_lifetime_is_enforced_however_active(login_as):
    client = login_as("receptionist")
    start = utcnow()
    for minutes in range(20, 12 * 60, 20):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            assert signed_in(client)
    with time_machine.travel(start + timedelta(hours=12, minutes=1), tick=False):
        assert not signed_in(client)


def test_failed_sign_ins_are_throttled_per_account(app, client, tenants):
    email = tenants.user("admin").email
    for _ in range(5):
        assert sign_in(client, email, "wrong wrong wrong").status_code == 401
    throttled = sign_in(client, email)  # even the right password waits now
    assert throttled.status_code == 429
    assert "Too many failed sign-in attempts" in throttled.get_data(as_text=True)
    assert sign_in(app.test_client(), tenants.user("clinician").email).status_code == 303  # others unaffected
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action)).all()
    assert actions.count("auth.login_failed") == 5
    assert "auth.login_throttled" in actions


def test_failed_sign_ins_are_throttled_per_address(app, tenants):
    client = app.test_client()
    for n in range(20):
        sign_in(client, f"guess{n}@harbour.example", "wrong wrong wrong")
    assert sign_in(client, tenants.user("admin").email).status_code == 429


def test_successful_sign_ins_do_not_count_towards_throttling(app, tenants):
    for _ in range(8):
        assert sign_in(app.test_client(), tenants.user("admin").email).status_code == 303


def test_session_cookie_flags(client, tenants):
    response = sign_in(client, tenants.user("admin").email)
    header = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith(COOKIE))
    assert "HttpOnly" in header and "SameSite=Lax" in header


def test_production_cookie_is_secure_with_host_prefix(make_app, tenants):
    app = make_app()
    app.config.update(SESSION_COOKIE_SECURE=True, SESSION_COOKIE_NAME="__Host-clinic_session")
    client = app.test_client()
    token = csrf_from(client.get("/login", base_url="https://localhost").get_data(as_text=True))
    response = client.post(
        "/login",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},
        data={"email": tenants.user("admin").email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 303
    header = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("__Host-clinic_session="))
    assert "Secure" in header and "Path=/" in header and "Domain" not in header


def test_htmx_request_after_the_session_ended_is_told_to_redirect(login_as):
    client = login_as("admin")
    client.post("/logout", data={"csrf_token": page_csrf(client)})
    response = client.get("/patients", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_switching_organization(app, tenants):
    from clinic_app.core import audit
    from clinic_app.orgs import service as orgs

    with app.app_context():
        user = db.session.get(User, tenants.user("clinician").id)
        orgs.add_membership(organization_id=tenants.b.id, user=user, role="receptionist", actor=audit.Actor())
        db.session.commit()
    client = app.test_client()
    sign_in(client, tenants.user("clinician").email)
    page = client.get("/account").get_data(as_text=True)
    assert 'id="org-switch"' in page and "Northside Mind Health" in page
    response = client.post(
        "/organizations/switch",
        data={"organization_id": tenants.b.id, "next": "/account", "csrf_token": csrf_from(page)},
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalars(select(UserSession)).one().organization_id == tenants.b.id
    unknown = client.post(
        "/organizations/switch", data={"organization_id": "org_doesnotexist", "csrf_token": csrf_from(page)}
    )
    assert unknown.status_code == 404


def test_refused_access_after_an_idle_minute_is_quick_and_audited(app, login_as):
    """A session touch and the denial's audit event are written apart from the request's own
    transaction, so neither waits on the other (SQLite would lock for 30 s and answer 500)."""
    import time

    client = login_as("receptionist")
    with time_machine.travel(utcnow() + timedelta(minutes=2), tick=False):
        started = time.monotonic()
        response = client.get("/staff")
        assert response.status_code == 403
        assert time.monotonic() - started < 5
    with app.app_context():
        denied = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).one()
        assert denied.target_id == "orgs.staff" and denied.outcome == "denied"
        assert db.session.scalars(select(UserSession)).one().last_seen_at > utcnow() + timedelta(minutes=1)


def test_a_signed_in_page_reads_session_user_and_memberships_in_one_statement(app, login_as, tenants):
    """Every signed-in request needs its session, its person and their memberships: one statement,
    not one for each (issue 21: fewer round trips per request)."""
    from sqlalchemy import event

    client = login_as("receptionist")
    client.get("/patients")
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def before(_connection, _cursor, statement, *_):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        assert client.get("/patients").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", before)
    identity = [s for s in seen if "user_sessions" in s or "memberships" in s]
    assert len(identity) == 1, identity
    assert all(table in identity[0] for table in ("user_sessions", "users", "memberships", "organizations"))


def test_a_member_of_a_deactivated_organization_keeps_only_their_active_ones(app, login_as, tenants):
    """The joined read skips memberships in an organization that was deactivated, as the separate
    read did: the account page lists only the organization they can still work in."""
    from clinic_app.core import audit
    from clinic_app.orgs import service as orgs
    from clinic_app.orgs.models import Organization

    with app.app_context():
        user = db.session.get(User, tenants.user("clinician").id)
        orgs.add_membership(organization_id=tenants.b.id, user=user, role="clinician", actor=audit.Actor())
        db.session.commit()
        names = (tenants.a.name, db.session.get(Organization, tenants.b.id).name)
    client = login_as("clinician")
    assert all(name in client.get("/account").get_data(as_text=True) for name in names)
    with app.app_context():
        db.session.get(Organization, tenants.b.id).is_active = False
        db.session.commit()
    page = client.get("/account").get_data(as_text=True)
    assert names[0] in page and names[1] not in page
