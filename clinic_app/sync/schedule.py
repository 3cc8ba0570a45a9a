"""Scheduled syncs: the organization's schedule, what is due at a moment (an incremental every
interval, a comprehensive nightly at 02:00 in the organization's time zone, nothing while one runs
or within 10 minutes of the last), and which mode a trigger without one runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import exists, select

from clinic_app.core import audit
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.time import local_date, utcnow, zone_named
from clinic_app.extensions import db
from clinic_app.orgs.models import Organization
from clinic_app.sync.connection import get_connection, require_connection
from clinic_app.sync.models import COMPREHENSIVE, INCREMENTAL, ClinikoConnection, SyncRun

NIGHTLY_AT = time(2, 0)
NIGHTLY_WINDOW = timedelta(hours=6)  # a missed 02:00 run still happens until 08:00, never at noon
QUIET_AFTER_RUN = timedelta(minutes=10)
INTERVAL_RANGE = (15, 24 * 60)


def configure_schedule(
    organization_id: str, *, enabled: bool, interval_minutes: int, actor: audit.Actor
) -> ClinikoConnection:
    """Turn scheduled syncs on or off and set how often the incremental runs (15 to 1440 minutes)."""
    connection = require_connection(organization_id)
    low, high = INTERVAL_RANGE
    if not isinstance(interval_minutes, int) or not low <= interval_minutes <= high:
        raise Invalid(errors=[FieldError("sync_interval_minutes", f"Choose from {low} to {high} minutes.")])
    connection.scheduled_sync_enabled, connection.sync_interval_minutes = bool(enabled), interval_minutes
    db.session.flush()
    audit.record(
        "cliniko.schedule_changed",
        organization_id=organization_id,
        actor=actor,
        target_type="cliniko_connection",
        target_id=connection.id,
        details={"enabled": bool(enabled), "interval_minutes": interval_minutes},
    )
    return connection


def mode_for_trigger(organization_id: str) -> str:
    """The mode of a sync started without one: everything (comprehensive) the first time,
    afterwards the changes since the last successful sync (incremental)."""
    connection = get_connection(organization_id)
    return INCREMENTAL if connection is not None and connection.last_successful_sync_at else COMPREHENSIVE


def mode_for_scheduled_trigger(organization_id: str, now: datetime | None = None) -> str:
    """What the scheduler would start for the organization at ``now`` without waiting for its
    time: the nightly comprehensive if it is due, else as ``mode_for_trigger``."""
    return dict(due_for_scheduled_sync(now)).get(organization_id) or mode_for_trigger(organization_id)


def due_for_scheduled_sync(now: datetime | None = None) -> list[tuple[str, str]]:
    """(organization id, mode) for every scheduled sync due at ``now``: the nightly comprehensive
    (02:00 in the organization's time zone, until 08:00 if missed) or an incremental every
    ``sync_interval_minutes``. None while one runs or within 10 minutes of one finishing."""
    now = now or utcnow()
    due: list[tuple[str, str]] = []
    rows = db.session.execute(
        select(ClinikoConnection, Organization.time_zone)
        .join(Organization, Organization.id == ClinikoConnection.organization_id)
        .where(ClinikoConnection.scheduled_sync_enabled.is_(True), Organization.is_active.is_(True))
        .order_by(ClinikoConnection.organization_id)
    ).all()
    for connection, time_zone in rows:
        organization_id = connection.organization_id
        last = db.session.scalar(
            select(SyncRun).where(SyncRun.organization_id == organization_id).order_by(SyncRun.created_at.desc())
        )
        if last is not None and (not last.finished or (last.finished_at and now - last.finished_at < QUIET_AFTER_RUN)):
            continue
        if _nightly_due(organization_id, time_zone, now):
            due.append((organization_id, COMPREHENSIVE))
        elif last is None or now - last.created_at >= timedelta(minutes=connection.sync_interval_minutes):
            due.append((organization_id, INCREMENTAL))
    return due


def _nightly_due(organization_id: str, time_zone: str, now: datetime) -> bool:
    zone = zone_named(time_zone)
    # On a day whose 02:00 does not exist (clocks jump 02:00 -> 03:00) this is 03:00.
    start = datetime.combine(local_date(now, zone), NIGHTLY_AT, tzinfo=zone).astimezone(UTC)
    if not start <= now < start + NIGHTLY_WINDOW:
        return False
    ran = db.session.scalar(
        select(
            exists().where(
                SyncRun.organization_id == organization_id,
                SyncRun.mode == COMPREHENSIVE,
                SyncRun.created_at >= start,
            )
        )
    )
    return not ran
