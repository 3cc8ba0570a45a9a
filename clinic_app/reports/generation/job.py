"""The background job that writes a report's draft (queue ``reports``). It takes ids only; the
work itself is ``reports.drafting.run_generation``, which is idempotent."""

from __future__ import annotations

from typing import Any

from clinic_app.core.jobs import Job, JobContext, job_function
from clinic_app.extensions import db
from clinic_app.reports.drafting import run_generation
from clinic_app.reports.generation import JOB_KIND


# Report readers watch a draft being written; those who may write reports may stop it.
@job_function(
    JOB_KIND,
    queue="reports",
    timeout=300,
    retries=1,
    read_permission="clinical:read",
    cancel_permission="reports:write",
)
def generate_report(ctx: JobContext, report_id: str) -> dict[str, Any]:
    job = db.session.get(Job, ctx.job_id)  # the job row carries the organization it runs for
    return run_generation(ctx, job.organization_id if job and job.organization_id else "", report_id)
