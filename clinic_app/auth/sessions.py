"""Browser sessions: server-side rows behind the session cookie, with idle and absolute
lifetimes, the organization the person works in, and ending every credential of a person at once.

Every credential can be ended server-side: browser sessions and refresh-token families are rows
with ``revoked_at``; access tokens name their family and the user's ``session_version``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, bindparam, select, update

from clinic_app.accounts.models import User
from clinic_app.accounts.signals import password_changed
from clinic_app.auth import devices
from clinic_app.auth.models import TokenFamily, UserSession
from clinic_app.core import audit
from clinic_app.core.apart import TOUCH_SECONDS, update_apart
from clinic_app.core.credentials import hash_secret, new_secret
from clinic_app.core.errors import NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs


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
        memberships[0].organization_id if memberships else None,  # a platform operator belongs to none
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
    devices.note_sign_in(user, ip_address=ip_address, user_agent=user_agent)
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
    """The live session of this cookie secret and its user, read together."""
    found = find_signed_in(secret)
    return None if found is None else (found[0], found[1])


@functools.cache
def _signed_in_statement() -> Select[Any]:
    """Built once (every signed-in request runs it): the session of a secret's hash, its person
    and their memberships."""
    return orgs.with_memberships(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.secret_hash == bindparam("secret_hash", type_=UserSession.secret_hash.type)),
        User.id,
    )


def find_signed_in(secret: str | None) -> tuple[UserSession, User, list[orgs.MembershipView]] | None:
    """The live session of this cookie secret, its user and the user's memberships, read in one
    statement (every signed-in request asks for all three)."""
    if not secret:
        return None
    rows = db.session.execute(_signed_in_statement(), {"secret_hash": hash_secret(secret)}).all()
    if not rows:
        return None
    row, user = rows[0].UserSession, rows[0].User
    if row.revoked_at is not None:
        return None
    now = utcnow()
    if now >= row.expires_at or now - row.last_seen_at >= session_limits().idle:
        update_apart(UserSession, row.id, revoked_at=now)
        return None
    if (now - row.last_seen_at).total_seconds() >= TOUCH_SECONDS:
        # Written apart, so a read-only request holds no write lock (SQLite) and every request,
        # failed ones included, counts as activity.
        update_apart(UserSession, row.id, last_seen_at=now)
    return row, user, orgs.membership_views(rows)


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
    update_apart(UserSession, row.id, revoked_at=utcnow())


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


@password_changed.connect
def _password_changed(user: User, *, keep_session_id: str | None = None, **_: object) -> None:
    # Every other browser and API log-in ends; the one that changed the password carries on.
    revoke_all_credentials(user.id, reason="password_changed", keep_session_id=keep_session_id)
