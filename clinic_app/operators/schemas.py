"""JSON shapes of the monitoring and clean-up API (seeds 001, 003 and 004; docs/operators.md)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CleanupQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days_old: int | None = Field(None, ge=1, le=3650, description="Replace every period (never below a kind's minimum)")
    dry_run: bool = Field(True, description="Count only (the default); pass false to remove")


class CleanupResult(BaseModel):
    success: bool
    dry_run: bool
    days_cleaned: int | None
    cleanup_results: list[str]
    counts: dict[str, int]
    run_id: str
    organization_id: str | None
    completed_at: datetime


class RetentionSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: dict[str, int] = Field(..., max_length=20)


class RetentionSettingsOut(BaseModel):
    organization_id: str
    days: dict[str, int]
    bounds: dict[str, dict[str, int]]


class UserMetrics(BaseModel):
    user_id: str
    organization_id: str
    period_days: int
    total_actions: int
    by_area: dict[str, int]
    sign_ins: int
    last_active_at: datetime | None
    timestamp: datetime
