"""What an RQ worker process calls: the composition root's side of the job queue.

RQ runs a job by importing a function by its dotted name and calling it with JSON-safe
arguments. The functions here give the process an app (``flask worker`` already has one in
context; a bare ``rq worker`` gets one built once, from the environment) and hand over to core:
``run_job`` to ``core.jobs.run_job``, ``clock_tick`` to ``core.periodic.rq_tick``. This module
stands above the composition root (it imports ``create_app``, as ``wsgi.py`` does); ``create_app``
names these entries by their dotted names when it registers the app's jobs and periodic tasks
(``clinic_app.RUN_JOB`` and ``clinic_app.CLOCK_TICK``, the same strings as here).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, has_app_context

from clinic_app import CLOCK_TICK, RUN_JOB, create_app
from clinic_app.core import jobs, periodic

__all__ = ["CLOCK_TICK", "RUN_JOB", "clock_tick", "run_job"]

_worker_app: Flask | None = None


def _app() -> Flask:
    """The app a bare ``rq worker`` process runs jobs in, built on first use."""
    global _worker_app
    if _worker_app is None:
        _worker_app = create_app()
    return _worker_app


def run_job(job_id: str) -> None:
    """Run one job (RQ's entry). Safe to call twice for the same id."""
    if has_app_context():
        jobs.run_job(job_id)
        return
    with _app().app_context():
        jobs.run_job(job_id)


def clock_tick(chain: str) -> dict[str, Any] | None:
    """One tick of the app's clock and the next one queued (RQ's entry)."""
    if has_app_context():
        return periodic.rq_tick(chain)
    with _app().app_context():
        return periodic.rq_tick(chain)
