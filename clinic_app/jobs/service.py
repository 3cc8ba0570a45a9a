"""Reading and cancelling jobs on behalf of a person or API client.

A job is visible only within its organization and only to a caller holding the read permission its
kind declares (``core.jobs.job_function``); anything else is NotFound, the same answer as for a job
that does not exist, so a job id confirms nothing. ``can`` is the caller's permission check
(``Identity.can``): the service never looks at the request.
"""

from __future__ import annotations

from collections.abc import Callable

from clinic_app.core import jobs
from clinic_app.core.errors import Forbidden, NotFound
from clinic_app.extensions import db

Permission = Callable[[str], bool]


def get_job(job_id: str, *, organization_id: str | None, can: Permission) -> jobs.Job:
    """The job, if it belongs to ``organization_id`` and its kind lets the caller see it.

    Raises NotFound otherwise (another tenant's job, a kind the caller may not see, a system job).
    """
    job = db.session.get(jobs.Job, job_id) if job_id else None
    if job is None or organization_id is None or job.organization_id != organization_id:
        raise NotFound("No such job.")
    if not jobs.may_read(job, can):
        raise NotFound("No such job.")
    return job


def may_cancel(job: jobs.Job, *, can: Permission) -> bool:
    """Whether the caller may cancel ``job`` (for showing the button)."""
    return jobs.may_cancel(job, can)


def cancel(job_id: str, *, organization_id: str | None, can: Permission) -> jobs.Job:
    """Ask the job to stop. Raises NotFound (as ``get_job``), Forbidden (the caller sees the job but
    its kind's cancel permission is not theirs), or Conflict when it already finished."""
    job = get_job(job_id, organization_id=organization_id, can=can)
    if not jobs.may_cancel(job, can):
        raise Forbidden("Your role may watch this job but not cancel it.")
    jobs.request_cancel(job)
    db.session.flush()
    return job
