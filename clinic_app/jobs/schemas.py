from __future__ import annotations

from typing import Any

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp


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
