"""The app's clock: work done every minute, in exactly one place.

Features declare a task with ``@every_tick(name)`` (the decorator only attaches the name); the app
factory registers the app's tasks in order (``register_tasks(app, [...])``), as it registers its
blueprints. ``tick(now)`` runs every registered task, in that order, with the same ``now``. A task
decides for itself whether anything is due (so a missed minute costs nothing), commits its own
work, and must be cheap when nothing is due. One task's failure is logged and rolled back; the
others still run.

What calls ``tick`` depends on how the app runs:

* embedded default (``JOBS_BACKEND=thread``): one daemon thread per process, started by the first
  request (not by ``create_app``, so ``flask db upgrade`` or ``flask seed-demo`` never tick, and a
  command that exits cannot leave work half-started). Before its first tick it calls each task's
  ``on_embedded_start(started_at)``: in-process jobs die with their process, so a task may fail
  what an earlier process left waiting;
* production (RQ): a job that re-queues itself with ``enqueue_in``. One chain runs at a time,
  whatever the number of workers: its token sits in Redis under a SET NX key that each tick
  renews, a second chain stops at its first tick, and a per-minute SET NX lock keeps even a brief
  overlap to one tick. ``flask worker`` calls ``start_rq_chain`` at start, which begins a chain
  only when none is alive (so a chain lost with a killed worker comes back with the next worker
  start, at most three intervals later). RQ calls the composition root's entry
  (``clinic_app.worker.clock_tick``), which gives the process an app and calls ``rq_tick``;
* tests (eager jobs): nothing ticks by itself; tests call ``tick`` or a task with explicit times.

``SYNC_SCHEDULER_ENABLED`` and ``SYNC_SCHEDULER_INTERVAL`` (their names are older than this
module) turn the clock off and set its interval in seconds.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app

from clinic_app.core.jobs import redis_queue
from clinic_app.core.time import isoformat, utcnow
from clinic_app.extensions import db

log = logging.getLogger("clinic_app.periodic")

Task = Callable[[datetime], Any]
EXTENSION = "clinic_periodic"
CHAIN_KEY = "clinic:clock:chain"
TICK_LOCK_KEY = "clinic:clock:tick"
LAST_TICK_KEY = "clinic:clock:last-tick"


# --- the registry -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    name: str
    run: Task
    on_embedded_start: Callable[[datetime], Any] | None = None


@dataclass
class Clock:
    """An app's tasks, in order, and the dotted name of the function RQ calls for a tick."""

    rq_entry: str
    tasks: list[TaskSpec]


def every_tick(name: str, *, on_embedded_start: Callable[[datetime], Any] | None = None) -> Callable[[Task], Task]:
    """Declare ``task(now)`` as the periodic task ``name`` (``register_tasks`` registers it).
    ``on_embedded_start(started_at)``, if given, runs once before the in-process clock's first tick."""

    def declare(task: Task) -> Task:
        task.periodic_spec = TaskSpec(name, task, on_embedded_start)  # type: ignore[attr-defined]
        return task

    return declare


def register_tasks(app: Flask, tasks: Iterable[Task], *, rq_entry: str) -> None:
    """Make ``tasks`` (each declared with ``@every_tick``) what ``app``'s clock runs, in this order.
    ``rq_entry`` is the dotted name RQ calls with a chain token."""
    clock = app.extensions.setdefault(EXTENSION, Clock(rq_entry, []))
    clock.rq_entry = rq_entry
    for task in tasks:
        spec = getattr(task, "periodic_spec", None)
        if not isinstance(spec, TaskSpec):
            raise TypeError(f"{task!r} is not declared with @every_tick")
        if any(known.name == spec.name for known in clock.tasks):
            raise ValueError(f"periodic task {spec.name!r} is registered twice")
        clock.tasks.append(spec)


def _clock(app: Flask | None = None) -> Clock:
    return (app or current_app).extensions.get(EXTENSION) or Clock("", [])


def run_all(now: datetime) -> dict[str, Any]:
    """Run every registered task at ``now``; returns each one's result, or ``{"error": ...}``."""
    results: dict[str, Any] = {}
    for spec in _clock().tasks:
        try:
            results[spec.name] = spec.run(now)
        except Exception as error:
            db.session.rollback()
            log.exception("periodic task failed", extra={"event": "periodic_task_failed", "task": spec.name})
            results[spec.name] = {"error": type(error).__name__}
    return results


def tick(now: datetime | None = None) -> dict[str, Any]:
    """One pass of the clock at ``now`` (default: the current time)."""
    return run_all(now or utcnow())


def _interval(app: Flask) -> float:
    return float(app.config.get("SYNC_SCHEDULER_INTERVAL", 60))


def _enabled(config: Any) -> bool:
    return bool(config.get("SYNC_SCHEDULER_ENABLED", True))


