"""Recovery codes: ten single-use codes shown once when two-factor sign-in is switched on (or
the codes are renewed), for the day the phone is lost. Stored as keyed hashes bound to the
person; using one is one ``UPDATE … WHERE used_at IS NULL``, so a code works once even when two
requests race with it."""

from __future__ import annotations

import re
import secrets

from flask import current_app
from sqlalchemy import delete, func, select, update

from clinic_app.core.credentials import keyed_hash
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.mfa.models import RecoveryCode

COUNT = 10
# Lower-case letters and digits without the ones people misread (0/o, 1/l/i).
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
GROUP = 5  # two groups of five: "k7m2p-x9qrt", about 49 bits each


def normalise(typed: str | None) -> str:
    return re.sub(r"[\s-]", "", (typed or "").lower())


def looks_like_code(typed: str | None) -> bool:
    value = normalise(typed)
    return len(value) == 2 * GROUP and all(c in ALPHABET for c in value)


def _hash(user_id: str, normalised: str) -> str:
    return keyed_hash(current_app.config["SECRET_KEY"], f"recovery:{user_id}:{normalised}")


def issue(user_id: str) -> list[str]:
    """Replace the person's codes with ten new ones; returns them (shown once, never stored)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = []
    while len(codes) < COUNT:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(2 * GROUP))
        if raw not in codes:
            codes.append(raw)
    now = utcnow()
    db.session.add_all(RecoveryCode(user_id=user_id, code_hash=_hash(user_id, c), created_at=now) for c in codes)
    db.session.flush()
    return [f"{c[:GROUP]}-{c[GROUP:]}" for c in codes]


def use(user_id: str, typed: str) -> bool:
    """Spend one of the person's unused codes: True for the one request that did."""
    if not looks_like_code(typed):
        return False
    spent = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == _hash(user_id, normalise(typed)),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return spent.rowcount == 1


def remaining(user_id: str) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def discard(user_id: str) -> None:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
