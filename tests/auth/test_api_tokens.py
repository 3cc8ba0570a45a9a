"""The API tokens page: admins list, create (the secret shown once, only its hash stored) and
revoke their organization's tokens; nobody else can, and no one can grant more than they hold."""

import hashlib
import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from clinic_app.auth.models import ApiToken
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from tests.factories import api_token_for, page_csrf

PAGE = "/settings/api-tokens"
SECRET = re.compile(r"clk_[A-Za-z0-9_-]{43}")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def admin(login_as):
    return login_as("admin")


def create(client, *, htmx=False, **fields):
    data = {"name": "Reporting", "scopes": ["organization:member"], "expires_in": "90", **fields}
    headers = {"X-CSRFToken": page_csrf(client, PAGE), **(HTMX if htmx else {})}
    return client.post(PAGE, data=data, headers=headers)


def stored_tokens(app):
    with app.app_context():
        return db.session.scalars(select(ApiToken).order_by(ApiToken.created_at)).all()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


# --- the page ---------------------------------------------------------------------------------


def test_page_and_fragment_with_empty_state(admin):
    response = admin.get(PAGE)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in page and 'id="api-token-form"' in page and "No API tokens yet" in page
    assert "HX-Request" in response.headers["Vary"]
    fragment = admin.get(PAGE, headers=HTMX).get_data(as_text=True)
    assert "<html" not in fragment and 'id="api-token-form"' in fragment and 'id="api-token-list"' in fragment


def test_the_form_offers_only_permissions_the_admin_holds(admin):
    page = admin.get(PAGE).get_data(as_text=True)
    offered = set(re.findall(r'name="scopes" value="([^"]+)"', page))
    assert {"organization:member", "patients:read", "admin:tokens"} <= offered
    assert "clinical:read" not in offered and "reports:sign" not in offered


def test_owner_may_offer_every_permission(login_as):
    page = login_as("owner").get(PAGE).get_data(as_text=True)
    assert 'value="clinical:read"' in page and 'value="reports:sign"' in page


@pytest.mark.parametrize("role", ["receptionist", "clinician"])
def test_other_roles_are_forbidden(login_as, role):
    client = login_as(role)
    assert client.get(PAGE).status_code == 403
    token = page_csrf(client, "/account")
    response = client.post(PAGE, data={"name": "x", "scopes": ["organization:member"]}, headers={"X-CSRFToken": token})
    assert response.status_code == 403


def test_anonymous_is_sent_to_sign_in(client, tenants):
    response = client.get(PAGE)
    assert response.status_code == 302 and response.headers["Location"] == f"/login?next={PAGE}"


def test_an_api_token_cannot_manage_tokens(app, client, tenants):
    token = api_token_for(app, tenants.a.id, ["admin:tokens"], creator=tenants.user("owner"))
    response = client.get(PAGE, headers=bearer(token))
    assert response.status_code == 403
    response = client.post(PAGE, data={"name": "Escalation", "scopes": ["admin:tokens"]}, headers=bearer(token))
    assert response.status_code == 403
    assert len(stored_tokens(app)) == 1


def test_each_organization_sees_only_its_own_tokens(app, tenants, login_as):
    api_token_for(app, tenants.a.id, ["organization:member"], creator=tenants.user("owner"))
    assert "Test integration" in login_as("admin").get(PAGE).get_data(as_text=True)
    outsider_page = login_as("outsider").get(PAGE).get_data(as_text=True)
    assert "Test integration" not in outsider_page and "No API tokens yet" in outsider_page


# --- creating ---------------------------------------------------------------------------------


def test_admin_creates_a_token_shown_once_and_only_its_hash_is_stored(app, admin, tenants):
    response = create(admin, name="Monthly reporting", scopes=["organization:member", "patients:read"])
    html = response.get_data(as_text=True)
    assert response.status_code == 201, html
    assert "it will not be shown again" in html
    assert 'hx-history="false"' in html  # never cached by htmx in localStorage
    secrets = SECRET.findall(html)
    assert len(set(secrets)) == 1
    secret = secrets[0]

    [token] = stored_tokens(app)
    assert token.organization_id == tenants.a.id
    assert token.name == "Monthly reporting"
    assert token.scopes == ["organization:member", "patients:read"]
    assert token.created_by_id == tenants.user("admin").id
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.display_prefix == secret[:10]
    columns = {c.name: getattr(token, c.key) for c in ApiToken.__table__.columns}
    assert not any(secret in str(value) for value in columns.values())
    assert abs(token.expires_at - (utcnow() + timedelta(days=90))) < timedelta(minutes=1)

    # Never again: the list shows the prefix only.
    later = admin.get(PAGE).get_data(as_text=True)
    assert secret not in later and f"{secret[:10]}…" in later and "Monthly reporting" in later
    assert "Admin" in later and "Active" in later


