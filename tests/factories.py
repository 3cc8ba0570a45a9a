"""Builders for test data: clinics, people with roles, credentials, signed-in clients."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from clinic_app.accounts import service as accounts
from clinic_app.auth import api_tokens, jwt_tokens
from clinic_app.auth.models import TokenFamily
from clinic_app.core import audit
from clinic_app.core.permissions import ROLES
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs

PASSWORD = "correct horse battery staple"


def make_org(name: str, *, time_zone: str = "Australia/Sydney", region: str = "AU") -> Any:
    return orgs.create_organization(name=name, time_zone=time_zone, region=region)


def make_user(
    email: str, *, organization_id: str | None = None, role: str | None = None, name: str | None = None
) -> Any:
    user = accounts.create_user(email=email, display_name=name or email.split("@")[0].title(), password=PASSWORD)
    if organization_id and role:
        orgs.add_membership(organization_id=organization_id, user=user, role=role, actor=audit.Actor())
    return user


@dataclass
class Tenants:
    """Organization A with one user per role, organization B with its own owner."""

    a: Any
    b: Any
    users: dict[str, Any] = field(default_factory=dict)
    outsider: Any = None

    def user(self, role: str) -> Any:
        return self.users[role]


def build_tenants() -> Tenants:
    a = make_org("Harbour Physiotherapy")
    b = make_org("Northside Mind Health", time_zone="Australia/Melbourne")
    tenants = Tenants(a=a, b=b)
    for role in ROLES:
        tenants.users[role] = make_user(f"{role}@harbour.example", organization_id=a.id, role=role)
    tenants.outsider = make_user("owner@northside.example", organization_id=b.id, role="owner")
    db.session.commit()
    return tenants


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def page_csrf(client: FlaskClient, path: str = "/account") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def api_login(client: FlaskClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def access_token_for(app: Flask, user: Any) -> str:
    """An access token minted directly by the service (no HTTP round trip)."""
    with app.app_context():
        user = db.session.get(type(user), user.id)
        family = TokenFamily(user_id=user.id)
        db.session.add(family)
        db.session.flush()
        pair = jwt_tokens._issue_pair(user, family)
        db.session.commit()
        return pair.access_token


def api_token_for(app: Flask, organization_id: str, scopes: list[str], *, creator: Any) -> str:
    with app.app_context():
        creator = db.session.get(type(creator), creator.id)
        _token, plain = api_tokens.create_api_token(
            organization_id=organization_id,
            name="Test integration",
            scopes=scopes,
            expires_in_days=None,
            creator=creator,
            creator_role="owner",
        )
        db.session.commit()
        return plain
