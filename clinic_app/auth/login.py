"""Checking a person's e-mail and password, throttled: the one way in for the browser log-in, the
API log-in and accepting an invitation with an existing account.

Only failures count, over a sliding window, per account and per client address; the attempt is
counted before its password is looked at, so concurrent guesses cannot slip past the limit.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from clinic_app.accounts import service as accounts
from clinic_app.accounts.models import User
from clinic_app.auth.models import LoginFailure
from clinic_app.core import audit
from clinic_app.core.credentials import keyed_hash
from clinic_app.core.errors import Forbidden, Invalid, Unauthorized
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs

THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20

GENERIC_LOGIN_ERROR = "The e-mail address or password is not right."


UNCONFIRMED_LOGIN_ERROR = (
    "Please confirm your e-mail address before signing in: enter the 6-digit code we e-mailed you, "
    "or open the link in that e-mail. No e-mail? Ask for a new code on the confirmation page."
)


class EmailNotConfirmed(Forbidden):
    """The password was right, but the account's address is not confirmed yet (a practice
    sign-up): said only to someone who knows the password, so it tells nobody else anything."""

    title = "E-mail confirmation required"

    def __init__(self) -> None:
        super().__init__(UNCONFIRMED_LOGIN_ERROR, code="email_confirmation_required")


class LoginThrottled(Invalid):
    status = 429
    title = "Too many attempts"


def _email_key(email: str) -> str:
    return keyed_hash(current_app.config["SECRET_KEY"], (email or "").strip().lower())


def _throttle_message() -> str:
    minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
    return f"Too many failed sign-in attempts. Please wait {minutes} minutes and try again, or reset your password."


def _write_then_count(key_hash: str, ip_address: str | None, window: timedelta) -> tuple[str, int, int]:
    """Write one attempt under ``key_hash`` (and ``ip_address``) and commit it in its own short
    transaction, then count the attempts in ``window`` under that key and that address. Each of N
    racing requests counts itself and every attempt written before its count, so at most ``limit``
    of them can see a count within a limit. Returns the row's id and the two counts."""
    attempt = LoginFailure(email_hash=key_hash, ip_address=ip_address, created_at=utcnow())
    row_id = attempt.id
    with Session(db.engine) as session:
        session.add(attempt)
        session.commit()
        since = utcnow() - window
        by_key = session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.email_hash == key_hash, LoginFailure.created_at >= since)
        )
        by_address = 0
        if ip_address:
            by_address = session.scalar(
                select(func.count())
                .select_from(LoginFailure)
                .where(LoginFailure.ip_address == ip_address, LoginFailure.created_at >= since)
            )
        session.rollback()
    return row_id, by_key or 0, by_address or 0


def _claim_attempt(email: str, ip_address: str | None) -> tuple[str, bool]:
    """Count this sign-in attempt before its password is looked at (``_write_then_count``), and
    say whether it is over a limit per account or per address. A successful or refused attempt's
    row is removed again (``_forget_attempt``); a failed one stays as the failure. Returns the
    row's id and whether to refuse."""
    row_id, by_account, by_address = _write_then_count(_email_key(email), ip_address, THROTTLE_WINDOW)
    return row_id, by_account > MAX_FAILURES_PER_ACCOUNT or by_address > MAX_FAILURES_PER_ADDRESS


def _forget_attempt(row_id: str) -> None:
    with Session(db.engine) as session:
        session.execute(delete(LoginFailure).where(LoginFailure.id == row_id))
        session.commit()


def claim_attempt(key: str, *, limit: int, window: timedelta) -> tuple[str, bool]:
    """The same insert-then-count throttle for another guess worth limiting (a password asked
    again to sign a report): ``key`` names who tries what (e.g. ``report-sign:<org>:<user>``; it is
    stored hashed, apart from e-mail keys). Of N racing requests at most ``limit`` see a count
    within it. Returns the row's id and whether to refuse; call ``forget_attempt`` for an attempt
    that must not count (a refused one, or one that succeeded)."""
    key_hash = keyed_hash(current_app.config["SECRET_KEY"], f"attempt:{key}")
    row_id, by_key, _ = _write_then_count(key_hash, None, window)
    return row_id, by_key > limit


def forget_attempt(row_id: str) -> None:
    """Remove an attempt written by ``claim_attempt`` (it must not count)."""
    _forget_attempt(row_id)


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
    deactivated, no organization), so nothing tells which e-mail addresses exist. With the right
    password, an account whose address is not confirmed yet raises EmailNotConfirmed (403).
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
    if require_membership and not user.is_operator and not orgs.memberships_of(user.id):
        _record_failure(user, reason="no_active_membership")
        raise Unauthorized(GENERIC_LOGIN_ERROR)
    _forget_attempt(attempt_id)  # the password was right: not a failed guess
    if not accounts.is_email_verified(user):
        _record_failure(user, reason="email_not_confirmed")
        raise EmailNotConfirmed()
    return user
