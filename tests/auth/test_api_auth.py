"""The auth API through HTTP: log in, refresh (rotation and reuse detection), log out, verify,
organization access and /me — with the contract's field names, and 401/404 as problem+json."""

import base64
import json
from datetime import timedelta

import pytest
import time_machine
from authlib.jose import jwt
from sqlalchemy import select

from clinic_app.accounts.models import User
from clinic_app.auth import login as login_service
from clinic_app.core import audit
from clinic_app.core.permissions import ROLE_PERMISSIONS, expand
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from tests.factories import PASSWORD, api_login, api_token_for, make_user, page_csrf

PROBLEM = "application/problem+json"
TOKEN_FIELDS = {
    "access_token",
    "refresh_token",
    "token_type",
    "expires_in",
    "refresh_expires_in",
    "organization_id",
    "user",
}
USER_FIELDS = {
    "user_id",
    "email",
    "display_name",
    "role",
    "permissions",
    "is_verified",
    "is_active",
    "custom_claims",
    "created_at",
    "last_login",
    "organizations",
}


def bearer(token, **headers):
    return {"Authorization": f"Bearer {token}", **headers}


def assert_unauthorized(response):
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.get_json()
    assert body["status"] == 401 and body["error"] == "Authentication failed" and body["detail"]


# --- log in -----------------------------------------------------------------------------------


def test_login_returns_a_token_pair_and_the_user_context(client, tenants):
    body = api_login(client, "clinician@harbour.example")
    assert set(body) == TOKEN_FIELDS
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600 and body["refresh_expires_in"] == 7 * 86400
    assert body["refresh_token"].startswith("clr_") and body["access_token"].count(".") == 2
    user = body["user"]
    assert set(user) == USER_FIELDS
    assert user["user_id"] == tenants.user("clinician").id
    assert user["email"] == "clinician@harbour.example"
    assert user["role"] == "clinician"
    assert user["permissions"] == expand(ROLE_PERMISSIONS["clinician"])
    assert user["is_verified"] is True and user["is_active"] is True and user["custom_claims"] == {}
    assert user["last_login"].endswith("Z")
    assert user["organizations"] == [
        {"organization_id": tenants.a.id, "name": "Harbour Physiotherapy", "role": "clinician"}
    ]


@pytest.mark.parametrize(
    "email, password",
    [("clinician@harbour.example", "not the password"), ("nobody@harbour.example", PASSWORD)],
)
def test_wrong_credentials_get_one_generic_401(client, tenants, email, password):
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert_unauthorized(response)
    assert response.get_json()["detail"] == login_service.GENERIC_LOGIN_ERROR
    assert "access_token" not in response.get_json()


def test_login_validates_the_body(client, tenants):
    response = client.post("/api/v1/auth/login", json={"email": "clinician@harbour.example"})
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert [e["field"] for e in response.get_json()["errors"]] == ["password"]
    assert client.post("/api/v1/auth/login", data="email=x").status_code == 415


def test_repeated_failures_are_throttled_with_429(client, tenants):
    email = "receptionist@harbour.example"
    for _ in range(login_service.MAX_FAILURES_PER_ACCOUNT):
        assert client.post("/api/v1/auth/login", json={"email": email, "password": "wrong"}).status_code == 401
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 429 and response.mimetype == PROBLEM
    assert "Too many failed sign-in attempts" in response.get_json()["detail"]
    assert "access_token" not in response.get_json()
    assert int(response.headers["Retry-After"]) > 0


# --- refresh ----------------------------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_stops_working(client, tenants):
    first = api_login(client, "admin@harbour.example")
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200, response.get_json()
    second = response.get_json()
    assert set(second) == TOKEN_FIELDS and second["user"]["user_id"] == tenants.user("admin").id
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/auth/verify", headers=bearer(second["access_token"])).status_code == 200

    again = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_unauthorized(again)