def test_created_token_works_as_a_bearer_until_revoked(app, client, admin, tenants):
    secret = SECRET.search(create(admin, htmx=True).get_data(as_text=True)).group(0)
    verify = client.get("/api/v1/auth/verify", headers=bearer(secret))
    assert verify.status_code == 200
    assert verify.get_json() == {
        "authenticated": True,
        "organization_id": tenants.a.id,
        "message": "Authentication successful",
    }
    [token] = stored_tokens(app)
    assert token.last_used_at is not None

    response = admin.post(f"{PAGE}/{token.id}/revoke", headers={"X-CSRFToken": page_csrf(admin, PAGE), **HTMX})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and 'id="api-token-list"' in html
    assert 'data-status="revoked"' in html and "Revoked" in html and 'hx-swap-oob="true"' in html
    assert f"{PAGE}/{token.id}/revoke" not in html  # no revoke button for a revoked token

    denied = client.get("/api/v1/auth/verify", headers=bearer(secret))
    assert denied.status_code == 401 and denied.mimetype == "application/problem+json"
    assert stored_tokens(app)[0].revoked_at is not None


def test_plain_form_revoke_redirects_with_a_message(app, admin, tenants):
    create(admin)
    [token] = stored_tokens(app)
    token_csrf = page_csrf(admin, PAGE)
    response = admin.post(f"{PAGE}/{token.id}/revoke", data={"csrf_token": token_csrf})
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    page = admin.get(PAGE).get_data(as_text=True)
    assert "“Reporting” was revoked" in page and 'data-status="revoked"' in page
    # Revoking twice is a conflict, not a silent success.
    again = admin.post(f"{PAGE}/{token.id}/revoke", data={"csrf_token": token_csrf})
    assert again.status_code == 409


def test_revoke_needs_the_csrf_token(app, admin):
    create(admin)
    [token] = stored_tokens(app)
    assert admin.post(f"{PAGE}/{token.id}/revoke").status_code == 400
    assert stored_tokens(app)[0].revoked_at is None


def test_another_organizations_token_cannot_be_revoked(app, client, admin, tenants):
    secret = api_token_for(app, tenants.b.id, ["organization:member"], creator=tenants.outsider)
    [token] = stored_tokens(app)
    response = admin.post(f"{PAGE}/{token.id}/revoke", headers={"X-CSRFToken": page_csrf(admin, PAGE)})
    assert response.status_code == 404
    assert stored_tokens(app)[0].revoked_at is None
    assert client.get("/api/v1/auth/verify", headers=bearer(secret)).status_code == 200


def test_admin_cannot_grant_a_permission_beyond_their_role(app, admin):
    response = create(admin, htmx=True, scopes=["organization:member", "clinical:read"])
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<html" not in html
    assert "You cannot grant permissions you do not hold: clinical:read." in html
    assert 'id="scopes-error"' in html and "field-invalid" in html
    assert SECRET.search(html) is None
    assert stored_tokens(app) == []


def test_missing_name_and_permissions_are_field_errors(app, admin):
    response = create(admin, name="  ", scopes=[])
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" in html
    assert "Enter a name of 1 to 100 characters." in html
    assert "Choose at least one permission." in html
    assert stored_tokens(app) == []


def test_form_keeps_what_was_entered_after_an_error(admin):
    html = create(admin, name="", scopes=["patients:read"]).get_data(as_text=True)
    assert re.search(r'value="patients:read"\s+checked', html)
    assert not re.search(r'value="organization:member"\s+checked', html)


@pytest.mark.parametrize("choice, days", [("30", 30), ("365", 365), ("never", None)])
def test_expiry_choices(app, admin, choice, days):
    assert create(admin, expires_in=choice).status_code == 201
    [token] = stored_tokens(app)
    if days is None:
        assert token.expires_at is None
    else:
        assert abs(token.expires_at - (utcnow() + timedelta(days=days))) < timedelta(minutes=1)


def test_an_unknown_expiry_is_refused(app, admin):
    assert create(admin, expires_in="9999").status_code == 422
    assert stored_tokens(app) == []


def test_expired_tokens_are_shown_as_expired_and_refused(app, client, admin, login_as):
    secret = SECRET.search(create(admin, expires_in="30").get_data(as_text=True)).group(0)
    with time_machine.travel(utcnow() + timedelta(days=31), tick=False):
        # A month on, the old browser session has ended too: sign in afresh.
        html = login_as("admin").get(PAGE, headers=HTMX).get_data(as_text=True)
        assert 'data-status="expired"' in html and "Expired" in html
        assert client.get("/api/v1/auth/verify", headers=bearer(secret)).status_code == 401
