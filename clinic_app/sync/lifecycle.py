"""A sync run's life: start (or resume) it with its job, together or not at all; cancel it; finish
it (completed, failed or cancelled, each audited); fail the runs whose worker died.

The run keeps the contract's own words for its state (``starting``, ``running``, ``completed``,
...), and a partial unique index on them keeps one active run per organization. The job that
runs it (``core.jobs``) keeps the worker's side: the heartbeat a stale run is told by, the stale
rule itself (``core.jobs.is_stale``), and how a job is marked failed (``core.jobs.mark_failed``).
Functions only flush: the request, job or command commits (a started sync is queued then).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from clinic_app.core import audit, jobs
from clinic_app.core.errors import Conflict, FieldError, Invalid, Unavailable
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.sync.connection import get_connection, require_connection
from clinic_app.sync.models import (
    ACTIVE_STATUSES,
    CANCELLED,
    COMPLETED,
    COMPREHENSIVE,
    FAILED,
    INCREMENTAL,
    MODES,
    STARTING,
    STEPS,
    SYNC_KIND,
    TRIGGERS,
    SyncRun,
)
from clinic_app.sync.runs import get_run, running_run
from clinic_app.sync.signals import sync_finished

STALE_DETAIL = (
    "The sync stopped: the worker stopped responding (no progress for 15 minutes). "
    "Resume it to continue from where it stopped."
)
INCREMENTAL_OVERLAP = timedelta(minutes=5)


def start_sync(organization_id: str, mode: str, *, actor: audit.Actor, trigger: str = "manual") -> tuple[SyncRun, bool]:
    """Start a sync (queued when the caller commits). Returns (run, True), or (the running run,
    False) when one is already starting or running: never two at once, even when two callers race.

    Raises Invalid (unknown mode or trigger), Conflict (not connected), Unavailable (the job queue
    is down; nothing is written then).
    """
    if mode not in MODES:
        raise Invalid(errors=[FieldError("mode", f"Choose one of: {', '.join(MODES)}.")])
    if trigger not in TRIGGERS:
        raise Invalid(errors=[FieldError("trigger", f"Choose one of: {', '.join(TRIGGERS)}.")])
    connection = require_connection(organization_id)
    running = running_run(organization_id)
    if running is not None:
        return running, False
    since = None
    if mode == INCREMENTAL and connection.last_incremental_cursor is not None:
        since = connection.last_incremental_cursor - INCREMENTAL_OVERLAP
    run = _new_run(organization_id, mode, trigger, actor, updated_since=since)
    return _launch(run, actor)


def resume_sync(
    organization_id: str, sync_id: str, *, actor: audit.Actor, trigger: str = "manual"
) -> tuple[SyncRun, bool]:
    """Continue a failed or cancelled run from its cursor in a new run (``resumed_from_id`` set).
    Returns like ``start_sync``. Raises NotFound, Conflict (the run did not fail or was not
    cancelled; not connected), Unavailable."""
    previous = get_run(organization_id, sync_id)
    if previous.status not in (FAILED, CANCELLED):
        raise Conflict("Only a failed or cancelled sync can be resumed.")
    require_connection(organization_id)
    running = running_run(organization_id)
    if running is not None:
        return running, False
    run = _new_run(organization_id, previous.mode, trigger, actor, updated_since=previous.updated_since)
    run.steps, run.cursor, run.resumed_from_id = list(previous.steps), previous.cursor, previous.id
    return _launch(run, actor)


def _new_run(
    organization_id: str, mode: str, trigger: str, actor: audit.Actor, *, updated_since: datetime | None
) -> SyncRun:
    return SyncRun(
        organization_id=organization_id,
        mode=mode,
        trigger=trigger,
        status=STARTING,
        steps=list(STEPS[mode]),
        counts={},
        failures=[],
        warnings=[],
        created_by_id=actor.user_id,
        updated_since=updated_since,
    )


def _launch(run: SyncRun, actor: audit.Actor) -> tuple[SyncRun, bool]:
    """Insert the run and queue its job, together or not at all.

    The insert is ``ON CONFLICT DO NOTHING`` against the one-active-run index, so a caller that
    lost a race gets the winner's run back without an exception that would spoil its transaction
    (and without a SAVEPOINT, whose release would dispatch queued work early).
    """
    if not _insert_if_none_active(run):
        running = running_run(run.organization_id)
        if running is None:  # the other run finished in between: rare enough to ask for a retry
            raise Conflict("Another sync was starting at the same moment; try again.")
        return running, False
    stored = db.session.get(SyncRun, run.id)
    assert stored is not None
    try:
        job = jobs.enqueue(
            SYNC_KIND, organization_id=run.organization_id, created_by_id=actor.user_id, sync_run_id=run.id
        )
    except Unavailable:
        db.session.delete(stored)  # nothing may stay behind waiting for a job that was never queued
        db.session.flush()
        raise
    stored.job_id = job.id
    db.session.flush()
    audit.record(
        "sync.started",
        organization_id=run.organization_id,
        actor=actor,
        target_type="sync_run",
        target_id=run.id,
        details={"mode": run.mode, "trigger": run.trigger, "resumed_from": run.resumed_from_id},
    )
    return stored, True


def _insert_if_none_active(run: SyncRun) -> bool:
    """Insert ``run`` unless the organization already has an active one; True when inserted."""
    db.session.flush()
    # Columns left unset take their defaults from the insert itself.
    values = {column.key: getattr(run, column.key) for column in SyncRun.__table__.columns}
    values = {key: value for key, value in values.items() if value is not None}
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    dialect_insert = postgresql_insert if postgresql else sqlite_insert
    statement = dialect_insert(SyncRun.__table__).values(**values)
    statement = statement.on_conflict_do_nothing(
        index_elements=[SyncRun.__table__.c.organization_id],
        index_where=SyncRun.__table__.c.status.in_(ACTIVE_STATUSES),
    )
    # RETURNING, not rowcount: PostgreSQL's driver may report a row count for a conflict that
    # inserted nothing.
    return db.session.execute(statement.returning(SyncRun.__table__.c.id)).first() is not None


def cancel_sync(organization_id: str, sync_id: str, *, actor: audit.Actor) -> SyncRun:
    """Ask a run to stop: a queued one is cancelled at once, a running one at its next page.
    Raises NotFound, or Conflict when it has already finished."""
    run = get_run(organization_id, sync_id)
    if run.finished:
        raise Conflict("This sync has already finished.")
    run.cancel_requested = True
    job = db.session.get(jobs.Job, run.job_id) if run.job_id else None
    if job is not None and not job.finished:
        jobs.request_cancel(job)
    if job is None or job.status == jobs.CANCELLED:
        finish_run(run, CANCELLED, "Cancelled before it started.")
    db.session.flush()
    audit.record(
        "sync.cancel_requested",
        organization_id=organization_id,
        actor=actor,
        target_type="sync_run",
        target_id=run.id,
    )
    return run


def finish_run(run: SyncRun, status: str, detail: str | None = None) -> None:
    """Mark the run completed, failed or cancelled and record ``sync.<status>``. A completed run
    moves the connection's last-sync time and (for full-coverage modes) the incremental cursor."""
    now = utcnow()
    run.status, run.finished_at, run.heartbeat_at = status, now, now
    lines = ([detail] if detail else []) + [f"Warning: {warning}" for warning in run.warnings or []]
    run.error_detail = "\n".join(lines) or None
    if status == COMPLETED:
        run.percentage, run.estimated_completion_at, run.cursor = 100.0, now, None
        connection = get_connection(run.organization_id)
        if connection is not None:
            connection.last_successful_sync_at = now
            if run.mode in (COMPREHENSIVE, INCREMENTAL):
                connection.last_incremental_cursor = _first_start(run) or now
    audit.record(
        f"sync.{status}",
        organization_id=run.organization_id,
        actor=audit.Actor(user_id=run.created_by_id),
        target_type="sync_run",
        target_id=run.id,
        outcome=audit.SUCCESS if status == COMPLETED else audit.FAILURE,
        details={
            "mode": run.mode,
            "trigger": run.trigger,
            **{name: getattr(run, name) for name in ("created", "updated", "unchanged", "failed")},
        },
    )
    sync_finished.send(__name__, organization_id=run.organization_id, sync_id=run.id, status=status)


