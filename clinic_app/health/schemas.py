from __future__ import annotations

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp

DETAIL = (
    "In production, null unless the caller is signed in as an owner or practice admin (or uses an API token "
    "with `admin:health`); always present outside production"
)


class HealthEnvironment(Schema):
    APP_ENV: str
    PORT: str
    authentication_configured: bool
    database_configured: bool
    encryption_configured: bool


class HealthResponse(Schema):
    status: str
    timestamp: Timestamp
    version: str | None = Field(description=DETAIL)
    environment: HealthEnvironment | None = Field(description=DETAIL)


class DatabaseHealth(Schema):
    status: str
    connected: bool
    dialect: str | None = Field(description=DETAIL)
    latency_ms: float | None = Field(default=None, description=DETAIL)
    error: str | None = Field(default=None, description=DETAIL)
    timestamp: Timestamp


class MigrationHealth(Schema):
    status: str
    up_to_date: bool
    current_revision: str | None = Field(description=DETAIL)
    head_revision: str | None = Field(description=DETAIL)
    timestamp: Timestamp


class ComponentHealth(Schema):
    status: str
    configured: bool
    detail: str | None = None


class ReadinessResponse(Schema):
    status: str
    version: str | None = Field(description=DETAIL)
    timestamp: Timestamp
    database: ComponentHealth | None = Field(description=DETAIL)
    migrations: ComponentHealth | None = Field(description=DETAIL)
    redis: ComponentHealth | None = Field(description=DETAIL)
    workers: ComponentHealth | None = Field(description=DETAIL)
    jobs_backend: str | None = Field(description=DETAIL)
