"""Starting, reading and cancelling jobs on behalf of a person or API client."""

from __future__ import annotations

from clinic_app.core import jobs
from clinic_app.core.errors import NotFound
from clinic_app.extensions import db
from clinic_app.jobs.demo import DEMO_KIND


def start_demo(*, steps: int, delay_seconds: float, organization_id: str | None, actor_id: str | None) -> jobs.Job:
    """Queue the demonstration job. Raises Unavailable when the queue is down."""
    return jobs.enqueue(
        DEMO_KIND,
        organization_id=organization_id,
        created_by_id=actor_id,
        steps=steps,
        delay_seconds=delay_seconds,
    )


def get_job(job_id: str, *, organization_id: str | None) -> jobs.Job:
    """The job, if it belongs to ``organization_id``; NotFound otherwise (never another tenant's)."""
    job = db.session.get(jobs.Job, job_id)
    if job is None or job.organization_id != organization_id:
        raise NotFound("No such job.")
    return job


def cancel(job_id: str, *, organization_id: str | None) -> jobs.Job:
    """Ask the job to stop. Raises NotFound, or Conflict when it already finished."""
    job = get_job(job_id, organization_id=organization_id)
    jobs.request_cancel(job)
    db.session.flush()
    return job