def _first_start(run: SyncRun) -> datetime | None:
    """When the work of a (possibly resumed) run began: the earliest start along its resume chain,
    so an incremental after it misses nothing changed while the first attempt was paging."""
    earliest, seen = run.started_at, {run.id}
    previous_id = run.resumed_from_id
    while previous_id and previous_id not in seen:
        seen.add(previous_id)
        previous = db.session.get(SyncRun, previous_id)
        if previous is None:
            break
        if previous.started_at and (earliest is None or previous.started_at < earliest):
            earliest = previous.started_at
        previous_id = previous.resumed_from_id
    return earliest


def fail_stale_runs(now: datetime | None = None) -> int:
    """Mark runs whose worker stopped reporting for 15 minutes (``core.jobs.STALE_AFTER``) as failed
    (they can be resumed); a run whose job still waits in the queue is left alone. Returns how many
    were marked."""
    now = now or utcnow()
    stale = db.session.scalars(
        select(SyncRun).where(SyncRun.status.in_(ACTIVE_STATUSES), last_sign_of_life() < now - jobs.STALE_AFTER)
    ).all()
    marked = 0
    for run in stale:
        job = db.session.get(jobs.Job, run.job_id) if run.job_id else None
        if run.status == STARTING and job is not None and job.status == jobs.QUEUED:
            continue
        fail_with_job(run, STALE_DETAIL, now=now)
        marked += 1
    db.session.flush()
    return marked


def fail_with_job(run: SyncRun, detail: str, *, now: datetime | None = None) -> None:
    """Mark ``run`` failed with ``detail``, and its job too if that has not finished."""
    finish_run(run, FAILED, detail)
    job = db.session.get(jobs.Job, run.job_id) if run.job_id else None
    if job is not None:
        jobs.mark_failed(job, detail, now=now)


def last_sign_of_life() -> ColumnElement[datetime]:
    """SQL for when a run last showed it was alive: its heartbeat, else its start, else its creation."""
    return func.coalesce(SyncRun.heartbeat_at, SyncRun.started_at, SyncRun.created_at)
