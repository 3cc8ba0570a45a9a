"""What an RQ worker process calls: the composition root's side of the job queue.

RQ runs a job by importing a function by its dotted name and calling it with JSON-safe
arguments. The functions here give the process an app (``flask worker`` already has one in
context; a bare ``rq worker`` gets one built once, from the environment) and hand over to core:
``run_job`` to ``core.jobs.run_job``, ``clock_tick`` to ``core.periodic.rq_tick``. ``create_app``
names them when it registers the app's jobs and periodic tasks (``RUN_JOB``, ``CLOCK_TICK``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, has_app_context

from clinic_app.core import jobs, periodic

RUN_JOB = f"{__name__}.run_job"
CLOCK_TICK = f"{__name__}.clock_tick"

_worker_app: Flask | None = None


def _app() -> Flask:
    """The app a bare ``rq worker`` process runs jobs in, built on first use."""
    global _worker_app
    if _worker_app is None:
        from clinic_app import create_app  # the composition root builds the app on demand

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
