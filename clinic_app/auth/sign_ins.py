"""Where a person is signed in: their live browser sessions and API log-ins (refresh-token
families), and ending one of them or every one but the caller's own.

Live means it would still let a request in: a browser session not ended, not past its absolute
lifetime and not idle too long; an API log-in not ended whose latest refresh token has not
expired. Only the person's own are ever listed or ended: someone else's id is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update

from clinic_app.auth import jwt_tokens
from clinic_app.auth.devices import device_label
from clinic_app.auth.models import TokenFamily, UserSession
from clinic_app.auth.sessions import session_limits
from clinic_app.core import audit
from clinic_app.core.errors import NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

BROWSER = "browser"
API = "api"
# Why an API log-in ended, on its row (``TokenFamily.revoked_reason``).
ENDED_BY_PERSON = "ended_by_person"


@dataclass(frozen=True)
class SignIn:
    """One place the person is signed in."""

    id: str  # ``ses_…`` for a browser session, ``tfm_…`` for an API log-in
    kind: str  # BROWSER or API
    device: str
    ip_address: str | None
    created_at: datetime
    last_seen_at: datetime | None
    current: bool
    organization_id: str | None


@dataclass(frozen=True)
class Caller:
    """The credential a request came with: the one "sign out all others" keeps."""

    user_id: str
    session_id: str | None = None
    family_id: str | None = None
    organization_id: str | None = None  # the audit trail the endings are recorded in

    @property
    def actor(self) -> audit.Actor:
        return audit.Actor(user_id=self.user_id)


def _live_session_rows(user_id: str, now: datetime) -> ColumnElement[bool]:
    return and_(
        UserSession.user_id == user_id,
        UserSession.revoked_at.is_(None),
        UserSession.expires_at > now,
        UserSession.last_seen_at > now - session_limits().idle,
    )


def _live_family_rows(user_id: str, now: datetime) -> ColumnElement[bool]:
    # A family's newest refresh token was issued when it was last used (created or refreshed),
    # and lives REFRESH_TOKEN_DAYS: after that nothing of the log-in works any more.
    cutoff = now - timedelta(days=jwt_tokens.REFRESH_TOKEN_DAYS)
    return and_(
        TokenFamily.user_id == user_id,
        TokenFamily.revoked_at.is_(None),
        or_(
            TokenFamily.last_used_at > cutoff,
            and_(TokenFamily.last_used_at.is_(None), TokenFamily.created_at > cutoff),
        ),
    )


def _live_sessions(user_id: str, now: datetime) -> list[UserSession]:
    query = select(UserSession).where(_live_session_rows(user_id, now))
    return list(db.session.scalars(query.order_by(UserSession.last_seen_at.desc(), UserSession.id)))


def _live_families(user_id: str, now: datetime) -> list[TokenFamily]:
    query = select(TokenFamily).where(_live_family_rows(user_id, now))
    return list(db.session.scalars(query.order_by(TokenFamily.created_at.desc(), TokenFamily.id)))


def live_sign_ins(caller: Caller) -> tuple[list[SignIn], list[SignIn]]:
    """The caller's live browser sessions and live API log-ins, most recently active first; the
    caller's own credential is marked ``current``."""
    now = utcnow()
    browsers = [
        SignIn(
            id=row.id,
            kind=BROWSER,
            device=device_label(row.user_agent),
            ip_address=row.ip_address,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            current=row.id == caller.session_id,
            organization_id=row.organization_id,
        )
        for row in _live_sessions(caller.user_id, now)
    ]
    apis = [
        SignIn(
            id=row.id,
            kind=API,
            device=device_label(row.user_agent),
            ip_address=row.ip_address,
            created_at=row.created_at,
            last_seen_at=row.last_used_at or row.created_at,
            current=row.id == caller.family_id,
            organization_id=row.organization_id,
        )
        for row in _live_families(caller.user_id, now)
    ]
    return browsers, apis


def _record_ended(caller: Caller, kind: str, target_id: str, organization_id: str | None) -> None:
    audit.record(
        "auth.session_ended",
        organization_id=organization_id or caller.organization_id,
        actor=caller.actor,
        target_type="user_session" if kind == BROWSER else "token_family",
        target_id=target_id,
        details={"kind": kind, "own": target_id in (caller.session_id, caller.family_id)},
    )


def end_browser_session(caller: Caller, session_id: str) -> None:
    """End one of the caller's browser sessions: that browser's next request is signed out.
    Raises NotFound for an id that is not a live session of theirs."""
    row = db.session.get(UserSession, session_id) if session_id.startswith("ses_") else None
    if row is None or row.user_id != caller.user_id or row.revoked_at is not None:
        raise NotFound("No such session.")
    row.revoked_at = utcnow()
    db.session.flush()
    _record_ended(caller, BROWSER, row.id, row.organization_id)


def end_api_login(caller: Caller, family_id: str) -> None:
    """End one of the caller's API log-ins: its access and refresh tokens stop working. Raises
    NotFound for an id that is not a live log-in of theirs."""
    row = db.session.get(TokenFamily, family_id) if family_id.startswith("tfm_") else None
    if row is None or row.user_id != caller.user_id or row.revoked_at is not None:
        raise NotFound("No such log-in.")
    row.revoked_at, row.revoked_reason = utcnow(), ENDED_BY_PERSON
    db.session.flush()
    _record_ended(caller, API, row.id, row.organization_id)


def end_sign_in(caller: Caller, sign_in_id: str) -> None:
    """End a browser session (``ses_…``) or an API log-in (``tfm_…``) of the caller. Raises
    NotFound otherwise."""
    if sign_in_id.startswith("tfm_"):
        end_api_login(caller, sign_in_id)
    else:
        end_browser_session(caller, sign_in_id)


@dataclass(frozen=True)
class Ended:
    browser_sessions: int
    api_logins: int


def end_all_others(caller: Caller) -> Ended:
    """End every live browser session and API log-in of the caller except the credential this
    request came with. Returns how many of each were ended."""
    now = utcnow()
    sessions = update(UserSession).where(_live_session_rows(caller.user_id, now))
    if caller.session_id:
        sessions = sessions.where(UserSession.id != caller.session_id)
    families = update(TokenFamily).where(_live_family_rows(caller.user_id, now))
    if caller.family_id:
        families = families.where(TokenFamily.id != caller.family_id)
    options = {"synchronize_session": False}
    browser_count = db.session.execute(sessions.values(revoked_at=now).execution_options(**options)).rowcount
    api_count = db.session.execute(
        families.values(revoked_at=now, revoked_reason=ENDED_BY_PERSON).execution_options(**options)
    ).rowcount
    ended = Ended(browser_sessions=browser_count or 0, api_logins=api_count or 0)
    audit.record(
        "auth.sessions_ended_others",
        organization_id=caller.organization_id,
        actor=caller.actor,
        target_type="user",
        target_id=caller.user_id,
        details={"browser_sessions": ended.browser_sessions, "api_logins": ended.api_logins},
    )
    return ended
