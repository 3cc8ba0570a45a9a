"""Jobs the queue lost, found again by the clock (``jobs.recover``).

A job is a row in the ``jobs`` table (the truth) and a message in its backend: an RQ message in
Redis, or an entry in the in-process worker's queue. The message can be lost while the row says
``queued``: Redis flushed or restored empty, a database restored into a fresh installation, an
embedded-mode process that stopped with work waiting. Nothing would ever run such a row, and
features that wait for their job (a sync about to start, the Cliniko outbox's sender) would wait
for ever. Likewise a ``running`` row whose worker was killed keeps its status until someone
notices that its heartbeat stopped.

* Every tick: running jobs whose heartbeat stopped are failed (``core.jobs.fail_stale_jobs``);
  with RQ, queued rows older than ``LOST_AFTER`` that Redis holds no job for (RQ's job id is the
  row's id) are handed to RQ again, at most ``BATCH`` a tick, oldest first.
* Embedded default (one process, jobs in its thread): when the process's clock starts, the rows
  still queued from before it started are queued again (``requeue_left_behind``); a row queued
  since is in this process's own worker queue, waiting its turn, and is left alone.

Running a job twice is harmless (``run_job`` returns at once for a finished row), so a job that
was only slow to start loses nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy import select

from clinic_app.core.jobs import QUEUED, Job, fail_stale_jobs, redis_connection
from clinic_app.core.jobs.queueing import dispatch
from clinic_app.core.periodic import every_tick
from clinic_app.extensions import db

log = logging.getLogger("clinic_app.jobs")

LOST_AFTER = timedelta(minutes=5)
BATCH = 200


def _queued_before(moment: datetime) -> list[str]:
    ids = list(
        db.session.scalars(
            select(Job.id).where(Job.status == QUEUED, Job.created_at < moment).order_by(Job.created_at).limit(BATCH)
        )
    )
    db.session.commit()
    return ids


def _queue_again(app: Flask, job_ids: list[str]) -> None:
    for job_id in job_ids:
        log.warning("queued job lost by its backend: queued again", extra={"event": "job_requeued", "job_id": job_id})
        dispatch(app, job_id)


def requeue_left_behind(started_at: datetime) -> int:
    """Embedded default, as the clock starts: queue again what an earlier process left queued."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    left = _queued_before(started_at)
    _queue_again(app, left)
    return len(left)


def _lost_by_rq(app: Flask, job_ids: list[str]) -> list[str]:
    from rq.job import Job as RqJob  # rq is only needed when the backend is RQ

    connection = redis_connection(app)
    return [job_id for job_id in job_ids if not RqJob.exists(job_id, connection=connection)]


@every_tick("jobs.recover", on_embedded_start=requeue_left_behind)
def recover_jobs(now: datetime) -> dict[str, Any]:
    """Fail jobs whose worker died; with RQ, queue again the waiting ones Redis lost."""
    failed = fail_stale_jobs(now)
    db.session.commit()
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["JOBS_BACKEND"] != "rq":
        return {"failed_stale": failed, "requeued": 0}
    waiting = _queued_before(now - LOST_AFTER)
    if not waiting:
        return {"failed_stale": failed, "requeued": 0}
    try:
        lost = _lost_by_rq(app, waiting)
    except RedisError:
        log.warning("job recovery skipped: Redis unavailable", extra={"event": "job_recovery_skipped"})
        return {"failed_stale": failed, "requeued": 0}
    _queue_again(app, lost)
    return {"failed_stale": failed, "requeued": len(lost)}
