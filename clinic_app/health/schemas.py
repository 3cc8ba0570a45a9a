from __future__ import annotations

from clinic_app.core.api import Schema, Timestamp


class HealthEnvironment(Schema):
    APP_ENV: str
    PORT: str
    authentication_configured: bool
    database_configured: bool
    encryption_configured: bool


class HealthResponse(Schema):
    status: str
    timestamp: Timestamp
    version: str
    environment: HealthEnvironment


class DatabaseHealth(Schema):
    status: str
    connected: bool
    dialect: str
    latency_ms: float | None = None
    error: str | None = None
    timestamp: Timestamp


class MigrationHealth(Schema):
    status: str
    up_to_date: bool
    current_revision: str | None
    head_revision: str | None
    timestamp: Timestamp


class ComponentHealth(Schema):
    status: str
    configured: bool
    detail: str | None = None


class ReadinessResponse(Schema):
    status: str
    version: str
    timestamp: Timestamp
    database: ComponentHealth
    migrations: ComponentHealth
    redis: ComponentHealth
    workers: ComponentHealth
    jobs_backend: str
