"""The re-engagement worklist page, "Mark contacted" and the CSV export.
Thin: parse, call the service, render; htmx requests get the fragment the page includes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.auth.identity import current_identity
from clinic_app.core import audit
from clinic_app.core.access import requires
from clinic_app.core.errors import Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import in_zone, organization_zone, utcnow
from clinic_app.core.web import is_htmx, render_page
from clinic_app.engagement import bp, worklist, worklist_csv
from clinic_app.figures import contacts, rules

RISK_LABELS = {"high": "High", "medium": "Medium", "low": "Low"}
OUTCOME_LABELS = {
    rules.REACHED_BOOKED: "Reached: booked",
    rules.REACHED_DECLINED: "Reached: declined",
    rules.LEFT_MESSAGE: "Left a message",
    rules.NO_ANSWER: "No answer",
    rules.WRONG_NUMBER: "Wrong number",
    rules.DO_NOT_CONTACT: "Do not contact",
}


@bp.context_processor
def _engagement_template_helpers() -> dict[str, Any]:
    def local(value: datetime | None, tz: Any, pattern: str = "%d %b %Y") -> str:
        return in_zone(value, tz).strftime(pattern) if value is not None else ""

    return {
        "local": local,
        "risk_labels": RISK_LABELS,
        "outcome_labels": OUTCOME_LABELS,
        "filter_labels": worklist.FILTER_LABELS,
        "worklist_url": worklist_url,
    }


def worklist_url(risk: str, cursor: str | None = None, before: str | None = None) -> str:
    """The worklist for ``risk``: the page after ``cursor``, the page before ``before``, or the first."""
    risk_arg = None if risk == worklist.DEFAULT_FILTER else risk
    return url_for("engagement.index", risk=risk_arg, cursor=cursor, before=before)


def _can_contact() -> bool:
    identity = current_identity()
    return identity is not None and identity.can("engagement:write")


@bp.get("/engagement")
@requires("dashboard:read")
def index() -> str:
    args = request.args
    page = worklist.worklist_page(
        current_organization_id(), risk=args.get("risk"), cursor=args.get("cursor"), before=args.get("before")
    )
    return render_page(
        "engagement/worklist.html", "engagement/_worklist.html", results=page, can_contact=_can_contact()
    )


@bp.post("/engagement/patients/<patient_id>/contact")
@requires("engagement:write")
def contact(patient_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    outcome, note = request.form.get("outcome"), request.form.get("note")
    try:
        recorded = contacts.record_contact(
            organization_id, patient_id, outcome=outcome, note=note, actor=current_actor()
        )
    except Invalid as error:
        if not is_htmx():
            flash(str(error.detail), "error")
            return redirect(url_for("engagement.index"), code=303)
        errors = {item.field: item.message for item in error.errors}
        row = worklist.patient_row(organization_id, patient_id)
        html = render_template(
            "engagement/_row.html",
            row=row,
            tz=organization_zone(organization_id),
            can_contact=True,
            errors=errors,
            form={"outcome": outcome or "", "note": note or ""},
        )
        return html, 422
    label = OUTCOME_LABELS[recorded.outcome].lower()
    message = f"Contact recorded ({label}). The patient leaves the list until something changes."
    if is_htmx():
        # The row is replaced by nothing (it leaves the list); the notice goes to #alerts.
        return render_template("engagement/_contacted.html", message=message)
    flash(message, "success")
    return redirect(url_for("engagement.index"), code=303)


@bp.get("/engagement/export.csv")
@requires("dashboard:read")
def export_csv() -> Response:
    organization_id = current_organization_id()
    risk = worklist.normalise_filter(request.args.get("risk"))
    rows = worklist.all_rows(organization_id, risk=risk)
    text, count = worklist_csv.csv_text(rows, organization_zone(organization_id))
    audit.record(
        "engagement.exported",
        organization_id=organization_id,
        actor=current_actor(),
        target_type="worklist",
        details={"risk": risk, "rows": count},
    )
    response = make_response(text)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    stamp = utcnow().strftime("%Y%m%d")
    response.headers["Content-Disposition"] = f'attachment; filename="re-engagement-{risk}-{stamp}.csv"'
    return response
