"""Retention runs (what a clean-up counted or removed, when, for whom) and each organization's
retention settings (docs/retention.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core.db import Model, PublicIdMixin
from clinic_app.core.time import utcnow

NIGHTLY, ON_DEMAND = "nightly", "on_demand"


class RetentionRun(PublicIdMixin, Model):
    """One clean-up: a dry run (counted only) or an applied one (removed), of the installation
    (``organization_id`` None) or of one organization. ``counts`` holds rows per data kind."""

    __tablename__ = "retention_runs"
    id_prefix = "ret"

    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(16))
    dry_run: Mapped[bool] = mapped_column(default=False)
    days_old: Mapped[int | None] = mapped_column(Integer)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    requested_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # "2026-12-07" for the nightly run of that day (UTC): unique, so two processes ticking at the
    # same moment cannot both run it (the second one's insert fails and it does nothing).
    nightly_day: Mapped[str | None] = mapped_column(String(10), unique=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]


class RetentionSetting(PublicIdMixin, Model):
    """An organization's retention periods in days, per data kind, within the bounds of
    ``operators.retention.KINDS`` (a kind not set here keeps its default)."""

    __tablename__ = "retention_settings"
    id_prefix = "rts"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), unique=True, index=True
    )
    days: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
