from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin
from clinic_app.core.time import utcnow


class Organization(PublicIdMixin, TimestampMixin, Model):
    """A clinic: the tenant every patient, appointment and report belongs to."""

    __tablename__ = "organizations"
    id_prefix = "org"

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # ISO 3166 region used to read local phone numbers (e.g. "AU").
    region: Mapped[str] = mapped_column(String(2), default="AU")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)
    # How many times the organization's keys changed (core.crypto.keys_changed): processes keep a
    # vault while this stays the same.
    keys_version: Mapped[int] = mapped_column(default=0, server_default="0")


class Membership(PublicIdMixin, TimestampMixin, Model):
    """A user's role in one organization."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)
    id_prefix = "mem"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(default=True)


class Invitation(PublicIdMixin, Model):
    """An organization's invitation to one e-mail address, pending until the person accepts.

    It belongs to the inviting organization alone: its link (stored only as a hash) can be used
    once, within its lifetime, and nothing another organization does can replace, reveal or
    redeem it. Until it is accepted the organization knows only what it typed: the address, the
    name and the role. Accepted, declined, revoked and expired invitations are deleted; the audit
    trail keeps that they existed.
    """

    __tablename__ = "staff_invitations"
    __table_args__ = (UniqueConstraint("organization_id", "email"),)
    id_prefix = "inv"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
