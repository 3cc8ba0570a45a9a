"""JSON shapes of the caller's sessions (``/api/v1/auth/sessions``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp


class SignInOut(Schema):
    id: str = Field(description="``ses_…`` for a browser session, ``tfm_…`` for an API log-in")
    kind: Literal["browser", "api"]
    device: str = Field(description='Read from the user agent: "Chrome 131 on Windows", "API client (python-httpx)"')
    ip_address: str | None = Field(description="The address it signed in from")
    created_at: Timestamp = Field(description="When it signed in")
    last_seen_at: Timestamp | None = Field(
        description="A browser's last request (to within a minute), an API log-in's last refresh"
    )
    current: bool = Field(description="Whether this is the credential of this very request")


class SignInList(Schema):
    sessions: list[SignInOut] = Field(description="Live browser sessions first, then live API log-ins")


class RevokeOthersOut(Schema):
    message: str
    ended_browser_sessions: int
    ended_api_logins: int
