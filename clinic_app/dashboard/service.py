"""The organization's dashboard figures, kept as a snapshot so a request never recounts them.

``figures_for(organization_id)`` is what every page and endpoint reads. It answers from the stored
snapshot while it is current, else counts again (``figures.py``, from the patients' stored figures
as they are) and stores the result:

* ``invalidate(organization_id)`` bumps the snapshot's version. It runs on
  ``figures.signals.figures_changed``, which every recompute of the patients' figures sends (after a
  booking, a sync, a patient change, or when time made them stale) in the transaction that made
  the change, so the change and the invalidation commit or roll back together;
* time alone makes a snapshot stale at its ``valid_until``: the next minute boundary, or earlier
  when a patient's statistics expire first.

Two requests that find it stale at once do not both count on PostgreSQL: the first takes the
organization's recount lock (an advisory lock held to the end of its transaction) and counts; the
others answer meanwhile with the figures there are, whose "as of" time says how old they are
(only when there are none yet does a request wait for its turn). Elsewhere (SQLite, one process)
both count. Either way each stores what it counted with the version it read before counting, and a
count from an older version never replaces a newer one. Everything stored and returned is JSON-safe (times are ISO
strings, UTC, with a ``Z``) and holds no PHI. Functions only flush; the request commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from clinic_app.core.time import isoformat, utcnow, zone_named
from clinic_app.dashboard import activity, figures
from clinic_app.dashboard.models import DashboardSnapshot
from clinic_app.extensions import db
from clinic_app.figures.signals import figures_changed
from clinic_app.orgs import service as orgs

SNAPSHOT = DashboardSnapshot.__table__
DEFAULT_ACTIVITY = 10  # items in GET /api/v1/dashboard/{organization_id}


def invalidate(organization_id: str) -> None:
    """Mark the organization's figures as changed: the next read counts them again. Joins the
    caller's transaction (a rolled-back change leaves the snapshot as it was)."""
    db.session.execute(
        update(DashboardSnapshot)
        .where(DashboardSnapshot.organization_id == organization_id)
        .values(version=DashboardSnapshot.version + 1)
        .execution_options(synchronize_session=False)
    )


def _figures_changed(_sender: Any, *, organization_id: str, **_: Any) -> None:
    invalidate(organization_id)


figures_changed.connect(_figures_changed)


def _next_minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


def compute(organization_id: str, now: datetime) -> tuple[dict[str, Any], datetime]:
    """Count every figure at ``now``: (payload, the moment time alone makes it stale)."""
    organization = orgs.get_organization(organization_id)
    tz = zone_named(organization.time_zone)
    patients = figures.patient_figures(organization_id, now)
    sync = figures.sync_figures(organization_id)
    valid_until = _next_minute(now)
    if patients["stats_valid_until"] is not None and patients["stats_valid_until"] > now:
        valid_until = min(valid_until, patients["stats_valid_until"])
    payload = {
        "organization_id": organization_id,
        "time_zone": organization.time_zone,
        "computed_at": isoformat(now),
        "valid_until": isoformat(valid_until),
        "summary": figures.summary(organization_id, patients, sync, now),
        "upcoming": figures.upcoming_week(organization_id, now),
        "attendance": figures.attendance(patients, now, tz),
        "weeks": figures.weekly(organization_id, now, tz),
        "appointment_types": figures.by_type(organization_id, now, tz),
        "sync": {
            "connected": sync["connected"],
            "last_sync_time": isoformat(sync["last_sync_time"]),
            "last_run_status": sync["last_run_status"],
            "running_sync_id": sync["running_sync_id"],
            "waiting_patients": sync["waiting_patients"],
        },
        "activity": activity.recent(organization_id, now),
    }
    return payload, valid_until


def _upsert_dialect() -> Any:
    return postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite


def _store(organization_id: str, version: int, payload: dict[str, Any], now: datetime, valid_until: datetime) -> None:
    dialect = _upsert_dialect()
    db.session.execute(
        dialect.insert(SNAPSHOT)
        .values(organization_id=organization_id, version=0, computed_version=-1, payload={})
        .on_conflict_do_nothing(index_elements=["organization_id"])
    )
    db.session.execute(
        update(SNAPSHOT)
        .where(
            SNAPSHOT.c.organization_id == organization_id,
            # Never replace a count made from a newer version with this older one.
            SNAPSHOT.c.computed_version <= version,
        )
        .values(computed_version=version, payload=payload, computed_at=now, valid_until=valid_until)
    )


def _may_recount(organization_id: str, *, wait: bool) -> bool:
    """PostgreSQL: take the organization's recount lock for this transaction (False when another
    transaction holds it and ``wait`` is False). Other databases: always True."""
    if db.session.get_bind().dialect.name != "postgresql":
        return True
    key = func.hashtext("dashboard.recount:" + organization_id)
    if wait:
        db.session.execute(select(func.pg_advisory_xact_lock(key)))
        return True
    return bool(db.session.scalar(select(func.pg_try_advisory_xact_lock(key))))


def figures_for(organization_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The organization's dashboard payload as of ``now`` (see the module docstring)."""
    now = now or utcnow()
    row = db.session.execute(
        select(
            SNAPSHOT.c.version,
            SNAPSHOT.c.computed_version,
            SNAPSHOT.c.payload,
            SNAPSHOT.c.computed_at,
            SNAPSHOT.c.valid_until,
        ).where(SNAPSHOT.c.organization_id == organization_id)
    ).first()
    if (
        row is not None
        and row.computed_version == row.version
        and row.computed_at is not None
        and row.computed_at <= now
        and row.valid_until is not None
        and now < row.valid_until
    ):
        return row.payload
    if row is not None and row.payload.get("summary") and not _may_recount(organization_id, wait=False):
        return row.payload  # another request is counting right now
    if row is None:
        _may_recount(organization_id, wait=True)
    version = row.version if row is not None else 0
    payload, valid_until = compute(organization_id, now)
    _store(organization_id, version, payload, now, valid_until)
    return payload


# --- what the endpoints and pages read --------------------------------------------------------


def activity_items(payload: dict[str, Any], limit: int, now: datetime) -> list[dict[str, Any]]:
    """The payload's latest ``limit`` (1..100) activity items, newest first, with ``minutes_ago``
    at ``now`` (computed per request: the stored items keep only their times)."""
    items = payload["activity"][: max(1, min(limit, activity.KEPT))]
    return [{**item, "minutes_ago": activity.minutes_ago(item, now)} for item in items]
