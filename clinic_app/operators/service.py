"""What the operator pages show and do: failed jobs (retry, discard) and each organization's
counts. Nothing here reads a patient's details: the pages show counts and job kinds only."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from clinic_app.core import audit, jobs
from clinic_app.core.errors import Conflict, NotFound
from clinic_app.extensions import db
from clinic_app.orgs.models import Membership, Organization
from clinic_app.patients.models import Patient
from clinic_app.sync.models import ClinikoConnection

FAILED_JOBS_SHOWN = 100


def failed_jobs(limit: int = FAILED_JOBS_SHOWN) -> list[jobs.Job]:
    """The most recent failed jobs of the installation (their error text names no patient: jobs
    take ids, and their errors are exception names and messages)."""
    query = select(jobs.Job).where(jobs.Job.status == jobs.FAILED).order_by(jobs.Job.finished_at.desc()).limit(limit)
    return list(db.session.scalars(query))


def _failed(job_id: str) -> jobs.Job:
    job = db.session.get(jobs.Job, job_id)
    if job is None:
        raise NotFound("There is no such job.")
    if job.status != jobs.FAILED:
        raise Conflict("Only a failed job can be retried or discarded.")
    return job


def retry_job(job_id: str, *, actor: audit.Actor) -> jobs.Job:
    """Queue a new job of the failed one's kind with its arguments (jobs are idempotent), and
    mark the failed one discarded so it is retried once. Raises NotFound or Conflict."""
    job = _failed(job_id)
    again = jobs.enqueue(job.kind, organization_id=job.organization_id, created_by_id=None, **dict(job.params or {}))
    job.status, job.message = jobs.CANCELLED, f"Retried as {again.id}"
    audit.record(
        "operator.job_retried", organization_id=None, actor=actor, target_type="job", target_id=job.id,
        details={"kind": job.kind, "new_job_id": again.id},
    )  # fmt: skip
    return again


def discard_job(job_id: str, *, actor: audit.Actor) -> None:
    """Remove a failed job's row. Raises NotFound or Conflict."""
    job = _failed(job_id)
    audit.record(
        "operator.job_discarded", organization_id=None, actor=actor, target_type="job", target_id=job.id,
        details={"kind": job.kind},
    )  # fmt: skip
    db.session.delete(job)
    db.session.flush()


@dataclass
class OrganizationCounts:
    id: str
    created_at: object
    is_active: bool
    members: int
    patients: int
    cliniko_connected: bool
    jobs_failed: int


def organization_counts() -> list[OrganizationCounts]:
    """Each organization by its id with counts only: no name of a patient (nor of the clinic)."""

    def grouped(column, *where):  # type: ignore[no-untyped-def]
        rows = db.session.execute(select(column, func.count()).where(*where).group_by(column)).all()
        return dict(rows)

    members = grouped(Membership.organization_id, Membership.is_active.is_(True))
    patients = grouped(Patient.organization_id)
    failed = grouped(jobs.Job.organization_id, jobs.Job.status == jobs.FAILED)
    connected = set(db.session.scalars(select(ClinikoConnection.organization_id)))
    return [
        OrganizationCounts(
            id=org.id,
            created_at=org.created_at,
            is_active=org.is_active,
            members=members.get(org.id, 0),
            patients=patients.get(org.id, 0),
            cliniko_connected=org.id in connected,
            jobs_failed=failed.get(org.id, 0),
        )
        for org in db.session.scalars(select(Organization).order_by(Organization.created_at))
    ]
