"""Running one job to its end, in the app context it is given, and failing jobs whose worker died.

Both backends end here: the in-process worker thread calls ``run_job`` in its app's context, and
an RQ worker calls the composition root's entry (``clinic_app.worker.run_job``), which gives the
process an app and calls this. A job runs at most once to completion: running a finished job
again changes nothing, and RQ may run a job again after a crash.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from clinic_app.core import metrics
from clinic_app.core.jobs.model import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    STALE_AFTER,
    SUCCEEDED,
    Job,
    JobCancelled,
    JobContext,
    mark_failed,
)
from clinic_app.core.jobs.registry import spec_for
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

log = logging.getLogger("clinic_app.jobs")

STALE_DETAIL = "The worker stopped reporting progress (it may have been restarted)."


def run_job(job_id: str) -> None:
    """Run one job to completion in the current app context. Safe to call twice for the same id."""
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None:
        log.warning("job record missing", extra={"event": "job_missing", "job_id": job_id})
        return
    if job.finished:
        return  # already done: running it again must change nothing
    spec = spec_for(job.kind)
    if spec is None:
        job.status, job.error, job.finished_at = FAILED, f"Unknown job kind {job.kind!r}", utcnow()
        db.session.commit()
        return

    job.status = RUNNING
    job.attempts += 1
    job.started_at = job.started_at or utcnow()
    job.heartbeat_at = utcnow()
    job.message = "Running"
    params = dict(job.params or {})
    db.session.commit()
    log.info("job started", extra={"event": "job_started", "job_id": job_id, "kind": spec.kind})

    try:
        result = spec.function(JobContext(job_id), **params)
        db.session.commit()
    except JobCancelled:
        db.session.rollback()
        finish(job_id, CANCELLED, message="Cancelled")
        log.info("job cancelled", extra={"event": "job_cancelled", "job_id": job_id})
        return
    except Exception as error:
        db.session.rollback()
        job = db.session.get(Job, job_id)
        retry = current_app.config["JOBS_BACKEND"] == "rq" and job is not None and job.attempts <= spec.retries
        log.exception(
            "job failed", extra={"event": "job_failed", "job_id": job_id, "kind": spec.kind, "will_retry": retry}
        )
        if retry:
            assert job is not None
            job.status, job.message = QUEUED, f"Attempt {job.attempts} failed; retrying"
            db.session.commit()
            raise
        finish(job_id, FAILED, message="Failed", error=f"{type(error).__name__}: {error}"[:2000])
        return
    finish(job_id, SUCCEEDED, message="Finished", result=result)
    log.info("job finished", extra={"event": "job_finished", "job_id": job_id, "kind": spec.kind})


def finish(
    job_id: str, status: str, *, message: str, error: str | None = None, result: dict[str, Any] | None = None
) -> None:
    """Record how the job ended, and commit."""
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None:
        return
    job.status = status
    job.message = message
    job.error = error
    job.finished_at = utcnow()
    if status == SUCCEEDED:
        job.progress = 100
        job.result = result
    db.session.commit()
    metrics.job_finished(job.kind, status, job.duration_seconds)


def is_stale(heartbeat_at: datetime | None, now: datetime) -> bool:
    """Whether a worker whose last sign of life was ``heartbeat_at`` is taken for dead at ``now``."""
    return heartbeat_at is not None and heartbeat_at < now - STALE_AFTER


def fail_stale_jobs(now: datetime | None = None) -> int:
    """Mark running jobs whose heartbeat stopped (a killed worker) as failed; returns how many."""
    now = now or utcnow()
    stale = db.session.scalars(select(Job).where(Job.status == RUNNING, Job.heartbeat_at < now - STALE_AFTER)).all()
    for job in stale:
        mark_failed(job, STALE_DETAIL, now=now)
    return len(stale)
