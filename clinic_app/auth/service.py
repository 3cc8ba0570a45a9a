"""Signing in and staying signed in: browser sessions, log-in throttling, one-time password links,
API access/refresh tokens and organization API tokens.

Every credential can be ended server-side at once: browser sessions and refresh-token families
are rows with ``revoked_at``; access tokens name their family and the user's ``session_version``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from authlib.jose import JoseError, JsonWebToken
from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from clinic_app.accounts import service as accounts
from clinic_app.accounts.models import User
from clinic_app.auth.models import (
    ApiToken,
    LoginFailure,
    PasswordLink,
    RefreshToken,
    TokenFamily,
    UserSession,
)
from clinic_app.core import audit
from clinic_app.core.credentials import hash_secret, keyed_hash, new_secret
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound, Unauthorized
from clinic_app.core.http import after_this_transaction
from clinic_app.core.permissions import PERMISSIONS, grants, role_grants
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs

ACCESS_TOKEN_MINUTES = 60
REFRESH_TOKEN_DAYS = 7
PASSWORD_LINK_HOURS = 72
API_TOKEN_PREFIX = "clk_"  # noqa: S105 (a label, not a secret)
SESSION_TOUCH_SECONDS = 60

# Throttling: only failures count, over a sliding window.
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20

# Only HS256 is accepted: never "none", never an algorithm the caller picks.
_jwt = JsonWebToken(["HS256"])

GENERIC_LOGIN_ERROR = "The e-mail address or password is not right."


class LoginThrottled(Invalid):
    status = 429
    title = "Too many attempts"


# --- log-in -----------------------------------------------------------------------------------


def _update_apart(model: type, row_id: str, **values: object) -> None:
    _write_apart(lambda session: session.execute(update(model).where(model.id == row_id).values(**values)))


def _write_apart(change: Callable[[Session], object]) -> None:
    """Commit ``change`` in its own transaction once the request's ends: kept whatever the
    request's outcome, and never waiting on locks the request's transaction holds."""

    def write() -> None:
        with Session(db.engine) as session:
            change(session)
            session.commit()

    after_this_transaction(write)


def _email_key(email: str) -> str:
    return keyed_hash(current_app.config["SECRET_KEY"], (email or "").strip().lower())


def _throttle_message() -> str:
    minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
    return f"Too many failed sign-in attempts. Please wait {minutes} minutes and try again, or reset your password."


def _claim_attempt(email: str, ip_address: str | None) -> tuple[str, bool]:
    """Count this attempt before its password is looked at, and say whether it is over a limit.

    The attempt is written and committed first (its own short transaction), then the attempts in
    the window are counted, so of N requests racing for one account at most
    ``MAX_FAILURES_PER_ACCOUNT`` see a count within the limit: each one counts itself and every
    attempt written before its count. A successful or refused attempt's row is removed again
    (``_forget_attempt``); a failed one stays as the failure. Returns the row's id and whether to
    refuse."""
    email_hash = _email_key(email)
    attempt = LoginFailure(email_hash=email_hash, ip_address=ip_address, created_at=utcnow())
    row_id = attempt.id
    with Session(db.engine) as session:
        session.add(attempt)
        session.commit()
        since = utcnow() - THROTTLE_WINDOW
        by_account = session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.email_hash == email_hash, LoginFailure.created_at >= since)
        )
        by_address = 0
        if ip_address:
            by_address = session.scalar(
                select(func.count())
                .select_from(LoginFailure)
                .where(LoginFailure.ip_address == ip_address, LoginFailure.created_at >= since)
            )
        session.rollback()
    over = (by_account or 0) > MAX_FAILURES_PER_ACCOUNT or (by_address or 0) > MAX_FAILURES_PER_ADDRESS
    return row_id, over


def _forget_attempt(row_id: str) -> None:
    with Session(db.engine) as session:
        session.execute(delete(LoginFailure).where(LoginFailure.id == row_id))
        session.commit()


def _record_failure(user: User | None, *, reason: str) -> None:
    audit.record(
        "auth.login_failed",
        organization_id=None,
        target_type="user" if user else None,
        target_id=user.id if user else None,
        outcome=audit.FAILURE,
        details={"reason": reason},
        independent=True,
    )


def authenticate(email: str, password: str, *, ip_address: str | None, require_membership: bool = True) -> User:
    """The user behind these credentials, if they may sign in.

    Raises LoginThrottled (429) after too many recent failures for the account or the address
    (counted before the password is checked, so concurrent guesses cannot slip past the limit),
    and Unauthorized with one message for every other failure (unknown e-mail, wrong password,
    deactivated, no organization), so nothing tells which e-mail addresses exist.
    ``require_membership=False`` is for accepting an invitation, which is how someone whom every
    organization removed gets back in.
    """
    attempt_id, over_limit = _claim_attempt(email, ip_address)
    if over_limit:
        _forget_attempt(attempt_id)  # a refused attempt is not a failure: it checked nothing
        audit.record("auth.login_throttled", organization_id=None, outcome=audit.DENIED, details={}, independent=True)
        raise LoginThrottled(_throttle_message())
    user = accounts.check_credentials(email, password)
    if user is None:
        _record_failure(accounts.find_by_email(email or ""), reason="bad_credentials")
        raise Unauthorized(GENERIC_LOGIN_ERROR)
    if require_membership and not orgs.memberships_of(user.id):
        _record_failure(user, reason="no_active_membership")
        raise Unauthorized(GENERIC_LOGIN_ERROR)
    _forget_attempt(attempt_id)
    return user


# --- browser sessions -------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionLimits:
    idle: timedelta
    absolute: timedelta


def session_limits() -> SessionLimits:
    config = current_app.config
    return SessionLimits(
        idle=timedelta(minutes=config["SESSION_IDLE_MINUTES"]), absolute=timedelta(hours=config["SESSION_MAX_HOURS"])
    )


def start_session(
    user: User, *, ip_address: str | None, user_agent: str | None, organization_id: str | None = None
) -> tuple[str, UserSession]:
    """A new server-side session for a fresh log-in, working in ``organization_id`` when it is one
    of the user's (else their default one); returns the cookie secret and the row."""
    plain, hashed = new_secret()
    now = utcnow()
    memberships = orgs.memberships_of(user.id)
    default_org = next(
        (m.organization_id for m in memberships if m.organization_id == organization_id),
        memberships[0].organization_id,
    )
    row = UserSession(
        user_id=user.id,
        secret_hash=hashed,
        organization_id=default_org,
        created_at=now,
        last_seen_at=now,
        expires_at=now + session_limits().absolute,
        ip_address=ip_address,
        user_agent=(user_agent or "")[:200] or None,
    )
    db.session.add(row)
    user.last_login_at = now
    db.session.flush()
    audit.record(
        "auth.login",
        organization_id=default_org,
        actor=audit.Actor(user_id=user.id),
        target_type="user",
        target_id=user.id,
    )
    return plain, row


