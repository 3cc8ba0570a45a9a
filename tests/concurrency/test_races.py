"""Check-then-act under real concurrency: threads against a running server, on the suite's
database and on SQLite. Each test failed before its rule became one atomic operation."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from clinic_app.auth.models import TokenFamily
from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from clinic_app.patients import service as patients
from tests.concurrency.conftest import at_once
from tests.factories import PASSWORD, build_tenants, csrf_from

THROTTLE_MESSAGE = "Too many failed sign-in attempts"


def _tenants(app):
    with app.app_context():
        return build_tenants()


def _login(url, email, password):
    return httpx.post(f"{url}/api/v1/auth/login", json={"email": email, "password": password}, timeout=60)


def test_concurrent_wrong_passwords_cannot_slip_past_the_throttle(live):
    tenants = _tenants(live.app)
    email = tenants.user("clinician").email
    answers = at_once(13, lambda i: _login(live.url, email, f"wrong guess {i}"))
    statuses = sorted(answer.status_code for answer in answers)
    evaluated = [a for a in answers if a.status_code == 401]
    refused = [a for a in answers if a.status_code == 429]
    assert len(evaluated) + len(refused) == 13, statuses
    # At most five guesses are ever checked; the sixth and later are refused unseen.
    assert len(evaluated) <= 5, statuses
    assert all(THROTTLE_MESSAGE in a.json()["detail"] for a in refused)

    # Refused attempts are not failures: more guesses one at a time are evaluated only until five
    # in all have been, then the account is locked for the window, the right password included.
    later = [_login(live.url, email, f"later guess {n}") for n in range(6)]
    assert len(evaluated) + sum(1 for answer in later if answer.status_code == 401) == 5
    assert later[-1].status_code == 429
    right = _login(live.url, email, PASSWORD)
    assert right.status_code == 429 and THROTTLE_MESSAGE in right.json()["detail"]


def test_concurrent_refreshes_with_one_token_let_exactly_one_through(live):
    tenants = _tenants(live.app)
    for _trial in range(3):
        pair = _login(live.url, tenants.user("admin").email, PASSWORD).json()
        answers = at_once(
            4,
            lambda _i, token=pair["refresh_token"]: httpx.post(
                f"{live.url}/api/v1/auth/refresh", json={"refresh_token": token}, timeout=60
            ),
        )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200, 401, 401, 401], statuses
        assert not any(answer.status_code >= 500 for answer in answers)
        # The losers were replays: the whole log-in is ended, the winner's new tokens included.
        winner = next(answer for answer in answers if answer.status_code == 200).json()
        again = httpx.post(f"{live.url}/api/v1/auth/refresh", json={"refresh_token": winner["refresh_token"]})
        assert again.status_code == 401
        verify = httpx.get(
            f"{live.url}/api/v1/auth/verify", headers={"Authorization": f"Bearer {winner['access_token']}"}
        )
        assert verify.status_code == 401
    with live.app.app_context():
        alarms = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "auth.refresh_reuse_detected", AuditEvent.outcome == audit.ALARM)
        )
        revoked = db.session.scalar(
            select(func.count()).select_from(TokenFamily).where(TokenFamily.revoked_reason == "refresh_token_reused")
        )
    assert revoked == 3
    assert alarms >= 3  # at least one per trial, none dropped


def test_concurrent_audited_requests_keep_one_unbroken_chain(live):
    tenants = _tenants(live.app)
    with live.app.app_context():
        record = patients.validate_for(tenants.a.id, {"first_name": "Mia", "last_name": "Davis"})
        patient = patients.create_patient(tenants.a.id, record, actor=audit.Actor())
        db.session.commit()
        patient_id = patient.id
    token = _login(live.url, tenants.user("clinician").email, PASSWORD).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    answers = at_once(12, lambda _i: httpx.get(f"{live.url}/api/v1/patients/{patient_id}", headers=headers, timeout=60))
    assert [answer.status_code for answer in answers] == [200] * 12
    with live.app.app_context():
        reads = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.patient_id == patient_id, AuditEvent.action.like("patient.%"))
        )
        checked, problems = audit.verify_chains()
    assert reads >= 12
    assert problems == [] and checked > 12


def test_one_invitation_link_used_at_once_twice_makes_one_account(live):
    from clinic_app.accounts.models import User
    from clinic_app.orgs import invitations

    tenants = _tenants(live.app)
    with live.app.app_context():
        issued = invitations.invite_staff_member(
            organization_id=tenants.a.id,
            email="twice@example.com",
            display_name="",
            role="clinician",
            actor=audit.Actor(user_id=tenants.user("admin").id),
            actor_role="admin",
        )
        db.session.commit()
    url = f"{live.url}/invitations/{issued.secret}"

    # Four people open the link first (each gets the form and its CSRF token), then all send it at once.
    clients = [httpx.Client() for _ in range(4)]
    tokens = [csrf_from(client.get(url).text) for client in clients]

    def join(index):
        password = "violet harbour lantern quietly"
        return clients[index].post(
            f"{url}/join",
            data={"display_name": f"Person {index}", "new_password": password, "confirm": password},
            headers={"X-CSRFToken": tokens[index]},
            timeout=60,
        )

    try:
        answers = at_once(4, join)
    finally:
        for client in clients:
            client.close()
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(303) == 1 and not any(status >= 500 for status in statuses), statuses
    with live.app.app_context():
        users = db.session.scalars(select(User).where(User.email == "twice@example.com")).all()
        assert len(users) == 1


def test_concurrent_wrong_signing_passwords_cannot_slip_past_the_throttle(live):
    from tests.factories import access_token_for
    from tests.reports.test_verify import make_report

    tenants = _tenants(live.app)
    clinician = tenants.user("clinician")
    report_id = make_report(live.app, tenants.a, clinician, sign=False)
    headers = {"Authorization": f"Bearer {access_token_for(live.app, clinician)}"}

    def sign(password):
        url = f"{live.url}/api/v1/reports/{report_id}/sign"
        return httpx.post(url, json={"password": password}, headers=headers, timeout=60)

    answers = at_once(12, lambda i: sign(f"wrong guess {i}"))
    statuses = sorted(answer.status_code for answer in answers)
    evaluated = [a for a in answers if a.status_code == 422]
    refused = [a for a in answers if a.status_code == 429]
    assert len(evaluated) + len(refused) == 12, statuses
    # At most five wrong passwords are ever checked in the window; the rest are refused unseen.
    assert len(evaluated) <= 5, statuses
    assert all("Too many wrong passwords" in a.json()["detail"] and a.headers["Retry-After"] for a in refused)
    later = [sign(f"later guess {n}") for n in range(6)]
    assert len(evaluated) + sum(1 for answer in later if answer.status_code == 422) == 5
    right = sign(PASSWORD)
    assert right.status_code == 429, right.text
    with live.app.app_context():
        failures = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "report.sign_failed")
        )
        assert failures == 5
