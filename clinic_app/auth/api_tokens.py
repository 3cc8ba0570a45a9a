"""Organization API tokens: long-lived bearer secrets (``clk_…``) an admin creates for an
integration, carrying a subset of the creator's permissions, revocable at any time.

A token carries its creator's authority: it stops when they leave the organization, or when their
new role no longer grants every scope it holds (the receivers of ``orgs.signals`` below).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from clinic_app.accounts.models import User
from clinic_app.auth.models import ApiToken
from clinic_app.core import audit
from clinic_app.core.apart import TOUCH_SECONDS, update_apart
from clinic_app.core.credentials import hash_secret, new_secret
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.permissions import PERMISSIONS, grants, role_grants
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs.signals import membership_ended, membership_role_changed

API_TOKEN_PREFIX = "clk_"  # noqa: S105 (a label, not a secret)


def create_api_token(
    *, organization_id: str, name: str, scopes: list[str], expires_in_days: int | None, creator: User, creator_role: str
) -> tuple[ApiToken, str]:
    """A new token; the plain secret is returned once and never stored.

    Raises Invalid for a missing name, unknown scopes, or scopes the creator does not hold.
    """
    name = (name or "").strip()
    errors = []
    if not name or len(name) > 100:
        errors.append(FieldError("name", "Enter a name of 1 to 100 characters."))
    unknown = [s for s in scopes if s not in PERMISSIONS]
    if unknown:
        errors.append(FieldError("scopes", f"Unknown permission(s): {', '.join(unknown)}."))
    if not scopes:
        errors.append(FieldError("scopes", "Choose at least one permission."))
    beyond = [s for s in scopes if s in PERMISSIONS and not role_grants(creator_role, s)]
    if beyond:
        errors.append(FieldError("scopes", f"You cannot grant permissions you do not hold: {', '.join(beyond)}."))
    if expires_in_days is not None and not 1 <= expires_in_days <= 730:
        errors.append(FieldError("expires_in_days", "Choose between 1 and 730 days, or no expiry."))
    if errors:
        raise Invalid(errors=errors)
    plain, hashed = new_secret(API_TOKEN_PREFIX)
    now = utcnow()
    token = ApiToken(
        organization_id=organization_id,
        name=name,
        scopes=sorted(set(scopes)),
        secret_hash=hashed,
        display_prefix=plain[:10],
        created_by_id=creator.id,
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        "api_token.created",
        organization_id=organization_id,
        actor=audit.Actor(user_id=creator.id),
        target_type="api_token",
        target_id=token.id,
        details={"scopes": token.scopes},
    )
    return token, plain


def find_api_token(plain: str) -> ApiToken | None:
    token = db.session.scalar(select(ApiToken).where(ApiToken.secret_hash == hash_secret(plain)))
    now = utcnow()
    if token is None or token.revoked_at is not None or (token.expires_at is not None and now >= token.expires_at):
        return None
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= TOUCH_SECONDS:
        update_apart(ApiToken, token.id, last_used_at=now)
    return token


def token_grants(token: ApiToken, permission: str) -> bool:
    return grants(token.scopes or [], permission)


def list_api_tokens(organization_id: str) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.organization_id == organization_id).order_by(ApiToken.created_at.desc())
        )
    )


def revoke_api_token(*, organization_id: str, token_id: str, actor: audit.Actor) -> ApiToken:
    """Raises NotFound (also for another organization's token) or Conflict if already revoked."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.organization_id != organization_id:
        raise NotFound("No such API token.")
    if token.revoked_at is not None:
        raise Conflict("This token was already revoked.")
    token.revoked_at, token.revoked_reason = utcnow(), "revoked"
    db.session.flush()
    audit.record(
        "api_token.revoked", organization_id=organization_id, actor=actor, target_type="api_token", target_id=token.id
    )
    return token


def expiry_label(value: datetime | None) -> str:
    return "never" if value is None else value.strftime("%d %b %Y")


# --- when a membership ends or changes ---------------------------------------------------------
#
# One organization acting on its member touches what acts for that organization only: the API
# log-ins bound to it (``auth.jwt_tokens``) and the organization API tokens the person created there
# (here). Their account, password, browser sessions and log-ins for other organizations go on; a
# browser session simply cannot reach this organization any more.


def _revoke_tokens(tokens: list[ApiToken], *, organization_id: str, reason: str, actor: audit.Actor) -> None:
    now = utcnow()
    for token in tokens:
        token.revoked_at, token.revoked_reason = now, reason
        audit.record(
            "api_token.revoked",
            organization_id=organization_id,
            actor=actor,
            target_type="api_token",
            target_id=token.id,
            details={"reason": reason},
        )
    db.session.flush()


def _live_tokens_created_by(user_id: str, organization_id: str) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).where(
                ApiToken.organization_id == organization_id,
                ApiToken.created_by_id == user_id,
                ApiToken.revoked_at.is_(None),
            )
        )
    )


def tokens_at_stake(user_id: str, organization_id: str, *, new_role: str | None = None) -> list[ApiToken]:
    """The API tokens that removing the person (``new_role`` None) or giving them ``new_role``
    would revoke: for a confirmation that says so before it happens."""
    tokens = _live_tokens_created_by(user_id, organization_id)
    if new_role is None:
        return tokens
    return [token for token in tokens if not all(role_grants(new_role, scope) for scope in token.scopes or [])]


@membership_ended.connect
def _membership_ended(
    _membership: object, *, organization_id: str, user_id: str, actor: audit.Actor, **_: object
) -> None:
    _revoke_tokens(
        tokens_at_stake(user_id, organization_id),
        organization_id=organization_id,
        reason="creator_removed",
        actor=actor,
    )


@membership_role_changed.connect
def _membership_role_changed(
    _membership: object, *, organization_id: str, user_id: str, role: str, actor: audit.Actor, **_: object
) -> None:
    _revoke_tokens(
        tokens_at_stake(user_id, organization_id, new_role=role),
        organization_id=organization_id,
        reason="creator_role_changed",
        actor=actor,
    )
