"""The sync scheduler: the app's clock (``core.periodic``) runs ``tick`` every minute, which marks
stalled runs failed and starts the scheduled syncs that are due.

``tick(now)`` is the whole decision and is the same everywhere (the rules are the schedule's
``due_for_scheduled_sync``: an incremental every interval, a comprehensive nightly at 02:00 in the
organization's time zone, nothing while one runs or within 10 minutes of the last). Where the
clock ticks (the embedded thread, the RQ chain; tests call ``tick`` with explicit times) is
core's. In the embedded default, before the clock's first tick, ``recover_orphaned_runs`` fails
the runs an earlier process left starting or running: in-process jobs die with their process.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select

from clinic_app.core import audit, periodic
from clinic_app.core.errors import DomainError
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.sync import lifecycle, schedule
from clinic_app.sync.models import ACTIVE_STATUSES, SyncRun

log = logging.getLogger("clinic_app.sync.scheduler")

SYSTEM = audit.Actor()  # scheduled syncs are started by no person
ORPHANED_DETAIL = (
    "The app was restarted while this sync was waiting or running, so it stopped. "
    "Resume it to continue from where it stopped."
)


def recover_orphaned_runs(before: datetime) -> int:
    """In-process jobs die with their process: a run that was starting or running before this
    process began will never move again (and would block every later sync of its organization).
    Mark those failed, so they can be resumed. Only for the embedded default; RQ workers keep their
    queue in Redis. Returns how many were marked."""
    orphans = db.session.scalars(
        select(SyncRun).where(SyncRun.status.in_(ACTIVE_STATUSES), lifecycle.last_sign_of_life() < before)
    ).all()
    for run in orphans:
        lifecycle.fail_with_job(run, ORPHANED_DETAIL)
    db.session.commit()
    return len(orphans)


@periodic.every_tick("sync.scheduled_syncs", on_embedded_start=recover_orphaned_runs)
def tick(now: datetime | None = None) -> dict[str, Any]:
    """One scheduler pass at ``now``: fail stale runs, then start each due sync, committing per
    organization. One organization's failure (not connected any more, queue down, a bug) is
    logged and the others still get theirs; this never raises. Returns what it did."""
    now = now or utcnow()
    summary: dict[str, Any] = {"stale_marked": 0, "started": [], "already_running": [], "errors": []}
    try:
        summary["stale_marked"] = lifecycle.fail_stale_runs(now)
        db.session.commit()
        due = schedule.due_for_scheduled_sync(now)
        db.session.rollback()  # end the read, so each start below sees fresh rows
    except Exception:
        db.session.rollback()
        log.exception("scheduler pass failed", extra={"event": "sync_scheduler_failed"})
        summary["errors"].append({"organization_id": None, "error": "the scheduler pass failed"})
        return summary
    for organization_id, mode in due:
        try:
            run, started = lifecycle.start_sync(organization_id, mode, actor=SYSTEM, trigger="scheduled")
            entry = {"organization_id": organization_id, "sync_id": run.id, "mode": run.mode}
            db.session.commit()  # the job is queued here
        except Exception as error:
            db.session.rollback()
            log.warning(
                "scheduled sync not started",
                extra={
                    "event": "sync_schedule_skipped",
                    "organization_id": organization_id,
                    "exception_type": type(error).__name__,
                },
                exc_info=not isinstance(error, DomainError),  # domain errors are expected; others are bugs
            )
            summary["errors"].append({"organization_id": organization_id, "error": type(error).__name__})
            continue
        summary["started" if started else "already_running"].append(entry)
    if summary["started"]:
        log.info("scheduled syncs started", extra={"event": "sync_scheduled", "count": len(summary["started"])})
    return summary
