from __future__ import annotations

from flask import Response, redirect, render_template, url_for

from clinic_app.core.access import requires
from clinic_app.core.tenancy import current_organization_id, current_user_id
from clinic_app.core.web import is_htmx, render_page
from clinic_app.jobs import bp, service
from clinic_app.jobs.forms import DemoJobForm


@bp.get("/jobs/demo")
@requires("jobs:read")
def demo() -> str:
    return render_page("jobs/demo.html", "jobs/_demo_form.html", form=DemoJobForm())


@bp.post("/jobs/demo")
@requires("jobs:run")
def start_demo() -> Response | tuple[str, int] | str:
    form = DemoJobForm()
    if not form.validate_on_submit():
        return render_page("jobs/demo.html", "jobs/_demo_form.html", form=form), 422
    job = service.start_demo(
        steps=form.steps.data,
        delay_seconds=float(form.delay_seconds.data),
        organization_id=current_organization_id(),
        actor_id=current_user_id(),
    )
    if is_htmx():
        return render_template("jobs/_job.html", job=job)
    return redirect(url_for("jobs.detail", job_id=job.id), code=303)


@bp.get("/jobs/<job_id>")
@requires("jobs:read")
def detail(job_id: str) -> str:
    job = service.get_job(job_id, organization_id=current_organization_id())
    return render_page("jobs/detail.html", "jobs/_job.html", job=job)


@bp.post("/jobs/<job_id>/cancel")
@requires("jobs:run")
def cancel(job_id: str) -> Response | str:
    job = service.cancel(job_id, organization_id=current_organization_id())
    if is_htmx():
        return render_template("jobs/_job.html", job=job)
    return redirect(url_for("jobs.detail", job_id=job.id), code=303)
