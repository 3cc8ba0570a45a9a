"""API log-ins: a short-lived JWT access token and a single-use refresh token, in a family (one
per log-in) that can be ended at once.

Access tokens name their family and the user's ``session_version``, so ending the family or
bumping the version (a password change) stops them before they expire. Only HS256 is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from authlib.jose import JoseError, JsonWebToken
from flask import current_app
from sqlalchemy import select, update

from clinic_app.accounts.models import User
from clinic_app.auth import devices
from clinic_app.auth.login import authenticate
from clinic_app.auth.models import RefreshToken, TokenFamily
from clinic_app.core import audit
from clinic_app.core.apart import write_apart
from clinic_app.core.credentials import hash_secret, new_secret
from clinic_app.core.errors import FieldError, Invalid, NotFound, Unauthorized
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.orgs.signals import membership_ended

ACCESS_TOKEN_MINUTES = 60
REFRESH_TOKEN_DAYS = 7

# Only HS256 is accepted: never "none", never an algorithm the caller picks.
_jwt = JsonWebToken(["HS256"])


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


def _jwt_key() -> bytes:
    return current_app.config["SECRET_KEY"].encode()


def _issue_pair(user: User, family: TokenFamily) -> TokenPair:
    now = utcnow()
    claims = {
        "iss": "clinic-app",
        "sub": user.id,
        "email": user.email,  # for clients that show who is signed in; never trusted here
        "typ": "access",
        "fam": family.id,
        "sv": user.session_version,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=ACCESS_TOKEN_MINUTES)).timestamp()),
    }
    access = _jwt.encode({"alg": "HS256"}, claims, _jwt_key()).decode()
    plain, hashed = new_secret("clr_")
    db.session.add(
        RefreshToken(
            family_id=family.id, secret_hash=hashed, created_at=now, expires_at=now + timedelta(days=REFRESH_TOKEN_DAYS)
        )
    )
    db.session.flush()
    return TokenPair(access, plain, ACCESS_TOKEN_MINUTES * 60, REFRESH_TOKEN_DAYS * 86400)


def check_login(
    email: str, password: str, *, ip_address: str | None, organization_id: str | None = None
) -> tuple[User, str | None]:
    """The person behind these credentials and the organization their API log-in will act for.
    Raises LoginThrottled or Unauthorized like ``authenticate``, or Invalid when
    ``organization_id`` is not one of the person's.

    The log-in acts for one organization: ``organization_id`` when given, else the person's only
    one. Someone who belongs to several and names none gets an unbound log-in (None), whose every
    request names its organization (``X-Organization-ID``)."""
    user = authenticate(email, password, ip_address=ip_address)
    memberships = orgs.memberships_of(user.id)
    if organization_id is not None and not any(m.organization_id == organization_id for m in memberships):
        raise Invalid(errors=[FieldError("organization_id", "You are not a member of this organization.")])
    if organization_id is None and len(memberships) == 1:
        organization_id = memberships[0].organization_id
    return user, organization_id


def start_family(
    user: User, organization_id: str | None, *, ip_address: str | None, user_agent: str | None, method: str = "password"
) -> tuple[TokenFamily, TokenPair]:
    """A new API log-in (token family) for a person whose credentials (and second factor, when
    they have one) were checked, and its first pair. ``method`` says how they proved it, for the
    audit trail."""
    now = utcnow()
    family = TokenFamily(
        user_id=user.id,
        organization_id=organization_id,
        created_at=now,
        last_used_at=now,
        ip_address=ip_address,
        user_agent=(user_agent or "")[:200] or None,
    )
    db.session.add(family)
    db.session.flush()
    devices.note_sign_in(user, ip_address=ip_address, user_agent=user_agent)
    user.last_login_at = now
    memberships = orgs.memberships_of(user.id)
    audit.record(
        "auth.api_login",
        organization_id=organization_id or (memberships[0].organization_id if memberships else None),
        actor=audit.Actor(user_id=user.id),
        target_type="user",
        target_id=user.id,
        details={"method": method} if method != "password" else None,
    )
    return family, _issue_pair(user, family)


def refresh(refresh_token: str) -> tuple[User, TokenFamily, TokenPair]:
    """Rotate: the old refresh token is spent and a new pair issued in the same family.

    Presenting a spent refresh token again means it was stolen or replayed: the whole family
    (every access and refresh token from that log-in) is revoked and an alarm recorded. Spending
    is one conditional UPDATE, so of two requests racing with the same token exactly one wins and
    the other is treated as the replay it is. Raises Unauthorized.
    """
    row = db.session.scalar(select(RefreshToken).where(RefreshToken.secret_hash == hash_secret(refresh_token or "")))
    if row is None:
        raise Unauthorized("Invalid or expired refresh token.")
    family = db.session.get(TokenFamily, row.family_id)
    assert family is not None
    user = db.session.get(User, family.user_id)
    now = utcnow()
    if family.revoked_at is not None or now >= row.expires_at or user is None or not user.is_active:
        raise Unauthorized("Invalid or expired refresh token.")
    spent = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        _refresh_reused(family)
    family.last_used_at = now
    return user, family, _issue_pair(user, family)


def _refresh_reused(family: TokenFamily) -> None:
    """A spent refresh token came back: end its log-in (kept although this request fails) and
    raise the alarm."""
    now = utcnow()
    audit.record(
        "auth.refresh_reuse_detected",
        organization_id=family.organization_id,
        actor=audit.Actor(user_id=family.user_id),
        target_type="token_family",
        target_id=family.id,
        outcome=audit.ALARM,
        independent=True,
    )
    write_apart(
        lambda session: session.execute(
            update(TokenFamily)
            .where(TokenFamily.id == family.id, TokenFamily.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason="refresh_token_reused")
        )
    )
    raise Unauthorized("This refresh token was already used; the log-in has been ended for safety.")


def revoke_family(family_id: str, *, user_id: str, reason: str = "logout") -> None:
    family = db.session.get(TokenFamily, family_id)
    if family is None or family.user_id != user_id:
        raise NotFound("No such log-in.")
    if family.revoked_at is None:
        family.revoked_at, family.revoked_reason = utcnow(), reason
    db.session.flush()
    audit.record(
        "auth.api_logout",
        organization_id=None,
        actor=audit.Actor(user_id=user_id),
        target_type="token_family",
        target_id=family_id,
    )


@dataclass(frozen=True)
class AccessClaims:
    user: User
    family_id: str
    organization_id: str | None  # the organization the log-in is bound to, if any


def verify_access_token(token: str) -> AccessClaims:
    """Raises Unauthorized for a bad signature, expiry, a revoked log-in or an ended account."""
    try:
        claims = _jwt.decode(
            token,
            _jwt_key(),
            claims_options={
                "iss": {"essential": True, "value": "clinic-app"},
                "exp": {"essential": True},
                "sub": {"essential": True},
                "fam": {"essential": True},
            },
        )
        claims.validate(now=int(utcnow().timestamp()), leeway=0)
    except (JoseError, ValueError):
        raise Unauthorized("Invalid or expired token.") from None
    if claims.get("typ") != "access":
        raise Unauthorized("Invalid or expired token.")
    user = db.session.get(User, claims.get("sub"))
    family = db.session.get(TokenFamily, claims.get("fam"))
    if user is None or not user.is_active or user.session_version != claims.get("sv"):
        raise Unauthorized("Invalid or expired token.")
    if family is None or family.revoked_at is not None or family.user_id != user.id:
        raise Unauthorized("Invalid or expired token.")
    return AccessClaims(user, family.id, family.organization_id)


@membership_ended.connect
def _membership_ended(_membership: object, *, organization_id: str, user_id: str, **_: object) -> None:
    """The person left ``organization_id``: their API log-ins bound to it end (others go on)."""
    db.session.execute(
        update(TokenFamily)
        .where(
            TokenFamily.user_id == user_id,
            TokenFamily.organization_id == organization_id,
            TokenFamily.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), revoked_reason="membership_deactivated")
    )
