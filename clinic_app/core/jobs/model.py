"""The job record: a unit of background work and its progress, as a page or an API client polls
it; the context a running job reports through; and the one way a job is marked finished."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core.db import Model, PublicIdMixin
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
FINISHED_STATUSES = (SUCCEEDED, FAILED, CANCELLED)
QUEUES = ("default", "sync", "reports")
# A running job that has not reported progress for this long is taken for dead (its worker was
# killed or restarted).
STALE_AFTER = timedelta(minutes=15)


def elapsed_seconds(started_at: datetime | None, finished_at: datetime | None) -> float | None:
    """Seconds from ``started_at`` to ``finished_at`` (or now, while it runs), to a tenth; None
    before it started. The one duration rule of jobs and of the records that follow them."""
    if started_at is None:
        return None
    return round(((finished_at or utcnow()) - started_at).total_seconds(), 1)


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
        return elapsed_seconds(self.started_at, self.finished_at)


def mark_failed(job: Job, error: str, *, now: datetime | None = None) -> None:
    """Mark ``job`` failed with ``error`` (flushed by the caller), unless it has finished already."""
    if job.finished:
        return
    job.status, job.finished_at, job.message, job.error = FAILED, now or utcnow(), "Failed", error


class JobCancelled(Exception):
    """Raised inside a job when someone asked for it to stop."""


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
