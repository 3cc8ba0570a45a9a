"""Second factors of a person's account: an authenticator app (TOTP), single-use recovery codes,
passkeys (WebAuthn credentials), and the short-lived challenges a sign-in or an enrolment waits on.

Factors belong to the person (an account), not to an organization: they guard the sign-in, which
comes before any organization is chosen. Secrets are stored sealed (the TOTP key, under the master
key: ``core.sealed``) or hashed (recovery codes and challenge secrets).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core.db import Model, PublicIdMixin
from clinic_app.core.time import utcnow


class TotpFactor(PublicIdMixin, Model):
    """An authenticator app (RFC 6238: SHA-1, 6 digits, 30 seconds). One per person; until
    ``confirmed_at`` it is an enrolment waiting for its first code and guards nothing."""

    __tablename__ = "totp_factors"
    id_prefix = "otp"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    # The time step of the last code accepted: a code is refused unless its step is later, so a
    # code seen over someone's shoulder cannot be used again within its window.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(PublicIdMixin, Model):
    """One of the ten single-use codes shown once at enrolment, stored as a keyed hash."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)
    id_prefix = "rcv"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class Passkey(PublicIdMixin, Model):
    """A WebAuthn credential: a second factor after the password, or a sign-in on its own."""

    __tablename__ = "passkeys"
    id_prefix = "pky"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # base64url of the credential id the authenticator chose (at most 1,023 bytes).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    name: Mapped[str] = mapped_column(String(100))
    aaguid: Mapped[str | None] = mapped_column(String(36))
    backed_up: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class MfaChallenge(PublicIdMixin, Model):
    """Something a person must answer within minutes, once: a sign-in whose password was right and
    that waits for a second factor (``sign_in``), or a WebAuthn ceremony's challenge
    (``passkey_register``, ``passkey_sign_in``). The secret that names it (the API's
    ``mfa_token``, or the browser session's) is stored hashed; using it is one
    ``UPDATE … WHERE used_at IS NULL``."""

    __tablename__ = "mfa_challenges"
    id_prefix = "mfc"

    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The organization an API log-in asked for, kept for the tokens issued after the second factor.
    organization_id: Mapped[str | None] = mapped_column(String(40))
    # A WebAuthn ceremony's random challenge (base64url), checked against the authenticator's answer.
    webauthn_challenge: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
