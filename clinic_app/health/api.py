"""Health endpoints. Anyone may ask whether the app is up; in production only an owner or practice
admin (signed in, or an API token with ``admin:health``) is told the version, the environment, the
database dialect and latency, the migration revisions and the state of Redis and the workers.
Everyone else gets the same documented fields with those details null: the status code and
``status`` still say healthy or not, which is all a load balancer needs."""

from __future__ import annotations

from flask import current_app, request

from clinic_app.core.access import public
from clinic_app.core.api import api_route
from clinic_app.core.identity import current_identity
from clinic_app.core.permissions import role_grants
from clinic_app.core.time import utcnow
from clinic_app.health import bp, service
from clinic_app.health.schemas import (
    ComponentHealth,
    DatabaseHealth,
    HealthEnvironment,
    HealthResponse,
    MigrationHealth,
    ReadinessResponse,
)

DETAILS_PERMISSION = "admin:health"


def _details_allowed() -> bool:
    """Outside production, always; in production, for an API token with ``admin:health`` or a
    signed-in person whose role grants it in the organization they act in (the session's current
    one, or ``X-Organization-ID``; any of theirs when neither is given)."""
    if not current_app.config.get("PRODUCTION"):
        return True
    identity = current_identity()
    if identity is None:
        return False
    if identity.api_token is not None:
        return identity.can(DETAILS_PERMISSION)
    chosen = request.headers.get("X-Organization-ID", "").strip() or identity.organization_id
    return any(
        role_grants(m.role, DETAILS_PERMISSION)
        for m in identity.memberships
        if chosen is None or m.organization_id == chosen
    )


@api_route(
    bp, "/health", summary="Liveness check (cheap; no dependencies touched)", response=HealthResponse, tags=("health",)
)
@public
def health() -> HealthResponse:
    config = current_app.config
    if not _details_allowed():
        return HealthResponse(status="healthy", timestamp=utcnow(), version=None, environment=None)
    return HealthResponse(
        status="healthy",
        timestamp=utcnow(),
        version=config["VERSION"],
        environment=HealthEnvironment(
            APP_ENV=config["APP_ENV"],
            PORT=str(config["PORT"]),
            authentication_configured=bool(config.get("SECRET_KEY")),
            database_configured=bool(config.get("SQLALCHEMY_DATABASE_URI")),
            encryption_configured=bool(config.get("FIELD_ENCRYPTION_KEYS")),
        ),
    )


@api_route(
    bp,
    "/api/v1/health/",
    summary="Readiness: database, migrations, Redis and workers",
    response=ReadinessResponse,
    tags=("health",),
    extra_statuses={503: "A required dependency is down"},
)
@public
def readiness() -> ReadinessResponse:
    database = service.check_database()
    migrations = service.check_migrations() if database.connected else None
    redis_configured, redis_ok, redis_detail = service.check_redis()
    workers = service.count_workers()
    jobs_backend = current_app.config["JOBS_BACKEND"]

    healthy = database.connected and migrations is not None and migrations.up_to_date
    if jobs_backend == "rq":
        healthy = healthy and redis_ok
    answer = ReadinessResponse(
        status="healthy" if healthy else "unhealthy",
        version=current_app.config["VERSION"],
        timestamp=utcnow(),
        database=ComponentHealth(
            status="healthy" if database.connected else "unhealthy", configured=True, detail=database.error
        ),
        migrations=ComponentHealth(
            status="healthy" if migrations and migrations.up_to_date else "unhealthy",
            configured=True,
            detail=None if migrations and migrations.up_to_date else "schema is not at the latest migration",
        ),
        redis=ComponentHealth(
            status=("healthy" if redis_ok else "unhealthy") if redis_configured else "not_configured",
            configured=redis_configured,
            detail=redis_detail,
        ),
        workers=ComponentHealth(
            status="in_process" if jobs_backend != "rq" else ("healthy" if workers else "no_workers"),
            configured=jobs_backend == "rq",
            detail=f"{workers} RQ worker(s) registered" if workers is not None else None,
        ),
        jobs_backend=jobs_backend,
    )
    if not _details_allowed():
        answer = ReadinessResponse(
            status=answer.status,
            version=None,
            timestamp=answer.timestamp,
            database=None,
            migrations=None,
            redis=None,
            workers=None,
            jobs_backend=None,
        )
    response = current_app.json.response(answer.model_dump(mode="json"))
    response.status_code = 200 if healthy else 503
    return response


@api_route(
    bp,
    "/api/v1/health/db",
    summary="Database connectivity",
    response=DatabaseHealth,
    tags=("health",),
    extra_statuses={503: "The database cannot be reached"},
)
@public
def database_health() -> DatabaseHealth:
    status = service.check_database()
    details = _details_allowed()
    answer = DatabaseHealth(
        status="healthy" if status.connected else "unhealthy",
        connected=status.connected,
        dialect=status.dialect if details else None,
        latency_ms=status.latency_ms if details else None,
        error=status.error if details else None,
        timestamp=utcnow(),
    )
    response = current_app.json.response(answer.model_dump(mode="json"))
    response.status_code = 200 if status.connected else 503
    return response


@api_route(
    bp,
    "/api/v1/health/migration",
    summary="Whether the schema is at the latest migration",
    response=MigrationHealth,
    tags=("health",),
    extra_statuses={503: "Migrations are pending or the database is down"},
)
@public
def migration_health() -> MigrationHealth:
    status = service.check_migrations()
    details = _details_allowed()
    answer = MigrationHealth(
        status="up_to_date" if status.up_to_date else ("unknown" if status.error else "pending"),
        up_to_date=status.up_to_date,
        current_revision=status.current if details else None,
        head_revision=status.head if details else None,
        timestamp=utcnow(),
    )
    response = current_app.json.response(answer.model_dump(mode="json"))
    response.status_code = 200 if status.up_to_date else 503
    return response