def test_reusing_a_spent_refresh_token_ends_the_whole_log_in(app, client, tenants):
    first = api_login(client, "admin@harbour.example")
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).get_json()
    assert client.get("/api/v1/auth/verify", headers=bearer(first["access_token"])).status_code == 200

    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_unauthorized(replay)
    assert "already used" in replay.get_json()["detail"]

    # Everything issued by that log-in is dead, including the tokens from the honest refresh.
    assert_unauthorized(client.get("/api/v1/auth/verify", headers=bearer(first["access_token"])))
    assert_unauthorized(client.get("/api/v1/auth/verify", headers=bearer(second["access_token"])))
    assert_unauthorized(client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}))
    # Another log-in of the same person is untouched.
    other = api_login(client, "admin@harbour.example")
    assert client.get("/api/v1/auth/verify", headers=bearer(other["access_token"])).status_code == 200
    with app.app_context():
        event = db.session.scalars(
            db.select(audit.AuditEvent).where(audit.AuditEvent.action == "auth.refresh_reuse_detected")
        ).one()
        assert event.outcome == audit.ALARM


def test_unknown_refresh_token_is_401(client, tenants):
    assert_unauthorized(client.post("/api/v1/auth/refresh", json={"refresh_token": "clr_made-up"}))


# --- log out ----------------------------------------------------------------------------------


def test_logout_ends_the_access_and_refresh_tokens(client, tenants):
    tokens = api_login(client, "clinician@harbour.example")
    response = client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.get_json() == {"message": "Logged out"}
    assert_unauthorized(client.get("/api/v1/auth/verify", headers=bearer(tokens["access_token"])))
    assert_unauthorized(client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}))


def test_logout_accepts_the_refresh_token_in_an_optional_body(client, tenants):
    tokens = api_login(client, "clinician@harbour.example")
    malformed = client.post(
        "/api/v1/auth/logout", headers=bearer(tokens["access_token"]), json={"refresh_token": ["not", "a", "string"]}
    )
    assert malformed.status_code == 422
    response = client.post(
        "/api/v1/auth/logout", headers=bearer(tokens["access_token"]), json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 200
    assert_unauthorized(client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}))


def test_logout_refuses_browser_sessions_and_api_tokens(app, client, tenants, login_as):
    browser = login_as("admin")
    response = browser.post("/api/v1/auth/logout", headers={"X-CSRFToken": page_csrf(browser)})
    assert response.status_code == 403 and response.mimetype == PROBLEM
    assert "POST /logout" in response.get_json()["detail"]

    token = api_token_for(app, tenants.a.id, ["organization:member"], creator=tenants.user("owner"))
    response = client.post("/api/v1/auth/logout", headers=bearer(token))
    assert response.status_code == 403 and "API tokens page" in response.get_json()["detail"]
    assert client.get("/api/v1/auth/verify", headers=bearer(token)).status_code == 200


def test_logout_without_a_token_is_401(client, tenants):
    assert_unauthorized(client.post("/api/v1/auth/logout"))


# --- verify and organization access -----------------------------------------------------------


def test_verify_answers_the_contract_shape(client, tenants):
    access = api_login(client, "receptionist@harbour.example")["access_token"]
    expected = {"authenticated": True, "organization_id": tenants.a.id, "message": "Authentication successful"}
    response = client.get("/api/v1/auth/verify", headers=bearer(access, **{"X-Organization-ID": tenants.a.id}))
    assert response.status_code == 200 and response.get_json() == expected
    # With one organization the header may be left out.
    assert client.get("/api/v1/auth/verify", headers=bearer(access)).get_json() == expected


def test_verify_with_another_organizations_id_is_404(client, tenants):
    access = api_login(client, "owner@harbour.example")["access_token"]
    response = client.get("/api/v1/auth/verify", headers=bearer(access, **{"X-Organization-ID": tenants.b.id}))
    assert response.status_code == 404 and response.mimetype == PROBLEM
    assert tenants.b.id not in response.get_json()["detail"]


def test_verify_without_or_with_a_malformed_credential_is_401(client, tenants):
    assert_unauthorized(client.get("/api/v1/auth/verify"))
    assert_unauthorized(client.get("/api/v1/auth/verify", headers={"Authorization": "Basic dXNlcjpwdw=="}))
    assert_unauthorized(client.get("/api/v1/auth/verify", headers=bearer("clk_not-a-real-token")))


def test_verify_with_an_api_token(app, client, tenants):
    token = api_token_for(app, tenants.a.id, ["organization:member"], creator=tenants.user("owner"))
    response = client.get("/api/v1/auth/verify", headers=bearer(token))
    assert response.get_json() == {
        "authenticated": True,
        "organization_id": tenants.a.id,
        "message": "Authentication successful",
    }


