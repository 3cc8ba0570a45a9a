"""The audit chain's verification over JSON (``admin:audit``): start a run, read the checkpoint.

``POST /api/v1/audit/verify`` answers 202 with the job (a new one, or the one already running:
never two at once) and its status URL in ``Location``; ``GET /api/v1/audit/verification`` shows
the checkpoint, the last run's outcome and the run in progress, without reading the chain.
"""

from __future__ import annotations

from flask import Response, url_for

from clinic_app.audit import bp, verification
from clinic_app.audit.schemas import ChainProblemOut, VerificationJobOut, VerificationOut, VerificationStartOut
from clinic_app.core.access import requires
from clinic_app.core.api import api_route, json_response
from clinic_app.core.tenancy import current_actor, current_organization_id

TAGS = ("audit",)


@api_route(
    bp,
    "/api/v1/audit/verify",
    methods=("POST",),
    response=VerificationStartOut,
    status=202,
    summary="Verify the organization's audit chain",
    description="Queues a background check of the events recorded since the last checkpoint. While one is queued "
    "or running, answers with that one and `started: false`. Poll `verification_url` (or `job_url`) until the run "
    "ends. Recorded as `audit.verification_started`.",
    tags=TAGS,
    extra_statuses={503: "The job queue is unavailable"},
)
@requires("admin:audit")
def api_start_verification() -> Response:
    job, started = verification.start_verification(current_organization_id(), actor=current_actor())
    job_url = f"/api/v1/jobs/{job.id}"
    body = VerificationStartOut(
        job_id=job.id,
        started=started,
        status=job.status,
        job_url=job_url,
        verification_url=url_for("audit.api_verification"),
    )
    response = json_response(body.model_dump(mode="json"), 202)
    response.headers["Location"] = job_url
    return response


@api_route(
    bp,
    "/api/v1/audit/verification",
    response=VerificationOut,
    summary="The audit chain's checkpoint and last verification",
    description="Read from the checkpoint (the chain is not read): the events up to `verified_seq` were intact when "
    "it was taken; `events_since` have not been verified yet. `state` is `broken` when the last run found a problem.",
    tags=TAGS,
)
@requires("admin:audit")
def api_verification() -> VerificationOut:
    status = verification.verification_status(current_organization_id())
    checkpoint, job = status.checkpoint, status.running
    problem = None
    if checkpoint is not None and checkpoint.problem_seq is not None:
        problem = ChainProblemOut(
            seq=checkpoint.problem_seq, event_id=checkpoint.problem_event_id, detail=checkpoint.problem or ""
        )
    return VerificationOut(
        state=status.state,  # type: ignore[arg-type]
        verified_seq=status.verified_seq,
        verified_hash=checkpoint.verified_hash if checkpoint else verification.GENESIS,
        verified_at=checkpoint.verified_at if checkpoint else None,
        verified_by_id=checkpoint.verified_by_id if checkpoint else None,
        checked_at=checkpoint.checked_at if checkpoint else None,
        checked_by_id=checkpoint.checked_by_id if checkpoint else None,
        events_checked=checkpoint.events_checked if checkpoint else 0,
        latest_seq=status.latest_seq,
        events_since=status.events_since,
        problem=problem,
        running_job=VerificationJobOut.model_validate(job) if job else None,
    )
