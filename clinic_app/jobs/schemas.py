from __future__ import annotations

from typing import Any

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp


class DemoJobRequest(Schema):
    steps: int = Field(default=10, ge=1, le=50, description="How many steps the job takes")
    delay_seconds: float = Field(default=0.5, ge=0, le=5, description="Pause before each step")


class JobOut(Schema):
    id: str
    kind: str
    status: str
    progress: int = Field(description="0-100")
    current_step: str | None
    message: str | None
    error: str | None
    result: dict[str, Any] | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