def test_organization_access_for_members_only(client, tenants):
    access = api_login(client, "clinician@harbour.example")["access_token"]
    response = client.get(f"/api/v1/auth/organization/{tenants.a.id}/access", headers=bearer(access))
    assert response.status_code == 200
    assert response.get_json() == {"organization_id": tenants.a.id, "access_granted": True, "message": "Access granted"}

    outsider = api_login(client, "owner@northside.example")["access_token"]
    denied = client.get(f"/api/v1/auth/organization/{tenants.a.id}/access", headers=bearer(outsider))
    assert denied.status_code == 404 and denied.mimetype == PROBLEM
    assert "access_granted" not in denied.get_json()
    # The same answer as for an organization that does not exist: ids reveal nothing.
    missing = client.get("/api/v1/auth/organization/org_doesnotexist/access", headers=bearer(outsider))
    assert missing.status_code == 404 and missing.get_json()["detail"] == denied.get_json()["detail"]


def test_a_member_of_two_organizations_chooses_with_the_header(app, client, tenants):
    with app.app_context():
        user = make_user("locum@harbour.example", organization_id=tenants.a.id, role="receptionist")
        orgs.add_membership(organization_id=tenants.b.id, user=user, role="clinician", actor=audit.Actor())
        db.session.commit()
    access = api_login(client, "locum@harbour.example")["access_token"]
    unspecified = client.get("/api/v1/auth/verify", headers=bearer(access))
    assert unspecified.status_code == 422 and "X-Organization-ID" in unspecified.get_json()["detail"]
    chosen = client.get("/api/v1/auth/verify", headers=bearer(access, **{"X-Organization-ID": tenants.b.id}))
    assert chosen.get_json()["organization_id"] == tenants.b.id

    me = client.get("/api/v1/auth/me", headers=bearer(access, **{"X-Organization-ID": tenants.b.id})).get_json()
    assert me["role"] == "clinician" and "clinical:read" in me["permissions"]
    default = client.get("/api/v1/auth/me", headers=bearer(access)).get_json()
    assert default["role"] == "receptionist" and "clinical:read" not in default["permissions"]
    assert {(o["organization_id"], o["role"]) for o in default["organizations"]} == {
        (tenants.a.id, "receptionist"),
        (tenants.b.id, "clinician"),
    }


# --- /me --------------------------------------------------------------------------------------


def test_me_describes_the_caller(client, tenants):
    access = api_login(client, "admin@harbour.example")["access_token"]
    response = client.get("/api/v1/auth/me", headers=bearer(access))
    assert response.status_code == 200
    me = response.get_json()
    assert set(me) == USER_FIELDS
    assert me["user_id"] == tenants.user("admin").id and me["display_name"] == "Admin"
    assert me["role"] == "admin"
    assert me["permissions"] == expand(ROLE_PERMISSIONS["admin"])
    assert "admin:tokens" in me["permissions"] and "clinical:read" not in me["permissions"]
    assert me["created_at"].endswith("Z") and me["last_login"].endswith("Z")


def test_me_with_a_browser_session(login_as, tenants):
    browser = login_as("receptionist")
    me = browser.get("/api/v1/auth/me").get_json()
    assert me["user_id"] == tenants.user("receptionist").id and me["role"] == "receptionist"


def test_me_with_another_organizations_header_is_404(client, tenants):
    access = api_login(client, "admin@harbour.example")["access_token"]
    response = client.get("/api/v1/auth/me", headers=bearer(access, **{"X-Organization-ID": tenants.b.id}))
    assert response.status_code == 404 and response.mimetype == PROBLEM


def test_update_me_changes_only_the_name(app, client, tenants):
    access = api_login(client, "receptionist@harbour.example")["access_token"]
    response = client.put(
        "/api/v1/auth/me",
        headers=bearer(access),
        json={
            "display_name": "  Robin Front-Desk ",
            "role": "owner",
            "organization_id": tenants.b.id,
            "email": "x@y.z",
        },
    )
    assert response.status_code == 200, response.get_json()
    me = response.get_json()
    assert set(me) == USER_FIELDS
    assert me["display_name"] == "Robin Front-Desk"
    assert me["role"] == "receptionist" and me["email"] == "receptionist@harbour.example"
    assert me["organizations"] == [
        {"organization_id": tenants.a.id, "name": "Harbour Physiotherapy", "role": "receptionist"}
    ]
    assert client.get("/api/v1/auth/me", headers=bearer(access)).get_json()["display_name"] == "Robin Front-Desk"
    with app.app_context():
        assert db.session.get(User, tenants.user("receptionist").id).display_name == "Robin Front-Desk"
        assert [m.role for m in orgs.memberships_of(tenants.user("receptionist").id)] == ["receptionist"]
        [event] = db.session.scalars(
            select(audit.AuditEvent).where(audit.AuditEvent.action == "account.profile_updated")
        ).all()
        assert (event.organization_id, event.actor_user_id, event.target_id) == (
            tenants.a.id,
            tenants.user("receptionist").id,
            tenants.user("receptionist").id,
        )
        assert event.details == {"fields": ["display_name"]} and "Robin" not in json.dumps(event.details)


