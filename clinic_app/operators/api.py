"""The monitoring and clean-up API: system health (seeds 001 and 003), seed 004's metrics, the
Prometheus scrape, and clean-up on demand (docs/operators.md, docs/retention.md).

Operators (signed in, or with an ``opt_…`` token) see the installation; a practice admin sees their
organization's jobs and syncs (``/api/v1/admin/monitoring/organization-health``); an owner cleans
up their organization (``/api/v1/admin/organization/cleanup``)."""

from __future__ import annotations

from typing import Any

from flask import Response

from clinic_app.core import audit, metrics
from clinic_app.core.access import operator_only, requires
from clinic_app.core.api import api_route, json_response
from clinic_app.core.errors import NotFound
from clinic_app.core.identity import current_identity
from clinic_app.core.tenancy import current_organization_id
from clinic_app.core.time import isoformat, utcnow
from clinic_app.operators import activity, bp, retention
from clinic_app.operators.schemas import (
    CleanupQuery,
    CleanupResult,
    RetentionSettingsIn,
    RetentionSettingsOut,
    UserMetrics,
)
from clinic_app.operators.system_health import Scope, system_health
from clinic_app.orgs import service as orgs

TAGS = ("operations",)


def _actor() -> audit.Actor:
    identity = current_identity()
    return identity.actor if identity else audit.Actor()


def _json(figures: dict[str, Any]) -> Response:
    figures = dict(figures)
    figures["timestamp"] = isoformat(figures["timestamp"])
    if figures.get("scheduler"):
        figures["scheduler"] = {**figures["scheduler"], "last_tick_at": isoformat(figures["scheduler"]["last_tick_at"])}
    return json_response(figures)


@api_route(
    bp,
    "/api/v1/admin/monitoring/system-health",
    summary="The installation's health (operators)",
    description="Seeds 001 and 003 in one superset: database, Redis, workers and queue depths, the clock's last "
    "tick, syncs of the last 24 hours, the process's memory and disk, the schema's migration; counts only.",
    tags=TAGS,
)
@operator_only
def installation_health() -> Response:
    return _json(system_health(Scope(None)))


@api_route(
    bp,
    "/api/v1/admin/monitoring/organization-health",
    summary="The organization's jobs and syncs (practice admins)",
    description="The same fields as system-health for the caller's organization only; the installation's parts "
    "(Redis, workers, process, schema) are null.",
    tags=TAGS,
)
@requires("admin:health")
def organization_health() -> Response:
    return _json(system_health(Scope(current_organization_id())))


def _cleanup(organization_id: str | None, query: CleanupQuery) -> CleanupResult:
    run = retention.run_cleanup(
        organization_id=organization_id, days_old=query.days_old, dry_run=query.dry_run, actor=_actor()
    )
    return CleanupResult(
        success=True,
        dry_run=run.dry_run,
        days_cleaned=run.days_old,
        cleanup_results=retention.describe(run),
        counts=run.counts,
        run_id=run.id,
        organization_id=organization_id,
        completed_at=run.finished_at or utcnow(),
    )


@api_route(
    bp,
    "/api/v1/admin/database/cleanup",
    methods=("POST",),
    query=CleanupQuery,
    response=CleanupResult,
    summary="Clean up the installation's old data (operators)",
    description="A dry run by default (counts per kind); `dry_run=false` removes. Audit events, reports and "
    "invoices are never touched (docs/retention.md).",
    tags=TAGS,
)
@operator_only
def installation_cleanup(query: CleanupQuery) -> CleanupResult:
    return _cleanup(None, query)


@api_route(
    bp,
    "/api/v1/admin/organization/cleanup",
    methods=("POST",),
    query=CleanupQuery,
    response=CleanupResult,
    summary="Clean up the organization's old data (owners)",
    tags=TAGS,
)
@requires("organization:retention")
def organization_cleanup(query: CleanupQuery) -> CleanupResult:
    return _cleanup(current_organization_id(), query)


def _settings(organization_id: str) -> RetentionSettingsOut:
    bounds = {k.name: {"min": k.min_days, "max": k.max_days} for k in retention.KINDS if k.per_organization}
    return RetentionSettingsOut(
        organization_id=organization_id, days=retention.organization_days(organization_id), bounds=bounds
    )


@api_route(
    bp,
    "/api/v1/admin/organization/retention",
    response=RetentionSettingsOut,
    summary="The organization's retention periods",
    tags=TAGS,
)
@requires("organization:retention")
def retention_settings() -> RetentionSettingsOut:
    return _settings(current_organization_id())


@api_route(
    bp,
    "/api/v1/admin/organization/retention",
    methods=("PUT",),
    body=RetentionSettingsIn,
    response=RetentionSettingsOut,
    summary="Change the organization's retention periods (within each kind's bounds)",
    tags=TAGS,
)
@requires("organization:retention")
def change_retention_settings(body: RetentionSettingsIn) -> RetentionSettingsOut:
    retention.set_organization_days(current_organization_id(), body.days, actor=_actor())
    return _settings(current_organization_id())


@api_route(bp, "/api/v1/metrics/health", summary="Service health metrics (operators)", tags=TAGS)
@operator_only
def metrics_health() -> Response:
    figures = system_health(Scope(None))
    return json_response(
        {
            "status": figures["health_status"]["status"],
            "database": figures["database"],
            "redis": figures["redis"],
            "scheduler": {**figures["scheduler"], "last_tick_at": isoformat(figures["scheduler"]["last_tick_at"])},
            "migrations": figures["migrations"],
            "timestamp": isoformat(figures["timestamp"]),
        }
    )


@api_route(bp, "/api/v1/metrics/system", summary="System performance metrics (operators)", tags=TAGS)
@operator_only
def metrics_system() -> Response:
    figures = system_health(Scope(None))
    return json_response(
        {
            "process": figures["process"],
            "jobs": figures["jobs"],
            "sync_activity_24h": figures["sync_activity_24h"],
            "totals": figures["metrics"],
            "timestamp": isoformat(figures["timestamp"]),
        }
    )


@api_route(
    bp,
    "/api/v1/metrics/user/<user_id>",
    response=UserMetrics,
    summary="A member's own activity counts (the member, or their organization's admins)",
    tags=TAGS,
)
@requires("organization:member")
def metrics_user(user_id: str) -> UserMetrics:
    identity = current_identity()
    organization_id = current_organization_id()
    assert identity is not None
    itself = identity.user is not None and identity.user.id == user_id
    if not (itself or identity.can("admin:staff")) or orgs.active_membership(user_id, organization_id) is None:
        raise NotFound("The requested resource was not found.")
    return UserMetrics.model_validate(activity.member_activity(user_id, organization_id))


@bp.get("/metrics")
@operator_only
def prometheus_metrics() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)
