"""Figures read from the database: a member's own activity (seed 004's ``/metrics/user``), and the
jobs waiting or running by kind, which every scrape of ``/metrics`` reads (``jobs_collector``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from clinic_app.core.audit import AuditEvent
from clinic_app.core.jobs import QUEUED, RUNNING, Job
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

PERIOD_DAYS = 30


def member_activity(user_id: str, organization_id: str) -> dict[str, Any]:
    """What ``user_id`` did in ``organization_id`` over the last 30 days, counted by area (the
    first part of each audit action: ``patients``, ``reports`` ...): counts only, no record."""
    since = utcnow() - timedelta(days=PERIOD_DAYS)
    mine = (
        AuditEvent.actor_user_id == user_id,
        AuditEvent.organization_id == organization_id,
        AuditEvent.created_at >= since,
    )
    rows = db.session.execute(select(AuditEvent.action, func.count()).where(*mine).group_by(AuditEvent.action)).all()
    by_area: dict[str, int] = {}
    for action, count in rows:
        area = action.split(".", 1)[0]
        by_area[area] = by_area.get(area, 0) + count
    last = db.session.scalar(select(func.max(AuditEvent.created_at)).where(*mine))
    return {
        "user_id": user_id,
        "organization_id": organization_id,
        "period_days": PERIOD_DAYS,
        "total_actions": sum(by_area.values()),
        "by_area": dict(sorted(by_area.items())),
        "sign_ins": sum(count for action, count in rows if action == "auth.login"),
        "last_active_at": last,
        "timestamp": utcnow(),
    }


def jobs_collector() -> Iterable[Metric]:
    """``clinic_jobs{kind, status}``: jobs queued or running now, from the jobs table."""
    gauge = GaugeMetricFamily("clinic_jobs", "Background jobs queued or running now", labels=("kind", "status"))
    rows = db.session.execute(
        select(Job.kind, Job.status, func.count())
        .where(Job.status.in_((QUEUED, RUNNING)))
        .group_by(Job.kind, Job.status)
    ).all()
    for kind, status, count in rows:
        gauge.add_metric((kind, status), count)
    yield gauge
