"""Credentials: browser sessions, API refresh-token families, organization API tokens, one-time
password links, and failed log-ins (for throttling). Secrets are stored only as SHA-256 hashes:
every secret is 256 random bits, so a fast hash is enough and a database leak reveals nothing usable.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core.db import Model, PublicIdMixin
from clinic_app.core.time import utcnow


class UserSession(PublicIdMixin, Model):
    """A signed-in browser. The cookie holds a random secret; this row decides whether it still works."""

    __tablename__ = "user_sessions"
    id_prefix = "ses"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class TokenFamily(PublicIdMixin, Model):
    """One API log-in: its access tokens and the chain of refresh tokens rotated from it."""

    __tablename__ = "token_families"
    id_prefix = "tfm"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The organization the log-in acts for: the one named at log-in, or the person's only one.
    # None for a person who belonged to several and named none: each request names its own.
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(40))
    # Where the log-in came from and when it was last refreshed, for the person's sessions page.
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    last_used_at: Mapped[datetime | None]


class RefreshToken(PublicIdMixin, Model):
    __tablename__ = "refresh_tokens"
    id_prefix = "rft"

    family_id: Mapped[str] = mapped_column(ForeignKey("token_families.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ApiToken(PublicIdMixin, Model):
    """An integration's credential, scoped to one organization and a set of permissions."""

    __tablename__ = "api_tokens"
    id_prefix = "tok"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, so people can tell tokens apart without seeing them.
    display_prefix: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # Why it stopped working: "revoked" by an admin, or "creator_removed" / "creator_role_changed"
    # when the person whose authority it carried left the organization or lost what it grants.
    revoked_reason: Mapped[str | None] = mapped_column(String(40))


class PasswordLink(PublicIdMixin, Model):
    """A one-time link to set a password (new staff) or reset one; a reset also has a 6-digit code.

    The code is stored as an HMAC keyed with the app's secret and bound to the row's id: with a
    million possible codes a plain hash would fall to anyone holding a copy of the table.
    ``code_attempts`` counts the codes tried against this row; at ``MAX_CODE_ATTEMPTS``
    (``auth.password_links``) the whole reset is burned, its link included.
    """

    __tablename__ = "password_links"
    id_prefix = "pwl"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20), default="set_password")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class LoginFailure(PublicIdMixin, Model):
    """A failed log-in, counted per account and per address to throttle guessing."""

    __tablename__ = "login_failures"
    id_prefix = "lgf"

    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    ip_address: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class KnownDevice(PublicIdMixin, Model):
    """A device (browser and system, read from the user agent) a person has signed in from: a
    sign-in from one not on their list mails them. One row per person and device, inserted once
    (a unique key), so two racing sign-ins from a new device send one mail."""

    __tablename__ = "known_devices"
    __table_args__ = (UniqueConstraint("user_id", "device_hash"),)
    id_prefix = "dev"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    device_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(120))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
