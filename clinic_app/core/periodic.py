"""Work the app does on the clock, beside the scheduled syncs.

The sync scheduler's tick (``clinic_app.sync.scheduler``) is the app's one clock: once a minute, in
exactly one place (the embedded thread, or the RQ chain in production). After its own work it runs
every task registered here with the same ``now``. A task decides for itself whether anything is
due (so a missed minute costs nothing), commits its own work, and must be cheap when nothing is
due. One task's failure is logged and rolled back; the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from clinic_app.extensions import db

log = logging.getLogger("clinic_app.periodic")

Task = Callable[[datetime], Any]
_tasks: dict[str, Task] = {}


def every_tick(name: str) -> Callable[[Task], Task]:
    """Register ``task(now)`` to run at every scheduler tick under ``name``."""

    def register(task: Task) -> Task:
        _tasks[name] = task
        return task

    return register


def run_all(now: datetime) -> dict[str, Any]:
    """Run every registered task at ``now``; returns each one's result, or ``{"error": ...}``."""
    results: dict[str, Any] = {}
    for name in sorted(_tasks):
        try:
            results[name] = _tasks[name](now)
        except Exception as error:
            db.session.rollback()
            log.exception("periodic task failed", extra={"event": "periodic_task_failed", "task": name})
            results[name] = {"error": type(error).__name__}
    return results
