"""Background jobs: one API, three backends.

``enqueue(kind, ...)`` records a ``Job`` row and, once the caller's transaction commits, hands the
job id to

* RQ (``JOBS_BACKEND=rq``, the default when ``REDIS_URL`` is set): JSON serializer, named queues,
  timeouts, retries; ``flask worker`` runs the worker and its scheduler;
* an in-process worker thread (``thread``, the embedded default);
* a thread that is waited for (``eager``, for tests that want the result at once).

Job functions are registered with ``@job_function(kind, read_permission=..., cancel_permission=...)``
and receive a ``JobContext`` plus the JSON-safe keyword arguments given to ``enqueue`` (ids, never
ORM objects or PHI). They must be idempotent: RQ may run a job again after a crash.

A job is about something (a report, a sync, the audit trail), so the people who may watch or stop
it are the people who may see or act on that subject: the kind names the permission to see its
jobs and the permission to cancel them (``may_read``, ``may_cancel``). A kind without a read
permission (a system job such as key rotation) is shown to nobody through the job pages and API.

``ctx.progress()`` is a checkpoint: the work flushed so far is committed together with the
progress figure, so a page polling the job sees it move and a job that dies keeps what it
finished. Anything after the last checkpoint is rolled back.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import JSON, Integer, String, Text, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from clinic_app.core.db import Model, PublicIdMixin
from clinic_app.core.errors import Conflict, NotFound, Unavailable
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

log = logging.getLogger("clinic_app.jobs")

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
FINISHED_STATUSES = (SUCCEEDED, FAILED, CANCELLED)
QUEUES = ("default", "sync", "reports")
STALE_AFTER = timedelta(minutes=15)


class Job(PublicIdMixin, Model):
    """A unit of background work and its progress, as a page or an API client polls it."""

    __tablename__ = "jobs"
    id_prefix = "job"

    kind: Mapped[str] = mapped_column(String(64))
    organization_id: Mapped[str | None] = mapped_column(String(40), index=True)
    created_by_id: Mapped[str | None] = mapped_column(String(40))
    queue: Mapped[str] = mapped_column(String(32), default="default")
    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    current_step: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or utcnow()
        return round((end - self.started_at).total_seconds(), 1)


class JobCancelled(Exception):
    """Raised inside a job when someone asked for it to stop."""


@dataclass(frozen=True)
class JobSpec:
    kind: str
    function: Callable[..., dict[str, Any] | None]
    queue: str
    timeout: int
    retries: int
    # Who may see jobs of this kind, and who may cancel them (None: nobody, through the job routes).
    read_permission: str | None = None
    cancel_permission: str | None = None


_registry: dict[str, JobSpec] = {}


def job_function(
    kind: str,
    *,
    queue: str = "default",
    timeout: int = 600,
    retries: int = 0,
    read_permission: str | None = None,
    cancel_permission: str | None = None,
) -> Callable[..., Any]:
    """Register ``function(ctx, **params)`` as the job ``kind``.

    ``read_permission`` is what a member or API token needs to see a job of this kind (its status,
    progress, parameters and result); ``cancel_permission`` what they need, on top of that, to
    cancel it. Left out, jobs of the kind are seen and cancelled by no one through the job routes.
    """
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    if cancel_permission is not None and read_permission is None:
        raise ValueError(f"job {kind!r}: a cancel permission needs a read permission")

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        _registry[kind] = JobSpec(kind, function, queue, timeout, retries, read_permission, cancel_permission)
        return function

    return register


def may_read(job: Job, can: Callable[[str], bool]) -> bool:
    """Whether a caller whose permissions ``can`` answers may see ``job`` (its organization is the
    caller's to check)."""
    spec = _registry.get(job.kind)
    return spec is not None and spec.read_permission is not None and can(spec.read_permission)


def may_cancel(job: Job, can: Callable[[str], bool]) -> bool:
    """Whether that caller may also cancel ``job``."""
    spec = _registry.get(job.kind)
    return (
        spec is not None and spec.cancel_permission is not None and may_read(job, can) and can(spec.cancel_permission)
    )


def policy_table(modules: str = "clinic_app.") -> str:
    """Who sees and cancels each job kind registered by ``modules``, as Markdown for
    docs/permissions.md."""
    rows = ["| Job kind | Seen with | Cancelled with |", "|---|---|---|"]
    for spec in sorted(_registry.values(), key=lambda s: s.kind):
        if not spec.function.__module__.startswith(modules):
            continue
        read = f"`{spec.read_permission}`" if spec.read_permission else "nobody (not shown)"
        cancel = f"`{spec.cancel_permission}`" if spec.cancel_permission else "nobody"
        rows.append(f"| `{spec.kind}` | {read} | {cancel} |")
    return "\n".join(rows)


class JobContext:
    """What a running job uses to report progress and notice cancellation."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id

    def progress(self, percent: float, step: str | None = None, message: str | None = None) -> None:
        """Checkpoint: commit the work so far together with the new progress figure.

        Raises JobCancelled when a cancel was requested, after committing the checkpoint.
        """
        job = db.session.get(Job, self.job_id, populate_existing=True)
        if job is None:
            raise JobCancelled("the job record is gone")
        job.progress = max(0, min(100, int(percent)))
        if step is not None:
            job.current_step = step[:200]
        if message is not None:
            job.message = message[:500]
        job.heartbeat_at = utcnow()
        cancel = job.cancel_requested
        db.session.commit()
        if cancel:
            raise JobCancelled("cancelled on request")


# --- enqueueing -------------------------------------------------------------------------------


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
    spec = _registry.get(kind)
    if spec is None:
        raise NotFound(f"There is no job called {kind!r}.")
    backend = current_app.config["JOBS_BACKEND"]
    if backend == "rq":
        _check_redis()
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
            _dispatch(current_app._get_current_object(), job_id)  # type: ignore[attr-defined]


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT rolled back: jobs queued by the outer transaction still stand
    session.info.pop("jobs_to_dispatch", None)


def _dispatch(app: Flask, job_id: str) -> None:
    backend = app.config["JOBS_BACKEND"]
    if backend == "rq":
        try:
            _rq_enqueue(app, job_id)
        except Exception:  # the row is committed; say so on it rather than leave it queued forever
            log.exception("could not queue job", extra={"event": "job_queue_failed", "job_id": job_id})
            _mark_outside(app, job_id, status=FAILED, error="The job could not be queued.")
        return
    worker = _local_worker(app)
    worker.submit(job_id)
    if backend == "eager":
        worker.wait_idle()


# --- RQ backend -------------------------------------------------------------------------------


def redis_connection(app: Flask | None = None) -> Any:
    from redis import Redis

    app = app or current_app
    connection = app.extensions.get("clinic_redis")
    if connection is None:
        connection = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5)
        app.extensions["clinic_redis"] = connection
    return connection


def _check_redis() -> None:
    from redis.exceptions import RedisError

    try:
        redis_connection().ping()
    except RedisError:
        log.warning("redis unavailable", extra={"event": "redis_unavailable"})
        raise Unavailable("The job queue is unavailable right now. Please try again in a minute.") from None


def rq_queue(app: Flask, name: str) -> Any:
    from rq import Queue
    from rq.serializers import JSONSerializer

    return Queue(name, connection=redis_connection(app), serializer=JSONSerializer)


def _rq_enqueue(app: Flask, job_id: str) -> None:
    from rq import Retry

    with app.app_context():
        job = db.session.get(Job, job_id)
        if job is None:
            return
        spec = _registry[job.kind]
    rq_queue(app, spec.queue).enqueue(
        "clinic_app.core.jobs.run_job",
        job_id,
        job_id=job_id,
        job_timeout=spec.timeout,
        retry=Retry(max=spec.retries, interval=[10, 30, 60]) if spec.retries else None,
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
        description=f"{spec.kind} {job_id}",
    )


# --- in-process backend -----------------------------------------------------------------------


class LocalWorker:
    """One daemon thread that runs jobs in order, each in its own app context."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.queue: queue.Queue[str] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="clinic-jobs", daemon=True)
        self.thread.start()

    def submit(self, job_id: str) -> None:
        self.queue.put(job_id)

    def wait_idle(self) -> None:
        self.queue.join()

    def _loop(self) -> None:
        while True:
            job_id = self.queue.get()
            try:
                with self.app.app_context():
                    run_job(job_id)
            except Exception:
                log.exception("job crashed", extra={"event": "job_crashed", "job_id": job_id})
            finally:
                self.queue.task_done()


_local_lock = threading.Lock()


def _local_worker(app: Flask) -> LocalWorker:
    with _local_lock:
        worker = app.extensions.get("clinic_local_worker")
        if worker is None:
            worker = LocalWorker(app)
            app.extensions["clinic_local_worker"] = worker
        return worker


def wait_for_local_jobs(app: Flask) -> None:
    """Block until the in-process worker has nothing left (tests and CLI commands use this)."""
    worker = app.extensions.get("clinic_local_worker")
    if worker is not None:
        worker.wait_idle()


# --- running ----------------------------------------------------------------------------------

_worker_app: Flask | None = None


def _app_for_worker() -> Flask:
    """The app a bare ``rq worker`` process runs jobs in (``flask worker`` already has one)."""
    global _worker_app
    if _worker_app is None:
        from clinic_app import create_app

        _worker_app = create_app()
    return _worker_app


def run_job(job_id: str) -> None:
    """Run one job to completion in an app context. Safe to call twice for the same id."""
    if not has_app_context():
        with _app_for_worker().app_context():
            return run_job(job_id)

    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None:
        log.warning("job record missing", extra={"event": "job_missing", "job_id": job_id})
        return
    if job.finished:
        return  # already done: running it again must change nothing
    spec = _registry.get(job.kind)
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
        _finish(job_id, CANCELLED, message="Cancelled")
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
        _finish(job_id, FAILED, message="Failed", error=f"{type(error).__name__}: {error}"[:2000])
        return
    _finish(job_id, SUCCEEDED, message="Finished", result=result)
    log.info("job finished", extra={"event": "job_finished", "job_id": job_id, "kind": spec.kind})


def _finish(
    job_id: str, status: str, *, message: str, error: str | None = None, result: dict[str, Any] | None = None
) -> None:
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


def _mark_outside(app: Flask, job_id: str, *, status: str, error: str) -> None:
    with app.app_context():
        _finish(job_id, status, message="Failed", error=error)


def fail_stale_jobs(now: datetime | None = None) -> int:
    """Mark running jobs whose heartbeat stopped (a killed worker) as failed; returns how many."""
    now = now or utcnow()
    stale = db.session.scalars(select(Job).where(Job.status == RUNNING, Job.heartbeat_at < now - STALE_AFTER)).all()
    for job in stale:
        job.status = FAILED
        job.finished_at = now
        job.message = "Failed"
        job.error = "The worker stopped reporting progress (it may have been restarted)."
    return len(stale)


def registered_kinds() -> list[str]:
    return sorted(_registry)
