"""What an operator (the whole installation) or a practice admin (their organization only) is told
about the app's health: the database, Redis and the workers, queue depths, the clock's last tick,
syncs of the last 24 hours, the process's memory and disk, the schema's migration, and counts
(never a patient's name). One superset of seeds 001 and 003 (docs/operators.md)."""

from __future__ import annotations

import os
import resource
import shutil
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from clinic_app.core import periodic
from clinic_app.core.jobs import FAILED, QUEUED, QUEUES, RUNNING, STALE_AFTER, Job, redis_connection
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.health import service as health
from clinic_app.orgs.models import Organization
from clinic_app.patients.models import Patient
from clinic_app.sync.models import ACTIVE_STATUSES, COMPLETED, ClinikoConnection, SyncRun
from clinic_app.sync.models import FAILED as SYNC_FAILED

DAY = timedelta(hours=24)


@dataclass
class Scope:
    """None for the installation, else one organization's id."""

    organization_id: str | None

    def where(self, column: Any) -> list[Any]:
        return [] if self.organization_id is None else [column == self.organization_id]


def _count(model: Any, *conditions: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


def sync_activity(scope: Scope) -> dict[str, Any]:
    now = utcnow()
    since = now - DAY
    in_day = [SyncRun.created_at >= since, *scope.where(SyncRun.organization_id)]
    total = _count(SyncRun, *in_day)
    successful = _count(SyncRun, *in_day, SyncRun.status == COMPLETED)
    failed = _count(SyncRun, *in_day, SyncRun.status == SYNC_FAILED)
    active_where = [SyncRun.status.in_(ACTIVE_STATUSES), *scope.where(SyncRun.organization_id)]
    stale = _count(SyncRun, *active_where, SyncRun.heartbeat_at < now - STALE_AFTER)
    finished = successful + failed
    return {
        "total_syncs": total,
        "successful_syncs": successful,
        "failed_syncs": failed,
        "success_rate": round(100 * successful / finished, 1) if finished else 100,
        "active_syncs": _count(SyncRun, *active_where),
        "stale_syncs": stale,
    }


def job_figures(scope: Scope) -> dict[str, Any]:
    since = utcnow() - DAY
    own = scope.where(Job.organization_id)
    depths = {
        queue: _count(Job, Job.queue == queue, Job.status == QUEUED, *own) for queue in QUEUES
    }  # rows waiting, as the database sees them
    rq_depths: dict[str, int] | None = None
    if scope.organization_id is None and current_app.config["JOBS_BACKEND"] == "rq":
        rq_depths = _rq_depths()
    return {
        "backend": current_app.config["JOBS_BACKEND"],
        "workers": health.count_workers() if scope.organization_id is None else None,
        "queued": depths,
        "rq_queue_lengths": rq_depths,
        "running": _count(Job, Job.status == RUNNING, *own),
        "failed_24h": _count(Job, Job.status == FAILED, Job.finished_at >= since, *own),
    }


def _rq_depths() -> dict[str, int] | None:
    from redis.exceptions import RedisError
    from rq import Queue

    try:
        connection = redis_connection()
        return {name: Queue(name, connection=connection).count for name in QUEUES}
    except RedisError:
        return None


def process_figures() -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    disk = shutil.disk_usage(current_app.instance_path if os.path.isdir(current_app.instance_path) else "/")
    return {
        "pid": os.getpid(),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports kilobytes
        "disk_total_gb": round(disk.total / 1e9, 2),
        "disk_free_gb": round(disk.free / 1e9, 2),
        "disk_used_percent": round(100 * disk.used / disk.total, 1) if disk.total else None,
    }


def system_health(scope: Scope) -> dict[str, Any]:
    """The figures above for ``scope``; installation-wide parts (Redis, workers, process, schema)
    only for the installation."""
    database = health.check_database()
    installation = scope.organization_id is None
    migrations = health.check_migrations() if database.connected and installation else None
    redis_configured, redis_ok, redis_detail = health.check_redis() if installation else (False, False, None)
    clock = periodic.status(current_app._get_current_object()) if installation else None  # type: ignore[attr-defined]
    syncs = sync_activity(scope)
    jobs = job_figures(scope)
    patients = scope.where(Patient.organization_id)
    connections = _count(ClinikoConnection, *scope.where(ClinikoConnection.organization_id))
    problems = []
    if not database.connected:
        problems.append("database")
    if installation and migrations is not None and not migrations.up_to_date:
        problems.append("migrations")
    if redis_configured and not redis_ok:
        problems.append("redis")
    if syncs["stale_syncs"]:
        problems.append("stale_syncs")
    status = "healthy" if not problems else ("unhealthy" if "database" in problems else "degraded")
    return {
        "database": {"status": "healthy" if database.connected else "unhealthy", "connected": database.connected}
        | ({"dialect": database.dialect, "latency_ms": database.latency_ms} if installation else {}),
        "metrics": {
            "total_organizations": _count(Organization) if installation else 1,
            "total_patients": _count(Patient, *patients),
            "active_patients": _count(Patient, *patients, Patient.archived.is_(False)),
            "configured_services": {"cliniko": connections},
        },
        "overall_metrics": {
            "total_organizations": _count(Organization) if installation else 1,
            "total_contacts": _count(Patient, *patients),
            "total_active_patients": _count(Patient, *patients, Patient.archived.is_(False)),
        },
        "integrations": {
            "cliniko": {
                "status": "operational" if not syncs["stale_syncs"] else "degraded",
                "total_connections": connections,
                "healthy_connections": connections,
            }
        },
        "sync_activity_24h": syncs,
        "jobs": jobs,
        "redis": (
            {"configured": redis_configured, "status": "healthy" if redis_ok else "unhealthy", "detail": redis_detail}
            if installation
            else None
        ),
        "scheduler": (
            {"active": clock["active"], "backend": clock["backend"], "last_tick_at": clock["last_tick_at"]}
            if clock
            else None
        ),
        "process": process_figures() if installation else None,
        "migrations": (
            {"up_to_date": migrations.up_to_date, "current": migrations.current, "head": migrations.head}
            if migrations
            else None
        ),
        "health_status": {"status": status, "all_systems_operational": not problems, "problems": problems},
        "organization_id": scope.organization_id,
        "timestamp": utcnow(),
    }