# --- embedded: a thread in the web process ----------------------------------------------------


class EmbeddedClock:
    """A daemon thread that calls ``tick`` every ``interval`` seconds in an app context."""

    def __init__(self, app: Flask, interval: float) -> None:
        self.app, self.interval = app, interval
        self.started_at = utcnow()
        self.last_tick_at: datetime | None = None
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="clinic-clock", daemon=True)

    def start(self) -> EmbeddedClock:
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
                        self._recover()
                    tick()
            except Exception:  # keep ticking: a database hiccup must not stop the clock for good
                log.exception("clock tick crashed", extra={"event": "clock_crashed"})
            first = False
            self.last_tick_at = utcnow()
            self._stopping.wait(self.interval)

    def _recover(self) -> None:
        for spec in _clock(self.app).tasks:
            if spec.on_embedded_start is None:
                continue
            try:
                spec.on_embedded_start(self.started_at)
            except Exception:
                db.session.rollback()
                log.exception("clock start-up failed", extra={"event": "clock_start_failed", "task": spec.name})


_embedded: tuple[int, EmbeddedClock] | None = None  # (pid, clock): one per process
_embedded_lock = threading.Lock()


def embedded_wanted(config: Any) -> bool:
    return config.get("JOBS_BACKEND") == "thread" and not config.get("TESTING", False) and _enabled(config)


def embedded_clock() -> EmbeddedClock | None:
    """This process's clock thread (a forked child has none of its parent's threads)."""
    if _embedded is None or _embedded[0] != os.getpid():
        return None
    return _embedded[1]


def start_embedded(app: Flask) -> EmbeddedClock:
    """Start this process's clock thread unless it runs already."""
    global _embedded
    with _embedded_lock:
        running = embedded_clock()
        if running is not None and running.alive:
            return running
        clock = EmbeddedClock(app, _interval(app)).start()
        _embedded = (os.getpid(), clock)
        return clock


def install(app: Flask) -> None:
    """Called by ``create_app``: in the embedded default, the first request starts the thread."""
    if not embedded_wanted(app.config):
        return

    @app.before_request
    def _start_clock() -> None:
        if embedded_clock() is None:
            start_embedded(app)


# --- production: a self-rescheduling RQ job ---------------------------------------------------


def _chain_ttl(app: Flask) -> int:
    return int(3 * _interval(app)) + 1


def _enqueue_tick(app: Flask, chain: str, delay: float | None) -> None:
    queue = redis_queue.rq_queue(app, "default")
    options: dict[str, Any] = {"job_timeout": 300, "result_ttl": 600, "failure_ttl": 24 * 3600}
    options["description"] = "clock tick"
    entry = _clock(app).rq_entry
    if delay is None:
        queue.enqueue(entry, chain, **options)
    else:
        queue.enqueue_in(timedelta(seconds=delay), entry, chain, **options)


def start_rq_chain(app: Flask) -> bool:
    """Begin the tick chain unless one is alive; True when this call began it. For ``flask worker``."""
    if app.config["JOBS_BACKEND"] != "rq" or not _enabled(app.config):
        return False
    chain = secrets.token_hex(8)
    if not redis_queue.redis_connection(app).set(CHAIN_KEY, chain, nx=True, ex=_chain_ttl(app)):
        return False
    _enqueue_tick(app, chain, delay=None)
    log.info("clock chain started", extra={"event": "clock_chain_started"})
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
    """The RQ job, in an app context: one tick (if no other worker ticked in this interval), then
    the next one queued."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    redis, interval, ttl = redis_queue.redis_connection(app), _interval(app), _chain_ttl(app)
    if not _own_chain(redis, chain, ttl):
        log.info("clock chain superseded", extra={"event": "clock_chain_ended"})
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
    """``{"active", "backend", "last_tick_at"}``: whether the clock is really ticking."""
    if not _enabled(app.config):
        return {"active": False, "backend": "off", "last_tick_at": None}
    backend = app.config["JOBS_BACKEND"]
    if backend == "rq":
        try:
            raw = redis_queue.redis_connection(app).get(LAST_TICK_KEY)
        except Exception:  # Redis down: nothing is ticking that we can see
            return {"active": False, "backend": "rq", "last_tick_at": None}
        last = datetime.fromisoformat(raw.decode().replace("Z", "+00:00")) if raw else None
        recent = last is not None and utcnow() - last <= timedelta(seconds=_chain_ttl(app))
        return {"active": recent, "backend": "rq", "last_tick_at": last}
    if backend == "thread":
        clock = embedded_clock()
        alive = clock is not None and clock.alive
        return {"active": alive, "backend": "thread", "last_tick_at": clock.last_tick_at if clock else None}
    return {"active": False, "backend": "off", "last_tick_at": None}
