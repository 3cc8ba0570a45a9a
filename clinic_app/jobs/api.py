from __future__ import annotations

from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.identity import current_identity
from clinic_app.core.tenancy import current_organization_id
from clinic_app.jobs import bp, service
from clinic_app.jobs.schemas import JobOut


def _can(permission: str) -> bool:
    identity = current_identity()
    return identity is not None and identity.can(permission)


@api_route(
    bp,
    "/api/v1/jobs/<job_id>",
    response=JobOut,
    summary="A job's status and progress",
    description="Each kind of job is visible with the permission of what it works on: report generation with "
    "`clinical:read`, a Cliniko sync with `sync:read`, an audit-trail verification with `admin:audit` "
    "(docs/permissions.md). Any other job, and another organization's, answers 404.",
    tags=("jobs",),
)
@requires("jobs:read")
def get_job(job_id: str) -> JobOut:
    return JobOut.model_validate(service.get_job(job_id, organization_id=current_organization_id(), can=_can))