def find_live_session(secret: str | None) -> UserSession | None:
    """The session this cookie secret belongs to, if it is still alive (not revoked, not idle too
    long, not past its absolute lifetime). Marks expired ones revoked."""
    found = find_live_session_and_user(secret)
    return found[0] if found is not None else None


def find_live_session_and_user(secret: str | None) -> tuple[UserSession, User] | None:
    """The live session of this cookie secret and its user, read together (every signed-in
    request asks for both)."""
    if not secret:
        return None
    found = db.session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.secret_hash == hash_secret(secret))
    ).first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None:
        return None
    now = utcnow()
    if now >= row.expires_at or now - row.last_seen_at >= session_limits().idle:
        _update_apart(UserSession, row.id, revoked_at=now)
        return None
    if (now - row.last_seen_at).total_seconds() >= SESSION_TOUCH_SECONDS:
        # Written apart, so a read-only request holds no write lock (SQLite) and every request,
        # failed ones included, counts as activity.
        _update_apart(UserSession, row.id, last_seen_at=now)
    return row, user


def end_session(row: UserSession, *, user: User) -> None:
    row.revoked_at = utcnow()
    db.session.flush()
    audit.record(
        "auth.logout",
        organization_id=row.organization_id,
        actor=audit.Actor(user_id=user.id),
        target_type="user",
        target_id=user.id,
    )


def end_session_apart(row: UserSession) -> None:
    """End a session whatever the request's outcome (its person has nothing left to reach)."""
    _update_apart(UserSession, row.id, revoked_at=utcnow())


def switch_organization(row: UserSession, *, user: User, organization_id: str) -> None:
    """Raises NotFound unless the user is an active member of ``organization_id``."""
    if orgs.active_membership(user.id, organization_id) is None:
        raise NotFound("No such organization.")
    row.organization_id = organization_id
    db.session.flush()


