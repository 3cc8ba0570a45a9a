"""One organization acting on its member touches that membership only: never the person's
password, sessions or log-ins for other organizations. What acted for the organization on the
person's authority (API log-ins bound to it, API tokens they created there) ends with it."""

from __future__ import annotations

from sqlalchemy import select

from clinic_app.accounts.models import User
from clinic_app.auth import api_tokens
from clinic_app.auth.models import ApiToken, TokenFamily
from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from tests.factories import PASSWORD, make_user, page_csrf, sign_in


def bearer(token, **extra):
    return {"Authorization": f"Bearer {token}", **extra}


def login(client, email, organization_id=None):
    body = {"email": email, "password": PASSWORD}
    if organization_id:
        body["organization_id"] = organization_id
    response = client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def shared_person(app, tenants):
    """Receptionist in A, practice admin in B."""
    with app.app_context():
        person = make_user("shared@example.com", organization_id=tenants.a.id, role="receptionist", name="Sam Shared")
        orgs.add_membership(organization_id=tenants.b.id, user=person, role="admin", actor=audit.Actor())
        db.session.commit()
        db.session.expunge(person)
        return person


def membership_id(app, user_id, organization_id):
    with app.app_context():
        return orgs.active_membership(user_id, organization_id).id


def test_another_clinic_removing_a_shared_member_leaves_their_other_access_alone(app, login_as, tenants):
    person = shared_person(app, tenants)
    browser = app.test_client()
    assert sign_in(browser, person.email).status_code == 303
    for_a = login(app.test_client(), person.email, tenants.a.id)
    for_b = login(app.test_client(), person.email, tenants.b.id)
    assert for_a["organization_id"] == tenants.a.id and for_b["organization_id"] == tenants.b.id
    with app.app_context():
        created, plain = api_tokens.create_api_token(
            organization_id=tenants.b.id,
            name="B's booking sync",
            scopes=["patients:read"],
            expires_in_days=None,
            creator=db.session.get(User, person.id),
            creator_role="admin",
        )
        db.session.commit()
        version_before = db.session.get(User, person.id).session_version

    owner_b = login_as("outsider")
    target = membership_id(app, person.id, tenants.b.id)
    ask = owner_b.post(f"/staff/members/{target}/deactivate", data={"csrf_token": page_csrf(owner_b, "/staff")})
    assert "B&#39;s booking sync" in ask.get_data(as_text=True)  # the confirmation names what stops
    done = owner_b.post(
        f"/staff/members/{target}/deactivate",
        data={"confirmed": "yes"},
        headers={"HX-Request": "true", "X-CSRFToken": page_csrf(owner_b, "/staff")},
    )
    assert done.status_code == 200

    with app.app_context():
        assert db.session.get(User, person.id).session_version == version_before
        families = {f.organization_id: f for f in db.session.scalars(select(TokenFamily))}
        assert families[tenants.a.id].revoked_at is None
        assert families[tenants.b.id].revoked_reason == "membership_deactivated"
        token = db.session.get(ApiToken, created.id)
        assert token.revoked_at is not None and token.revoked_reason == "creator_removed"
        revoked = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "api_token.revoked"))
        assert revoked.target_id == created.id and revoked.details == {"reason": "creator_removed"}

    # Still at work in A: the browser session, and the API log-in for A without any header.
    assert browser.get("/patients").status_code == 200
    verify = app.test_client().get("/api/v1/auth/verify", headers=bearer(for_a["access_token"]))
    assert verify.status_code == 200 and verify.get_json()["organization_id"] == tenants.a.id
    # Nothing reaches B any more.
    assert app.test_client().get("/api/v1/auth/verify", headers=bearer(for_b["access_token"])).status_code == 401
    assert app.test_client().get("/api/v1/patients/list/", headers=bearer(plain)).status_code == 401
    assert browser.get("/patients", headers={"X-Organization-ID": tenants.b.id}).status_code == 404


def test_a_single_clinic_api_client_keeps_working_when_its_person_joins_another(app, client, tenants):
    access = login(client, tenants.user("clinician").email)["access_token"]
    with app.app_context():
        orgs.add_membership(
            organization_id=tenants.b.id,
            user=db.session.get(User, tenants.user("clinician").id),
            role="receptionist",
            actor=audit.Actor(),
        )
        db.session.commit()
    verify = client.get("/api/v1/auth/verify", headers=bearer(access))
    assert verify.status_code == 200 and verify.get_json()["organization_id"] == tenants.a.id
    me = client.get("/api/v1/auth/me", headers=bearer(access)).get_json()
    assert me["role"] == "clinician"
    # Bound to A: it reaches no other organization, whichever it names.
    assert (
        client.get("/api/v1/auth/verify", headers=bearer(access, **{"X-Organization-ID": tenants.b.id})).status_code
        == 404
    )
    assert (
        client.get("/api/v1/auth/me", headers=bearer(access, **{"X-Organization-ID": tenants.b.id})).status_code == 404
    )


def test_logging_in_for_an_organization_that_is_not_yours_is_refused(client, tenants):
    response = client.post(
        "/api/v1/auth/login",
        json={"email": tenants.user("clinician").email, "password": PASSWORD, "organization_id": tenants.b.id},
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == ["organization_id"]


def test_a_role_change_revokes_the_tokens_the_new_role_could_not_create(app, login_as, tenants):
    creator = tenants.user("admin")
    with app.app_context():
        user = db.session.get(User, creator.id)
        wide, _ = api_tokens.create_api_token(
            organization_id=tenants.a.id,
            name="Staff sync",
            scopes=["admin:staff"],
            expires_in_days=None,
            creator=user,
            creator_role="admin",
        )
        narrow, narrow_plain = api_tokens.create_api_token(
            organization_id=tenants.a.id,
            name="Diary feed",
            scopes=["appointments:read", "organization:member"],
            expires_in_days=None,
            creator=user,
            creator_role="admin",
        )
        db.session.commit()
    owner = login_as("owner")
    target = membership_id(app, creator.id, tenants.a.id)
    ask = owner.post(
        f"/staff/members/{target}/role", data={"role": "receptionist", "csrf_token": page_csrf(owner, "/staff")}
    )
    assert "Staff sync" in ask.get_data(as_text=True) and "Diary feed" not in ask.get_data(as_text=True)
    owner.post(
        f"/staff/members/{target}/role",
        data={"role": "receptionist", "confirmed": "yes"},
        headers={"HX-Request": "true", "X-CSRFToken": page_csrf(owner, "/staff")},
    )
    with app.app_context():
        assert db.session.get(ApiToken, wide.id).revoked_reason == "creator_role_changed"
        assert db.session.get(ApiToken, narrow.id).revoked_at is None
    assert app.test_client().get("/api/v1/auth/verify", headers=bearer(narrow_plain)).status_code == 200
