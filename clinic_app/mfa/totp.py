"""Authenticator apps (RFC 6238 TOTP: HMAC-SHA1, 6 digits, 30-second steps, one step of clock
drift either way), with a QR code drawn here as SVG and the key for typing in by hand.

Enrolment is two steps: ``start_enrolment`` draws a key (sealed at rest, ``core.sealed``) and
``confirm`` switches it on once the person typed a code from their app. A code is accepted once:
accepting is one ``UPDATE … WHERE last_used_step < :step``, so the same code (or an older one) is
refused even when two requests race with it.
"""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass

import pyotp
import segno
from flask import current_app
from sqlalchemy import delete, or_, select, update

from clinic_app.accounts.models import User
from clinic_app.core.errors import Conflict
from clinic_app.core.sealed import seal, sealed_column, unseal
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.mfa.models import TotpFactor

SEAL_PURPOSE = "totp"
sealed_column(TotpFactor, "secret_sealed", owner_attribute="user_id", purpose=SEAL_PURPOSE)
STEP_SECONDS = 30
DRIFT_STEPS = 1
CODE_PATTERN = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, for typing into an app by hand
    otpauth_uri: str
    qr_svg: str  # an inline <svg> of the URI


def normalise_code(typed: str | None) -> str:
    """Digits only (people type "123 456" or "123-456")."""
    return re.sub(r"[\s-]", "", typed or "")


def looks_like_code(typed: str | None) -> bool:
    return bool(CODE_PATTERN.match(normalise_code(typed)))


def confirmed_factor(user_id: str) -> TotpFactor | None:
    return db.session.scalar(
        select(TotpFactor).where(TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None))
    )


def _issuer() -> str:
    return current_app.config.get("APP_NAME") or "Clinic app"


def _enrolment(user: User, secret: str) -> Enrolment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=_issuer())
    qr = segno.make(uri, error="m")
    svg = qr.svg_inline(scale=5, border=2, dark="#111", light="#fff", omitsize=False)
    return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=svg)


def start_enrolment(user: User) -> Enrolment:
    """A new key waiting for its first code (replacing an earlier unconfirmed one). Raises
    Conflict when an authenticator app is already switched on: it is removed first."""
    if confirmed_factor(user.id) is not None:
        raise Conflict("An authenticator app is already set up. Remove it first to set up another.")
    db.session.execute(delete(TotpFactor).where(TotpFactor.user_id == user.id))
    secret = pyotp.random_base32()
    db.session.add(TotpFactor(user_id=user.id, secret_sealed=seal(SEAL_PURPOSE, user.id, secret.encode())))
    db.session.flush()
    return _enrolment(user, secret)


def pending_enrolment(user: User) -> Enrolment | None:
    """The enrolment started and not yet confirmed (to show its QR code again), if any."""
    row = db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == user.id, TotpFactor.confirmed_at.is_(None)))
    if row is None:
        return None
    return _enrolment(user, unseal(SEAL_PURPOSE, user.id, row.secret_sealed).decode())


def clock() -> float:
    """Now, in seconds since the epoch (a seam for tests that need the next time step)."""
    return time.time()


def _matching_step(row: TotpFactor, code: str) -> int | None:
    secret = unseal(SEAL_PURPOSE, row.user_id, row.secret_sealed).decode()
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = int(clock() // STEP_SECONDS)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate is compared (in constant time), so timing does not tell which matched.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def _accept(row: TotpFactor, code: str, *, confirming: bool) -> bool:
    """Accept ``code`` for ``row`` once: True when it matches a step later than the last one used."""
    if not looks_like_code(code):
        return False
    step = _matching_step(row, normalise_code(code))
    if step is None:
        return False
    values: dict[str, object] = {"last_used_step": step}
    if confirming:
        values["confirmed_at"] = utcnow()
    accepted = db.session.execute(
        update(TotpFactor)
        .where(
            TotpFactor.id == row.id,
            TotpFactor.confirmed_at.is_(None) if confirming else TotpFactor.confirmed_at.is_not(None),
            or_(TotpFactor.last_used_step.is_(None), TotpFactor.last_used_step < step),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return accepted.rowcount == 1


def confirm(user: User, code: str) -> bool:
    """Switch the pending enrolment on with a first code from the app. False when the code is not
    right (or there is nothing to confirm)."""
    row = db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == user.id, TotpFactor.confirmed_at.is_(None)))
    return row is not None and _accept(row, code, confirming=True)


def verify(user_id: str, code: str) -> bool:
    """A code from the person's app, accepted once (a replay within its window is refused)."""
    row = confirmed_factor(user_id)
    return row is not None and _accept(row, code, confirming=False)


def remove(user_id: str) -> bool:
    """Delete the authenticator app (confirmed or not); True when there was a confirmed one."""
    had = confirmed_factor(user_id) is not None
    db.session.execute(delete(TotpFactor).where(TotpFactor.user_id == user_id))
    return had
