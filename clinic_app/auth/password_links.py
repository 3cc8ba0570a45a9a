"""One-time ways to set a password: a link for new staff (``set_password``, 72 hours) and, for a
forgotten password, a link together with a 6-digit code (``reset``, 30 minutes); and, with the
same rules, confirming a practice sign-up's e-mail address (``confirm_email``, a link and a code,
24 hours).

The rules, one per concern:

* The link's secret is 256 random bits stored as a SHA-256 hash (enough for a value nobody can
  guess). The code has only a million values, so it is stored as an HMAC keyed with the app's
  ``SECRET_KEY`` and bound to its row: a copy of the table alone cannot be searched for it.
* Link and code work once (spending is one conditional UPDATE, so of two racing uses exactly one
  goes on), until the purpose's lifetime ends, and only while the account is active.
* Issuing a link ends the person's earlier unused links of the same purpose; setting a password
  through any of them ends them all.
* A code is tried only after the try is counted in its own committed transaction (one
  conditional UPDATE), so ``MAX_CODE_ATTEMPTS`` racing guesses cannot become more; the try that
  uses up the last one burns the reset, its link included.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from clinic_app.accounts import service as accounts
from clinic_app.accounts.models import User
from clinic_app.auth.models import PasswordLink
from clinic_app.auth.sessions import revoke_all_credentials
from clinic_app.core import audit
from clinic_app.core.credentials import hash_secret, keyed_hash, new_secret
from clinic_app.core.errors import NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

SET_PASSWORD, RESET, CONFIRM_EMAIL = "set_password", "reset", "confirm_email"
LIFETIMES = {SET_PASSWORD: timedelta(hours=72), RESET: timedelta(minutes=30), CONFIRM_EMAIL: timedelta(hours=24)}
PASSWORD_LINK_HOURS = 72  # the set-password lifetime, in the words of older callers
CODE_DIGITS = 6
MAX_CODE_ATTEMPTS = 5

GONE = "This link has expired or was already used. Ask your practice admin for a new one."
RESET_GONE = (
    "This reset link has expired or was already used. Ask for a new one: choose “Forgot password?” on the sign-in page."
)
CONFIRM_GONE = "This confirmation link has expired or was already used. Ask for a new code on the confirmation page."


@dataclass(frozen=True)
class IssuedLink:
    """What goes into the e-mail, once: never stored in plain, never shown elsewhere."""

    secret: str
    code: str | None
    expires_at: datetime


def code_digest(link_id: str, code: str) -> str:
    """The stored form of a reset code: an HMAC keyed with ``SECRET_KEY``, bound to its row."""
    return keyed_hash(current_app.config["SECRET_KEY"], f"password-code:{link_id}:{code}")


def _new_link(user_id: str | None, purpose: str, *, with_code: bool) -> tuple[PasswordLink, IssuedLink]:
    now = utcnow()
    plain, hashed = new_secret()
    link = PasswordLink(
        user_id=user_id, secret_hash=hashed, purpose=purpose, created_at=now, expires_at=now + LIFETIMES[purpose]
    )
    code = None
    if with_code:
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        link.code_hash = code_digest(link.id, code)
    return link, IssuedLink(plain, code, link.expires_at)


def _issue(user: User, purpose: str, *, with_code: bool) -> IssuedLink:
    db.session.execute(
        update(PasswordLink)
        .where(PasswordLink.user_id == user.id, PasswordLink.purpose == purpose, PasswordLink.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    link, issued = _new_link(user.id, purpose, with_code=with_code)
    db.session.add(link)
    db.session.flush()
    return issued


def issue_password_link(user: User, *, purpose: str = SET_PASSWORD) -> str:
    """A one-time secret for a set-password link; the person's earlier unused set-password links
    stop working."""
    return _issue(user, purpose, with_code=False).secret


def issue_reset(user: User) -> IssuedLink:
    """A reset for ``user``: a link's secret and a code, for ``LIFETIMES[RESET]``; their earlier
    unused resets stop working."""
    return _issue(user, RESET, with_code=True)


def issue_confirmation(user: User) -> IssuedLink:
    """A confirmation of ``user``'s address: a link's secret and a code, for
    ``LIFETIMES[CONFIRM_EMAIL]``; their earlier unused confirmations stop working."""
    return _issue(user, CONFIRM_EMAIL, with_code=True)


def rehearse_issue(*, purpose: str = RESET, with_code: bool = True) -> None:
    """Spend what ``issue_password_link`` spends on secrets and hashes, keeping nothing: for an
    answer that must take as long whether or not there is anyone to issue a link to."""
    _new_link(None, purpose, with_code=with_code)


def _gone(purpose: str) -> NotFound:
    return NotFound({RESET: RESET_GONE, CONFIRM_EMAIL: CONFIRM_GONE}.get(purpose, GONE))


def _live(link: PasswordLink | None, purpose: str) -> bool:
    return (
        link is not None
        and link.purpose == purpose
        and link.used_at is None
        and link.code_attempts < MAX_CODE_ATTEMPTS
        and utcnow() < link.expires_at
    )


def find_password_link(secret: str, *, purpose: str = SET_PASSWORD) -> tuple[PasswordLink, User]:
    """The live link of this secret and its (active) person. Raises NotFound when the link is
    unknown, of another purpose, used, burned or expired."""
    link = db.session.scalar(select(PasswordLink).where(PasswordLink.secret_hash == hash_secret(secret or "")))
    if link is None or not _live(link, purpose):
        raise _gone(purpose)
    user = db.session.get(User, link.user_id)
    if user is None or not user.is_active:
        raise _gone(purpose)
    return link, user


def live_reset_of(user: User, *, purpose: str = RESET) -> PasswordLink | None:
    """The person's newest reset (or confirmation, by ``purpose``) that can still be used, if any."""
    link = db.session.scalar(
        select(PasswordLink)
        .where(PasswordLink.user_id == user.id, PasswordLink.purpose == purpose, PasswordLink.used_at.is_(None))
        .order_by(PasswordLink.created_at.desc(), PasswordLink.id.desc())
        .limit(1)
    )
    return link if _live(link, purpose) else None


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of trying a code: ``right``, or wrong (``burned`` when that was the last try)."""

    right: bool
    burned: bool = False
    counted: bool = True  # False: the reset was used up already and the code was not looked at


def try_code(link: PasswordLink | None, code: str) -> CodeCheck:
    """Count one try against ``link`` (committed apart, so a refused request keeps it), then
    compare the code in constant time. A wrong code that uses up the last try burns the reset.

    Without a link (no account, or no live reset) the same statements run and match nothing, so
    the answer takes about as long and tells as little."""
    now = utcnow()
    link_id = link.id if link is not None else ""
    with Session(db.engine) as session:
        tries = session.scalar(
            update(PasswordLink)
            .where(
                PasswordLink.id == link_id,
                PasswordLink.used_at.is_(None),
                PasswordLink.expires_at > now,
                PasswordLink.code_attempts < MAX_CODE_ATTEMPTS,
            )
            .values(code_attempts=PasswordLink.code_attempts + 1)
            .returning(PasswordLink.code_attempts)
        )
        session.commit()
    expected = (link.code_hash if link is not None else None) or ""
    right = hmac.compare_digest(expected, code_digest(link_id, code or "")) and bool(expected)
    if tries is None:
        return CodeCheck(right=False, counted=False)
    if right:
        return CodeCheck(right=True)
    burned = tries >= MAX_CODE_ATTEMPTS
    if burned:
        with Session(db.engine) as session:
            session.execute(update(PasswordLink).where(PasswordLink.id == link_id).values(used_at=utcnow()))
            session.commit()
    return CodeCheck(right=False, burned=burned)


def spend(link: PasswordLink) -> None:
    """Use the link up: one conditional UPDATE, so of two requests racing with the same link (or
    code) exactly one goes on. Raises NotFound for the other."""
    spent = db.session.execute(
        update(PasswordLink)
        .where(PasswordLink.id == link.id, PasswordLink.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        raise _gone(link.purpose)


def end_links_of(user: User) -> None:
    """Every unused link of the person stops working (their password was just set)."""
    db.session.execute(
        update(PasswordLink)
        .where(PasswordLink.user_id == user.id, PasswordLink.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def use_password_link(secret: str, new_password: str) -> User:
    """Set the password through a one-time set-password link (which also confirms the address it
    was mailed to). Raises NotFound or Invalid."""
    link, user = find_password_link(secret)
    accounts.set_password(user, new_password, actor=audit.Actor(user_id=user.id), organization_id=None)
    spend(link)
    accounts.mark_email_verified(user)
    end_links_of(user)
    revoke_all_credentials(user.id, reason="password_set")
    db.session.flush()
    return user