def test_update_me_rejects_an_empty_name(client, tenants):
    access = api_login(client, "receptionist@harbour.example")["access_token"]
    response = client.put("/api/v1/auth/me", headers=bearer(access), json={"display_name": "   "})
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert [e["field"] for e in response.get_json()["errors"]] == ["display_name"]
    assert client.get("/api/v1/auth/me", headers=bearer(access)).get_json()["display_name"] == "Receptionist"


def test_me_refuses_api_tokens(app, client, tenants):
    token = api_token_for(app, tenants.a.id, ["organization:member"], creator=tenants.user("owner"))
    for response in (
        client.get("/api/v1/auth/me", headers=bearer(token)),
        client.put("/api/v1/auth/me", headers=bearer(token), json={"display_name": "Robot"}),
    ):
        assert response.status_code == 403 and response.mimetype == PROBLEM
        assert "API token" in response.get_json()["detail"]


def test_me_requires_authentication(client, tenants):
    assert_unauthorized(client.get("/api/v1/auth/me"))
    assert_unauthorized(client.put("/api/v1/auth/me", json={"display_name": "Nobody"}))


# --- the access token itself ------------------------------------------------------------------


def _b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_tampered_access_tokens_are_401(app, client, tenants):
    access = api_login(client, "receptionist@harbour.example")["access_token"]
    header, _payload, signature = access.split(".")
    claims = _claims(access)

    as_owner = f"{header}.{_b64({**claims, 'sub': tenants.user('owner').id})}.{signature}"
    longer = f"{header}.{_b64({**claims, 'exp': claims['exp'] + 86400})}.{signature}"
    other_key = jwt.encode({"alg": "HS256"}, claims, b"not the server's key" * 2).decode()
    truncated = access[:-5]
    for forged in (as_owner, longer, other_key, truncated):
        response = client.get("/api/v1/auth/verify", headers=bearer(forged))
        assert_unauthorized(response)
        assert response.get_json()["detail"] == "Invalid or expired token."
    assert client.get("/api/v1/auth/verify", headers=bearer(access)).status_code == 200


def test_unsigned_alg_none_access_token_is_401(client, tenants):
    access = api_login(client, "receptionist@harbour.example")["access_token"]
    # The holder of a genuine token rewrites it unsigned, with an expiry years away.
    claims = {**_claims(access), "exp": _claims(access)["exp"] + 10 * 365 * 86400}
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    assert_unauthorized(client.get("/api/v1/auth/verify", headers=bearer(unsigned)))


def test_access_token_expires_after_60_minutes_and_refresh_still_works(client, tenants):
    tokens = api_login(client, "clinician@harbour.example")
    with time_machine.travel(utcnow() + timedelta(minutes=59), tick=False):
        assert client.get("/api/v1/auth/verify", headers=bearer(tokens["access_token"])).status_code == 200
    with time_machine.travel(utcnow() + timedelta(minutes=61), tick=False):
        expired = client.get("/api/v1/auth/verify", headers=bearer(tokens["access_token"]))
        assert_unauthorized(expired)
        assert expired.get_json()["detail"] == "Invalid or expired token."
        renewed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).get_json()
        assert client.get("/api/v1/auth/verify", headers=bearer(renewed["access_token"])).status_code == 200


def test_refresh_token_expires_after_7_days(client, tenants):
    tokens = api_login(client, "clinician@harbour.example")
    with time_machine.travel(utcnow() + timedelta(days=7, minutes=1), tick=False):
        assert_unauthorized(client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}))


