"""Challenges: a sign-in that waits for its second factor, and WebAuthn ceremonies.

A challenge is named by a random secret (the API's ``mfa_token``, or held in the browser
session) stored only as its hash; it lives for minutes, is used once (one ``UPDATE … WHERE
used_at IS NULL``, so of two racing answers one wins), and is burned after ``MAX_FAILED`` wrong
answers (the count is written apart, so a failed request still counts it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update

from clinic_app.core import periodic
from clinic_app.core.apart import write_apart
from clinic_app.core.credentials import hash_secret, new_secret
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.mfa.models import MfaChallenge

SIGN_IN = "sign_in"
PASSKEY_REGISTER = "passkey_register"
PASSKEY_SIGN_IN = "passkey_sign_in"
LIFETIMES = {
    SIGN_IN: timedelta(minutes=10),
    PASSKEY_REGISTER: timedelta(minutes=5),
    PASSKEY_SIGN_IN: timedelta(minutes=5),
}
MAX_FAILED = 5
TOKEN_PREFIX = "mfa_"  # noqa: S105 (a label, not a secret)


def open_challenge(
    purpose: str,
    *,
    user_id: str | None = None,
    organization_id: str | None = None,
    webauthn_challenge: str | None = None,
    data: dict[str, Any] | None = None,
) -> tuple[str, MfaChallenge]:
    """A new challenge; returns its secret (give it to the client, never store it) and the row."""
    plain, hashed = new_secret(TOKEN_PREFIX)
    now = utcnow()
    row = MfaChallenge(
        secret_hash=hashed,
        purpose=purpose,
        user_id=user_id,
        organization_id=organization_id,
        webauthn_challenge=webauthn_challenge,
        created_at=now,
        expires_at=now + LIFETIMES[purpose],
        data=data or {},
    )
    db.session.add(row)
    db.session.flush()
    return plain, row


def live_challenge(secret: str | None, purpose: str) -> MfaChallenge | None:
    """The challenge of this secret if it is for ``purpose`` and still answerable: not used, not
    expired, not burned by wrong answers."""
    if not secret or len(secret) > 100:
        return None
    row = db.session.query(MfaChallenge).filter_by(secret_hash=hash_secret(secret)).one_or_none()
    if row is None or row.purpose != purpose or row.used_at is not None:
        return None
    if utcnow() >= row.expires_at or row.failed_attempts >= MAX_FAILED:
        return None
    return row


def spend(row: MfaChallenge) -> bool:
    """Use the challenge up, atomically: True for the one request that did."""
    now = utcnow()
    spent = db.session.execute(
        update(MfaChallenge)
        .where(
            MfaChallenge.id == row.id,
            MfaChallenge.used_at.is_(None),
            MfaChallenge.expires_at > now,
            MfaChallenge.failed_attempts < MAX_FAILED,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return spent.rowcount == 1


def count_failure(row: MfaChallenge) -> None:
    """One wrong answer, kept whatever the request's outcome (the fifth burns the challenge)."""
    write_apart(
        lambda session: session.execute(
            update(MfaChallenge)
            .where(MfaChallenge.id == row.id)
            .values(failed_attempts=MfaChallenge.failed_attempts + 1)
        )
    )


@periodic.every_tick("mfa.purge_challenges")
def purge_expired(now: datetime | None = None) -> int:
    """Delete challenges that ended more than a day ago (kept a day for the audit's sake)."""
    cutoff = (now or utcnow()) - timedelta(days=1)
    result = db.session.execute(delete(MfaChallenge).where(MfaChallenge.expires_at < cutoff))
    db.session.commit()
    return result.rowcount or 0
