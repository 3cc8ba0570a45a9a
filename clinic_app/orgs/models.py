from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin


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


class Membership(PublicIdMixin, TimestampMixin, Model):
    """A user's role in one organization."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)
    id_prefix = "mem"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(default=True)
