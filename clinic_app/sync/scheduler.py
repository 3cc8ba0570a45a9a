"""The sync scheduler: every minute, mark stalled runs failed and start the scheduled syncs due,
then run the app's other periodic tasks (``core.periodic``, e.g. the nightly audit verification).

``tick(now)`` is the whole decision and is the same everywhere (the rules are the service's
``due_for_scheduled_sync``: an incremental every interval, a comprehensive nightly at 02:00 in the
organization's time zone, nothing while one runs or within 10 minutes of the last). What calls it
depends on how the app runs:

* embedded default (``JOBS_BACKEND=thread``): one daemon thread per process, started by the first
  request (not by ``create_app``, so ``flask db upgrade`` or ``flask seed-demo`` never tick, and a
  command that exits cannot leave a sync half-started);
* production (RQ): the job ``rq_tick``, which re-queues itself with ``enqueue_in``. One chain runs
  at a time, whatever the number of workers: its token sits in Redis under a SET NX key that each
  tick renews, a second chain stops at its first tick, and a per-minute SET NX lock keeps even a
  brief overlap to one tick. ``flask worker`` calls ``start_rq_chain`` at start, which begins a
  chain only when none is alive (so a chain lost with a killed worker comes back with the next
  worker start, at most three intervals later);
* tests (eager jobs): nothing ticks by itself; tests call ``tick`` with explicit times.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import func, select

from clinic_app.core import audit, jobs, periodic
from clinic_app.core.errors import DomainError
from clinic_app.core.time import isoformat, utcnow
from clinic_app.extensions import db
from clinic_app.sync import service
from clinic_app.sync.models import ACTIVE_STATUSES, FAILED, SyncRun

log = logging.getLogger("clinic_app.sync.scheduler")

SYSTEM = audit.Actor()  # scheduled syncs are started by no person
CHAIN_KEY = "clinic:sync-scheduler:chain"
TICK_LOCK_KEY = "clinic:sync-scheduler:tick"
LAST_TICK_KEY = "clinic:sync-scheduler:last-tick"
RQ_TICK = "clinic_app.sync.scheduler.rq_tick"
ORPHANED_DETAIL = (
    "The app was restarted while this sync was waiting or running, so it stopped. "
    "Resume it to continue from where it stopped."
)


def _interval(app: Flask) -> float:
    return float(app.config.get("SYNC_SCHEDULER_INTERVAL", 60))


# --- the decision -----------------------------------------------------------------------------


def tick(now: datetime | None = None) -> dict[str, Any]:
    """One scheduler pass at ``now``: fail stale runs, then start each due sync, committing per
    organization. One organization's failure (not connected any more, queue down, a bug) is
    logged and the others still get theirs; this never raises. Returns what it did."""
    now = now or utcnow()
    summary: dict[str, Any] = {"stale_marked": 0, "started": [], "already_running": [], "errors": []}
    try:
        summary["stale_marked"] = service.fail_stale_runs(now)
        db.session.commit()
        due = service.due_for_scheduled_sync(now)
        db.session.rollback()  # end the read, so each start below sees fresh rows
    except Exception:
        db.session.rollback()
        log.exception("scheduler pass failed", extra={"event": "sync_scheduler_failed"})
        summary["errors"].append({"organization_id": None, "error": "the scheduler pass failed"})
        return summary
    for organization_id, mode in due:
        try:
            run, started = service.start_sync(organization_id, mode, actor=SYSTEM, trigger="scheduled")
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
    summary["periodic"] = periodic.run_all(now)  # the rest of the app's clockwork (core/periodic.py)
    return summary


def recover_orphaned_runs(before: datetime) -> int:
    """In-process jobs die with their process: a run that was starting or running before this
    process began will never move again (and would block every later sync of its organization).
    Mark those failed, so they can be resumed. Only for the embedded default; RQ workers keep their
    queue in Redis. Returns how many were marked."""
    last_sign = func.coalesce(SyncRun.heartbeat_at, SyncRun.started_at, SyncRun.created_at)
    orphans = db.session.scalars(select(SyncRun).where(SyncRun.status.in_(ACTIVE_STATUSES), last_sign < before)).all()
    for run in orphans:
        service.finish_run(run, FAILED, ORPHANED_DETAIL)
        job = db.session.get(jobs.Job, run.job_id) if run.job_id else None
        if job is not None and not job.finished:
            job.status, job.finished_at, job.message, job.error = jobs.FAILED, utcnow(), "Failed", ORPHANED_DETAIL
    db.session.commit()
    return len(orphans)


# --- embedded: a thread in the web process ----------------------------------------------------


class EmbeddedScheduler:
    """A daemon thread that calls ``tick`` every ``interval`` seconds in an app context."""

    def __init__(self, app: Flask, interval: float) -> None:
        self.app, self.interval = app, interval
        self.started_at = utcnow()
        self.last_tick_at: datetime | None = None
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="clinic-sync-scheduler", daemon=True)

    def start(self) -> EmbeddedScheduler:
        self.thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stopping.set()
        self.thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive() and not self._stopping.is_set()

    def _loop(self) -> None:
        first = True
        while not self._stopping.is_set():
            try:
                with self.app.app_context():
                    if first:
                        recover_orphaned_runs(self.started_at)
                    tick()
            except Exception:  # keep ticking: a database hiccup must not end scheduling for good
                log.exception("scheduler tick crashed", extra={"event": "sync_scheduler_crashed"})
            first = False
            self.last_tick_at = utcnow()
            self._stopping.wait(self.interval)


_embedded: tuple[int, EmbeddedScheduler] | None = None  # (pid, scheduler): one per process
_embedded_lock = threading.Lock()


def embedded_wanted(config: dict[str, Any]) -> bool:
    return (
        config.get("JOBS_BACKEND") == "thread"
        and not config.get("TESTING", False)
        and bool(config.get("SYNC_SCHEDULER_ENABLED", True))
    )


def embedded_scheduler() -> EmbeddedScheduler | None:
    """This process's scheduler thread (a forked child has none of its parent's threads)."""
    if _embedded is None or _embedded[0] != os.getpid():
        return None
    return _embedded[1]


def start_embedded(app: Flask) -> EmbeddedScheduler:
    """Start this process's scheduler thread unless it runs already."""
    global _embedded
    with _embedded_lock:
        running = embedded_scheduler()
        if running is not None and running.alive:
            return running
        scheduler = EmbeddedScheduler(app, _interval(app)).start()
        _embedded = (os.getpid(), scheduler)
        return scheduler