def test_password_change_ends_api_log_ins(app, client, tenants):
    access = api_login(client, "clinician@harbour.example")["access_token"]
    with app.app_context():
        from clinic_app.accounts import service as accounts

        user = db.session.get(User, tenants.user("clinician").id)
        accounts.set_password(user, "a brand new long passphrase", actor=audit.Actor(), organization_id=None)
        db.session.commit()
    assert_unauthorized(client.get("/api/v1/auth/verify", headers=bearer(access)))


# --- OpenAPI ----------------------------------------------------------------------------------

AUTH_OPERATIONS = [
    ("/api/v1/auth/mfa/verify", "post", "TokenPairOut"),
    ("/api/v1/auth/refresh", "post", "TokenPairOut"),
    ("/api/v1/auth/logout", "post", "LogoutOut"),
    ("/api/v1/auth/verify", "get", "VerifyOut"),
    ("/api/v1/auth/organization/{organization_id}/access", "get", "OrganizationAccessOut"),
    ("/api/v1/auth/me", "get", "UserContext"),
    ("/api/v1/auth/me", "put", "UserContext"),
]


def test_every_auth_endpoint_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    documented = {}
    for path, method, response_model in AUTH_OPERATIONS:
        operation = spec["paths"][path][method]
        assert operation["tags"] == ["auth"]
        name = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
        # pydantic names a model "<Name>-Output" when its serialised form differs (timestamps).
        assert name in (response_model, f"{response_model}-Output")
        documented[response_model] = set(schemas[name]["properties"])
    assert documented["VerifyOut"] == {"authenticated", "organization_id", "message"}
    assert documented["OrganizationAccessOut"] == {"organization_id", "access_granted", "message"}
    assert documented["UserContext"] == USER_FIELDS
    assert documented["TokenPairOut"] == TOKEN_FIELDS
    login = spec["paths"]["/api/v1/auth/login"]["post"]
    # Tokens, or for an account with two-factor sign-in the mfa_token to finish with.
    answer = login["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert [ref["$ref"].split("/")[-1] for ref in schemas[answer]["anyOf"]] == ["TokenPairOut", "MfaRequiredOut"]
    assert set(schemas["MfaRequiredOut"]["properties"]) == {"mfa_required", "mfa_token", "methods", "expires_in"}
    assert login["security"] == [] and {"401", "422", "429"} <= set(login["responses"])
    body = login["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert schemas[body]["properties"]["password"]["writeOnly"] is True
    assert spec["paths"]["/api/v1/auth/verify"]["get"]["x-permission"] == "organization:member"
    assert spec["paths"]["/api/v1/auth/me"]["put"]["security"] == [{"bearerAuth": []}]


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"email": "clinician@harbour.example"}, "password", "Enter your password."),
        ({"email": "clinician@harbour.example", "password": ""}, "password", "Enter your password."),
        ({"email": "clinician@harbour.example", "password": None}, "password", "Enter your password."),
        ({"password": PASSWORD}, "email", "Enter the e-mail address you sign in with."),
        ({"email": "  ", "password": PASSWORD}, "email", "Enter the e-mail address you sign in with."),
    ],
)
def test_a_missing_or_empty_email_or_password_is_named_in_the_products_words(client, tenants, body, field, message):
    response = client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 422 and response.mimetype == PROBLEM
    (error,) = response.get_json()["errors"]
    assert (error["field"], error["message"], error["code"]) == (field, message, "MISSING")


def test_the_access_token_carries_the_email(app, client, tenants):
    body = api_login(client, "clinician@harbour.example")
    payload = body["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["email"] == "clinician@harbour.example" and claims["sub"] == tenants.user("clinician").id


def test_auth_health_is_public_and_says_whether_signup_is_open(make_app):
    for enabled in (True, False):
        answer = make_app(SIGNUP_ENABLED=enabled).test_client().get("/api/v1/auth/health")
        assert answer.status_code == 200
        body = answer.get_json()
        assert body["status"] == "healthy" and body["service"] == "auth" and body["signup_enabled"] is enabled
        assert "version" not in body


def test_an_empty_login_body_names_both_fields(client, tenants):
    for response in (
        client.post("/api/v1/auth/login", data="", content_type="application/json"),
        client.post("/api/v1/auth/login", json={}),
    ):
        assert response.status_code == 422 and response.mimetype == PROBLEM
        assert sorted(e["field"] for e in response.get_json()["errors"]) == ["email", "password"]
