"""The Cliniko sync job (``SYNC_KIND``): runs one sync run with the organization's client and
records how it ended on the run (the job runner records it on the job).

A cancel ends the run ``cancelled``; Cliniko's errors end it ``failed`` with their words (fit for
admins, no PHI, never the key); anything else ends it ``failed`` with a generic sentence and is
logged with where it broke, never the message (database errors quote the row's values).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from clinic_app.core.jobs import JobCancelled, JobContext, job_function
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.sync.cliniko import ClinikoError
from clinic_app.sync.connection import client_for
from clinic_app.sync.engine import SyncCancelled, SyncEngine
from clinic_app.sync.lifecycle import finish_run
from clinic_app.sync.models import SYNC_KIND, SyncRun

log = logging.getLogger("clinic_app.sync.engine")


class SyncFailed(Exception):
    """Raised to the job runner after the run was marked failed, so the job is marked failed too.
    The message is the run's ``error_detail``: fit for admins, no PHI, no key."""


@job_function(SYNC_KIND, queue="sync", timeout=6 * 3600, read_permission="sync:read", cancel_permission="sync:run")
def run_sync(ctx: JobContext, sync_run_id: str) -> dict[str, Any]:
    """Run (or, for a resumed run, continue) one sync. Safe to call twice: a finished run is left alone."""
    run = db.session.get(SyncRun, sync_run_id)
    if run is None or run.finished:
        return {"sync_id": sync_run_id, "skipped": True}
    if run.cancel_requested:
        finish_run(run, "cancelled")
        db.session.commit()
        raise JobCancelled("cancelled before it started")
    run.status, run.started_at, run.heartbeat_at = "running", utcnow(), utcnow()
    db.session.commit()
    try:
        with client_for(run.organization_id) as client:
            SyncEngine(ctx, run, client).run()
    except (JobCancelled, SyncCancelled):
        _end(sync_run_id, "cancelled")
        raise JobCancelled("cancelled on request") from None
    except ClinikoError as error:
        raise SyncFailed(_end(sync_run_id, "failed", str(error))) from None
    except Exception as error:
        log.error(
            "sync failed",
            extra={
                "event": "sync_failed",
                "sync_id": sync_run_id,
                "exception_type": type(error).__name__,
                # Where it broke, without the message: database errors quote the row's values.
                "where": "".join(traceback.format_tb(error.__traceback__)[-6:]),
            },
        )
        detail = "The sync stopped because of an unexpected error; it has been logged. Resume it to continue."
        raise SyncFailed(_end(sync_run_id, "failed", detail)) from None
    run = db.session.get(SyncRun, sync_run_id, populate_existing=True)
    assert run is not None
    finish_run(run, "completed")
    db.session.commit()
    return {"sync_id": run.id, "created": run.created, "updated": run.updated, "failed": run.failed}


def _end(sync_run_id: str, status: str, detail: str | None = None) -> str:
    """Undo the unfinished page, then record how the run ended. Returns the detail."""
    db.session.rollback()
    run = db.session.get(SyncRun, sync_run_id, populate_existing=True)
    if run is not None:
        finish_run(run, status, detail)
        db.session.commit()
    return detail or ""
