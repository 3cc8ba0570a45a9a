"""The organization and actor of the current request, as the access layer established them.

Views read these and pass them to services explicitly; services never look them up themselves.
"""

from __future__ import annotations

from flask import g

from clinic_app.core.audit import Actor
from clinic_app.core.errors import NotFound


def current_organization_id() -> str:
    """The organization this request acts in (checked against the caller's memberships)."""
    identity = g.get("identity")
    organization_id = getattr(identity, "organization_id", None)
    if organization_id is None:
        raise NotFound("The requested resource was not found.")
    return organization_id


def current_actor() -> Actor:
    identity = g.get("identity")
    return identity.actor if identity is not None else Actor()


def current_user_id() -> str | None:
    identity = g.get("identity")
    user = getattr(identity, "user", None)
    return user.id if user is not None else None