def install(app: Flask) -> None:
    """Called by ``create_app``: in the embedded default, the first request starts the thread."""
    if not embedded_wanted(app.config):
        return

    @app.before_request
    def _start_sync_scheduler() -> None:
        if embedded_scheduler() is None:
            start_embedded(app)


# --- production: a self-rescheduling RQ job ---------------------------------------------------


def _chain_ttl(app: Flask) -> int:
    return int(3 * _interval(app)) + 1


def _enqueue_tick(app: Flask, chain: str, delay: float | None) -> None:
    queue = jobs.rq_queue(app, "default")
    options: dict[str, Any] = {"job_timeout": 300, "result_ttl": 600, "failure_ttl": 24 * 3600}
    options["description"] = "sync scheduler tick"
    if delay is None:
        queue.enqueue(RQ_TICK, chain, **options)
    else:
        queue.enqueue_in(timedelta(seconds=delay), RQ_TICK, chain, **options)


def start_rq_chain(app: Flask) -> bool:
    """Begin the tick chain unless one is alive; True when this call began it. For ``flask worker``."""
    if app.config["JOBS_BACKEND"] != "rq" or not app.config.get("SYNC_SCHEDULER_ENABLED", True):
        return False
    chain = secrets.token_hex(8)
    if not jobs.redis_connection(app).set(CHAIN_KEY, chain, nx=True, ex=_chain_ttl(app)):
        return False
    _enqueue_tick(app, chain, delay=None)
    log.info("sync scheduler chain started", extra={"event": "sync_scheduler_chain_started"})
    return True


def _own_chain(redis: Any, chain: str, ttl: int) -> bool:
    """Whether ``chain`` is the one chain (claiming it when none is); renews its lease."""
    owner = redis.get(CHAIN_KEY)
    if owner is None:
        return bool(redis.set(CHAIN_KEY, chain, nx=True, ex=ttl))
    if (owner.decode() if isinstance(owner, bytes) else str(owner)) != chain:
        return False
    redis.expire(CHAIN_KEY, ttl)
    return True


def rq_tick(chain: str) -> dict[str, Any] | None:
    """The RQ job: one tick (if no other worker ticked in this interval), then the next one queued."""
    if not has_app_context():
        from clinic_app.core.jobs import _app_for_worker  # the app a bare ``rq worker`` runs jobs in

        with _app_for_worker().app_context():
            return rq_tick(chain)
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    redis, interval, ttl = jobs.redis_connection(app), _interval(app), _chain_ttl(app)
    if not _own_chain(redis, chain, ttl):
        log.info("sync scheduler chain superseded", extra={"event": "sync_scheduler_chain_ended"})
        return None
    summary = None
    try:
        if redis.set(TICK_LOCK_KEY, chain, nx=True, ex=max(1, int(interval) - 5)):
            summary = tick()
            redis.set(LAST_TICK_KEY, isoformat(utcnow()), ex=ttl)
    finally:
        _enqueue_tick(app, chain, delay=interval)
    return summary


# --- status -----------------------------------------------------------------------------------


def status(app: Flask) -> dict[str, Any]:
    """``{"active", "backend", "last_tick_at"}``: whether a scheduler is really ticking."""
    if not app.config.get("SYNC_SCHEDULER_ENABLED", True):
        return {"active": False, "backend": "off", "last_tick_at": None}
    backend = app.config["JOBS_BACKEND"]
    if backend == "rq":
        try:
            raw = jobs.redis_connection(app).get(LAST_TICK_KEY)
        except Exception:  # Redis down: nothing is ticking that we can see
            return {"active": False, "backend": "rq", "last_tick_at": None}
        last = datetime.fromisoformat(raw.decode().replace("Z", "+00:00")) if raw else None
        recent = last is not None and utcnow() - last <= timedelta(seconds=_chain_ttl(app))
        return {"active": recent, "backend": "rq", "last_tick_at": last}
    if backend == "thread":
        scheduler = embedded_scheduler()
        alive = scheduler is not None and scheduler.alive
        return {"active": alive, "backend": "thread", "last_tick_at": scheduler.last_tick_at if scheduler else None}
    return {"active": False, "backend": "off", "last_tick_at": None}
