"""The operator pages under ``/operator``: system health, queues and failed jobs (retry, discard),
organizations by counts, retention runs. Operators only; everyone else gets 404."""

from __future__ import annotations

from flask import request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.core import audit
from clinic_app.core.access import operator_only
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.identity import current_identity
from clinic_app.core.web import done, render_page
from clinic_app.operators import bp, retention, service
from clinic_app.operators.system_health import Scope, system_health


def _actor() -> audit.Actor:
    identity = current_identity()
    return identity.actor if identity else audit.Actor()


@bp.get("/operator/")
@operator_only
def overview() -> str:
    return render_page(
        "operators/overview.html",
        "operators/_health.html",
        health=system_health(Scope(None)),
        failed_jobs=service.failed_jobs(),
    )


@bp.get("/operator/organizations")
@operator_only
def organizations() -> str:
    return render_page(
        "operators/organizations.html", "operators/_organizations.html", organizations=service.organization_counts()
    )


@bp.get("/operator/retention")
@operator_only
def retention_runs() -> str:
    return render_page(
        "operators/retention.html",
        "operators/_retention.html",
        runs=retention.recent_runs(),
        kinds=retention.KINDS,
    )


@bp.post("/operator/jobs/<job_id>/retry")
@operator_only
def retry_job(job_id: str) -> ResponseReturnValue:
    again = service.retry_job(job_id, actor=_actor())
    return done(f"Queued again as {again.id}.", url_for("operators.overview"))


@bp.post("/operator/jobs/<job_id>/discard")
@operator_only
def discard_job(job_id: str) -> ResponseReturnValue:
    service.discard_job(job_id, actor=_actor())
    return done("The failed job was discarded.", url_for("operators.overview"))


@bp.post("/operator/retention/run")
@operator_only
def run_retention() -> ResponseReturnValue:
    """A dry run (counts) or, with ``apply``, the clean-up, of the whole installation now."""
    raw = (request.form.get("days_old") or "").strip()
    if raw and not raw.isdigit():
        raise Invalid(errors=[FieldError("days_old", "A whole number of days.")])
    apply = request.form.get("apply") == "1"
    run = retention.run_cleanup(
        organization_id=None, days_old=int(raw) if raw else None, dry_run=not apply, actor=_actor()
    )
    return done("; ".join(retention.describe(run)) or "Nothing to clean up.", url_for("operators.retention_runs"))
