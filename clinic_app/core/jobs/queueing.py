"""Queueing: ``enqueue`` records a ``Job`` row and, once the caller's transaction commits, hands
its id to the backend (RQ, or the in-process worker thread); a rolled-back transaction queues
nothing. ``request_cancel`` asks a job to stop."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from clinic_app.core.errors import Conflict, NotFound
from clinic_app.core.jobs.local import local_worker
from clinic_app.core.jobs.model import CANCELLED, FAILED, QUEUED, Job
from clinic_app.core.jobs.redis_queue import check_redis, rq_queue
from clinic_app.core.jobs.registry import registry, spec_for
from clinic_app.core.jobs.run import finish
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

log = logging.getLogger("clinic_app.jobs")


def enqueue(
    kind: str,
    *,
    organization_id: str | None = None,
    created_by_id: str | None = None,
    **params: Any,
) -> Job:
    """Record a job and queue it once the surrounding transaction commits.

    Raises Unavailable (503) when the queue backend cannot be reached, so the caller's work is
    rolled back rather than left waiting for a job that will never run.
    """
    spec = spec_for(kind)
    if spec is None:
        raise NotFound(f"There is no job called {kind!r}.")
    backend = current_app.config["JOBS_BACKEND"]
    if backend == "rq":
        check_redis()
    job = Job(
        kind=kind,
        organization_id=organization_id,
        created_by_id=created_by_id,
        queue=spec.queue,
        params=params,
        status=QUEUED,
        message="Waiting for a worker",
    )
    db.session.add(job)
    db.session.flush()
    db.session.info.setdefault("jobs_to_dispatch", []).append(job.id)
    return job


def request_cancel(job: Job) -> None:
    """Ask a queued or running job to stop; a queued one is cancelled at once."""
    if job.finished:
        raise Conflict("This job has already finished.")
    if job.status == QUEUED:
        job.status = CANCELLED
        job.finished_at = utcnow()
        job.message = "Cancelled before it started"
    else:
        job.cancel_requested = True
        job.message = "Cancelling..."


@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT released: the outer transaction may still roll back
    job_ids = session.info.pop("jobs_to_dispatch", None)
    if job_ids and has_app_context():
        for job_id in job_ids:
            dispatch(current_app._get_current_object(), job_id)  # type: ignore[attr-defined]


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT rolled back: jobs queued by the outer transaction still stand
    session.info.pop("jobs_to_dispatch", None)


def dispatch(app: Flask, job_id: str) -> None:
    """Hand a committed job to the app's backend."""
    backend = app.config["JOBS_BACKEND"]
    if backend == "rq":
        try:
            _rq_enqueue(app, job_id)
        except Exception:  # the row is committed; say so on it rather than leave it queued forever
            log.exception("could not queue job", extra={"event": "job_queue_failed", "job_id": job_id})
            with app.app_context():
                finish(job_id, FAILED, message="Failed", error="The job could not be queued.")
        return
    worker = local_worker(app)
    worker.submit(job_id)
    if backend == "eager":
        worker.wait_idle()


def _rq_enqueue(app: Flask, job_id: str) -> None:
    from rq import Retry

    with app.app_context():
        job = db.session.get(Job, job_id)
        if job is None:
            return
        spec = spec_for(job.kind)
        entry = registry().rq_entry
    assert spec is not None  # enqueue refused unknown kinds
    rq_queue(app, spec.queue).enqueue(
        entry,
        job_id,
        job_id=job_id,
        job_timeout=spec.timeout,
        retry=Retry(max=spec.retries, interval=[10, 30, 60]) if spec.retries else None,
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
        description=f"{spec.kind} {job_id}",
    )
