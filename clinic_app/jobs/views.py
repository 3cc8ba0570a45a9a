from __future__ import annotations

from flask import Response, redirect, render_template, url_for

from clinic_app.core.access import requires
from clinic_app.core.identity import current_identity
from clinic_app.core.tenancy import current_organization_id
from clinic_app.core.web import is_htmx, render_page
from clinic_app.jobs import bp, service


def _can(permission: str) -> bool:
    identity = current_identity()
    return identity is not None and identity.can(permission)


@bp.get("/jobs/<job_id>")
@requires("jobs:read")
def detail(job_id: str) -> str:
    job = service.get_job(job_id, organization_id=current_organization_id(), can=_can)
    return render_page("jobs/detail.html", "jobs/_job.html", job=job, may_cancel=service.may_cancel(job, can=_can))


@bp.post("/jobs/<job_id>/cancel")
@requires("jobs:read")
def cancel(job_id: str) -> Response | str:
    job = service.cancel(job_id, organization_id=current_organization_id(), can=_can)
    if is_htmx():
        return render_template("jobs/_job.html", job=job, may_cancel=service.may_cancel(job, can=_can))
    return redirect(url_for("jobs.detail", job_id=job.id), code=303)