def revoke_all_credentials(user_id: str, *, reason: str, keep_session_id: str | None = None) -> None:
    """End every browser session and API log-in of the user (except ``keep_session_id``)."""
    now = utcnow()
    sessions = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep_session_id:
        sessions = sessions.where(UserSession.id != keep_session_id)
    db.session.execute(sessions.values(revoked_at=now))
    db.session.execute(
        update(TokenFamily)
        .where(TokenFamily.user_id == user_id, TokenFamily.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


# --- one-time password links ------------------------------------------------------------------


def issue_password_link(user: User, *, purpose: str = "set_password") -> str:
    """A one-time secret for a set-password (or reset) link; earlier unused links stop working."""
    now = utcnow()
    db.session.execute(
        update(PasswordLink).where(PasswordLink.user_id == user.id, PasswordLink.used_at.is_(None)).values(used_at=now)
    )
    plain, hashed = new_secret()
    db.session.add(
        PasswordLink(
            user_id=user.id,
            secret_hash=hashed,
            purpose=purpose,
            created_at=now,
            expires_at=now + timedelta(hours=PASSWORD_LINK_HOURS),
        )
    )
    db.session.flush()
    return plain


def find_password_link(secret: str) -> tuple[PasswordLink, User]:
    """Raises NotFound when the link is unknown, used or expired."""
    link = db.session.scalar(select(PasswordLink).where(PasswordLink.secret_hash == hash_secret(secret or "")))
    if link is None or link.used_at is not None or utcnow() >= link.expires_at:
        raise NotFound("This link has expired or was already used. Ask your practice admin for a new one.")
    user = db.session.get(User, link.user_id)
    if user is None or not user.is_active:
        raise NotFound("This link has expired or was already used. Ask your practice admin for a new one.")
    return link, user


def use_password_link(secret: str, new_password: str) -> User:
    """Set the password through a one-time link. Raises NotFound or Invalid."""
    link, user = find_password_link(secret)
    accounts.set_password(user, new_password, actor=audit.Actor(user_id=user.id), organization_id=None)
    link.used_at = utcnow()
    revoke_all_credentials(user.id, reason="password_set")
    db.session.flush()
    return user


# --- API access and refresh tokens ------------------------------------------------------------


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


def api_login(
    email: str, password: str, *, ip_address: str | None, organization_id: str | None = None
) -> tuple[User, TokenFamily, TokenPair]:
    """A new API log-in (token family) and its first pair. Raises LoginThrottled or Unauthorized
    like ``authenticate``, or Invalid when ``organization_id`` is not one of the person's.

    The log-in acts for one organization: ``organization_id`` when given, else the person's only
    one. Someone who belongs to several and names none gets an unbound log-in, whose every
    request names its organization (``X-Organization-ID``)."""
    user = authenticate(email, password, ip_address=ip_address)
    memberships = orgs.memberships_of(user.id)
    if organization_id is not None and not any(m.organization_id == organization_id for m in memberships):
        raise Invalid(errors=[FieldError("organization_id", "You are not a member of this organization.")])
    if organization_id is None and len(memberships) == 1:
        organization_id = memberships[0].organization_id
    family = TokenFamily(user_id=user.id, organization_id=organization_id, created_at=utcnow())
    db.session.add(family)
    db.session.flush()
    user.last_login_at = utcnow()
    audit.record(
        "auth.api_login",
        organization_id=organization_id or memberships[0].organization_id,
        actor=audit.Actor(user_id=user.id),
        target_type="user",
        target_id=user.id,
    )
    return user, family, _issue_pair(user, family)


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
    _write_apart(
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


# --- organization API tokens ------------------------------------------------------------------


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
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= SESSION_TOUCH_SECONDS:
        _update_apart(ApiToken, token.id, last_used_at=now)
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


# --- when a membership ends or changes ---------------------------------------------------------
#
# One organization acting on its member touches what acts for that organization only: the API
# log-ins bound to it and the organization API tokens the person created there (a token carries its
# creator's authority: it stops when they leave, or when their new role no longer grants every
# scope it holds). Their account, password, browser sessions and log-ins for other organizations go
# on; a browser session simply cannot reach this organization any more.


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


@orgs.membership_ended.connect
def _membership_ended(
    _membership: object, *, organization_id: str, user_id: str, actor: audit.Actor, **_: object
) -> None:
    db.session.execute(
        update(TokenFamily)
        .where(
            TokenFamily.user_id == user_id,
            TokenFamily.organization_id == organization_id,
            TokenFamily.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), revoked_reason="membership_deactivated")
    )
    _revoke_tokens(
        tokens_at_stake(user_id, organization_id),
        organization_id=organization_id,
        reason="creator_removed",
        actor=actor,
    )


@orgs.membership_role_changed.connect
def _membership_role_changed(
    _membership: object, *, organization_id: str, user_id: str, role: str, actor: audit.Actor, **_: object
) -> None:
    _revoke_tokens(
        tokens_at_stake(user_id, organization_id, new_role=role),
        organization_id=organization_id,
        reason="creator_role_changed",
        actor=actor,
    )


def expiry_label(value: datetime | None) -> str:
    return "never" if value is None else value.strftime("%d %b %Y")
