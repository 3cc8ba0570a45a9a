from __future__ import annotations

from clinic_app.core.api import Schema, Timestamp


class RootInfo(Schema):
    message: str
    version: str
    status: str
    timestamp: Timestamp
    docs: str
    redoc: str
