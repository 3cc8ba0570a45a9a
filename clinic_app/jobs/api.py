from __future__ import annotations

from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.tenancy import current_organization_id, current_user_id
from clinic_app.jobs import bp, service
from clinic_app.jobs.schemas import DemoJobRequest, JobOut


@api_route(
    bp,
    "/api/v1/jobs/demo",
    methods=("POST",),
    body=DemoJobRequest,
    response=JobOut,
    status=202,
    summary="Start the demonstration job",
    tags=("jobs",),
    extra_statuses={503: "The job queue is unavailable"},
)
@requires("jobs:run")
def start_demo_job(body: DemoJobRequest) -> JobOut:
    job = service.start_demo(
        steps=body.steps,
        delay_seconds=body.delay_seconds,
        organization_id=current_organization_id(),
        actor_id=current_user_id(),
    )
    return JobOut.model_validate(job)


@api_route(bp, "/api/v1/jobs/<job_id>", response=JobOut, summary="A job's status and progress", tags=("jobs",))
@requires("jobs:read")
def get_job(job_id: str) -> JobOut:
    return JobOut.model_validate(service.get_job(job_id, organization_id=current_organization_id()))
