"""Who is calling this request, as the auth feature established it (``g.identity``).

Features below auth (and any page that only asks "who is this, may they?") read the caller here
instead of importing auth: auth builds the identity before every request and puts it on ``g``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from flask import g

from clinic_app.core.audit import Actor


class Membership(Protocol):
    """One organization the caller belongs to, and their role there."""

    organization_id: str
    organization_name: str
    role: str


class Caller(Protocol):
    """The request's caller: a signed-in person (browser session or API log-in) or an
    organization API token. Auth's ``Identity`` is the one implementation."""

    kind: str  # "session", "access_token", "api_token" or "operator_token"
    user: Any  # the person's account (accounts.models.User), None for an API token
    api_token: Any  # the organization API token (auth.models.ApiToken), if that is the caller
    operator_token: Any  # a platform operator's monitoring token (auth.operator_tokens), if that is the caller
    session_row: Any  # the browser session's row (auth.models.UserSession), if any
    token_family_id: str | None
    organization_id: str | None
    bound_organization_id: str | None
    role: str | None
    memberships: Sequence[Membership]

    @property
    def actor(self) -> Actor: ...

    @property
    def is_operator(self) -> bool: ...  # a platform operator (docs/operators.md), outside every organization

    def can(self, permission: str) -> bool: ...


def current_identity() -> Caller | None:
    """The caller of this request, or None when nobody is signed in."""
    return g.get("identity")
