"""Jobs the queue lost, found again by the clock (``jobs.recover``, every tick).

A job is a row in the ``jobs`` table (the truth) and a message in its backend: an RQ message in
Redis, or an entry in the in-process worker's queue. The message can be lost while the row says
``queued``: Redis flushed or restored empty, a database restored into a fresh installation, an
embedded-mode process that stopped with work waiting. Nothing would ever run such a row, and
features that wait for their job (a sync about to start, the Cliniko outbox's sender) would wait
for ever. Likewise a ``running`` row whose worker was killed keeps its status until someone
notices that its heartbeat stopped.

Every tick this task

* fails running jobs whose heartbeat stopped (``core.jobs.fail_stale_jobs``), and
* hands queued rows older than ``LOST_AFTER`` to the backend again when the backend no longer
  holds them (RQ: no job under that id in Redis, the id RQ uses being the row's; in-process: not
  in this process's worker queue). Running a job twice is harmless (``run_job`` returns at once
  for a finished row), so a job that was only slow to start loses nothing.

At most ``BATCH`` rows a tick, oldest first.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy import select

from clinic_app.core.jobs import QUEUED, Job, fail_stale_jobs, redis_connection
from clinic_app.core.jobs.local import local_worker
from clinic_app.core.jobs.queueing import dispatch
from clinic_app.core.periodic import every_tick
from clinic_app.extensions import db

log = logging.getLogger("clinic_app.jobs")

LOST_AFTER = timedelta(minutes=5)
BATCH = 200


def _held_by_backend(app: Flask, job_ids: list[str]) -> set[str]:
    """Which of ``job_ids`` the backend still has a message for."""
    if app.config["JOBS_BACKEND"] == "rq":
        from rq.job import Job as RqJob  # rq is only needed when the backend is RQ

        connection = redis_connection(app)
        return {job_id for job_id in job_ids if RqJob.exists(job_id, connection=connection)}
    return set(job_ids) & local_worker(app).waiting()


@every_tick("jobs.recover")
def recover_jobs(now: datetime) -> dict[str, Any]:
    """Fail jobs whose worker died and queue again the waiting ones their backend lost."""
    failed = fail_stale_jobs(now)
    waiting = list(
        db.session.scalars(
            select(Job.id)
            .where(Job.status == QUEUED, Job.created_at < now - LOST_AFTER)
            .order_by(Job.created_at)
            .limit(BATCH)
        )
    )
    db.session.commit()
    if not waiting:
        return {"failed_stale": failed, "requeued": 0}
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        held = _held_by_backend(app, waiting)
    except RedisError:
        log.warning("job recovery skipped: Redis unavailable", extra={"event": "job_recovery_skipped"})
        return {"failed_stale": failed, "requeued": 0}
    lost = [job_id for job_id in waiting if job_id not in held]
    for job_id in lost:
        log.warning("queued job lost by its backend: queued again", extra={"event": "job_requeued", "job_id": job_id})
        dispatch(app, job_id)
    return {"failed_stale": failed, "requeued": len(lost)}
