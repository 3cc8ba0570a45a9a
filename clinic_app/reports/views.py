"""Report pages: the list, requesting a draft, the review page (transcript beside the draft,
per-section autosave, the diff against the generated draft, signing, amending) and its progress
while the draft is written. Thin: parse, call the service, render; htmx requests get fragments.

Everything here shows or changes clinical content, so every route is ``hide=True``: a
receptionist or practice admin gets 404 for a report's URL exactly as for one that does not
exist. The template admin pages are in ``template_views``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.auth.identity import current_identity
from clinic_app.consultations import service as consultations
from clinic_app.core import jobs
from clinic_app.core.access import requires
from clinic_app.core.errors import Conflict, Invalid, NotFound
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import in_zone, organization_zone
from clinic_app.core.web import done, is_htmx, put_errors, render_page
from clinic_app.extensions import db
from clinic_app.patients import service as patients
from clinic_app.profiles import service as profiles
from clinic_app.reports import (
    bp,
    queries,
    service,
    template_views,  # noqa: F401  (attaches the template admin routes)
    templates_service,
)
from clinic_app.reports.forms import GenerateForm, SignForm
from clinic_app.reports.generation.base import format_timestamp
from clinic_app.reports.models import DRAFT, GENERATING, PENDING, SIGNED, STATUS_LABELS, STATUSES

PAGE_SIZE = 25


def _can(permission: str) -> bool:
    identity = current_identity()
    return identity is not None and identity.can(permission)


def _local_time(value: datetime | None, pattern: str = "%d %b %Y, %H:%M") -> str:
    if value is None:
        return ""
    if "reports_zone" not in g:
        g.reports_zone = organization_zone(current_organization_id())
    return in_zone(value, g.reports_zone).strftime(pattern)


def _timestamp(seconds: float | None) -> str:
    return format_timestamp(seconds) or ""


@bp.app_context_processor
def _report_template_helpers() -> dict[str, Any]:
    # The patient page (and the consultation page) include reports partials rendered outside this
    # blueprint: they load their data through these.
    return {
        "load_patient_reports": _patient_reports,
        "load_session_reports": _session_reports,
        "report_status_labels": STATUS_LABELS,
        "report_local_time": _local_time,
        "report_timestamp": _timestamp,
    }


def _patient_reports(patient_id: str) -> queries.ReportPage | None:
    identity = current_identity()
    if identity is None or identity.organization_id is None or not identity.can("clinical:read"):
        return None
    return queries.list_reports(
        identity.organization_id, actor=current_actor(), patient_id=patient_id, limit=5, record=False
    )


def _session_reports(session_id: str) -> dict[str, Any] | None:
    identity = current_identity()
    if identity is None or identity.organization_id is None or not identity.can("clinical:read"):
        return None
    page = queries.list_reports(
        identity.organization_id, actor=current_actor(), session_id=session_id, limit=20, record=False
    )
    templates = templates_service.list_templates(identity.organization_id) if identity.can("reports:write") else []
    return {"page": page, "templates": templates}


# --- the list -----------------------------------------------------------------------------------


@bp.get("/reports")
@requires("clinical:read", hide=True)
def index() -> ResponseReturnValue:
    organization_id = current_organization_id()
    status = request.args.get("status") or None
    status = status if status in STATUSES else None
    patient_id = request.args.get("patient_id") or None
    patient_name = None
    if patient_id:
        try:
            patient = patients.get_patient(organization_id, patient_id)
            patient_name = f"{patient.first_name} {patient.last_name}"
        except NotFound:
            patient_id = None
    query = {"actor": current_actor(), "status": status, "patient_id": patient_id, "limit": PAGE_SIZE}
    try:
        page = queries.list_reports(organization_id, cursor=request.args.get("cursor") or None, **query)
    except Invalid:  # a stale or hand-edited cursor: start from the first page
        page = queries.list_reports(organization_id, **query)
    return render_page(
        "reports/list.html",
        "reports/_list.html",
        results=page,
        patient_name=patient_name,
        statuses=STATUSES,
        first_page=bool(request.args.get("cursor")),
    )


# --- requesting a draft -------------------------------------------------------------------------


def _generate_form_page(form: GenerateForm, session_ref: str, status: int = 200) -> ResponseReturnValue:
    organization_id = current_organization_id()
    session = consultations.get_session(organization_id, session_ref)
    facts = consultations.session_facts(session)
    templates = templates_service.list_templates(organization_id)
    form.template_id.choices = [(t.template.id, t.template.name) for t in templates]
    if not form.template_id.data:  # the clinician's own default (their profile), else the practice's
        preferred = profiles.preferred_template_id(organization_id, current_actor().user_id)
        form.template_id.data = next((t.template.id for t in templates if t.template.id == preferred), None) or next(
            (t.template.id for t in templates if t.template.is_default), None
        )
    form.session.data = session.id
    existing = queries.list_reports(organization_id, actor=current_actor(), session_id=session.id, record=False)
    patient = patients.get_patient(organization_id, session.patient_id)
    body = render_page(
        "reports/new.html",
        "reports/_generate_form.html",
        form=form,
        facts=facts,
        patient=patient,
        existing=existing,
    )
    return body, status


@bp.get("/reports/new")
@requires("reports:write", hide=True)
def new() -> ResponseReturnValue:
    session_ref = request.args.get("session", "")
    if not session_ref:
        raise NotFound("Choose a consultation to report on.")
    return _generate_form_page(GenerateForm(formdata=None), session_ref)


@bp.post("/reports/new")
@requires("reports:write", hide=True)
def generate() -> ResponseReturnValue:
    form = GenerateForm()
    session_ref = form.session.data or request.form.get("session_id", "")
    try:
        report = service.start_generation(
            current_organization_id(),
            session_ref,
            actor=current_actor(),
            template_id=form.template_id.data or None,
            additional_notes=form.additional_notes.data,
            patient_progress=form.patient_progress.data,
        )
    except Invalid as error:
        put_errors(form, error.errors)
        return _generate_form_page(form, session_ref, 422)
    return _go(url_for("reports.review", report_id=report.id))


def _go(target: str, message: str | None = None, category: str = "success") -> ResponseReturnValue:
    return done(message, target, category)


# --- the review page ----------------------------------------------------------------------------


def _job_of(report: Any) -> jobs.Job | None:
    return db.session.get(jobs.Job, report.job_id) if report.job_id else None


def _review_context(report_id: str, **extra: Any) -> dict[str, Any]:
    organization_id, actor = current_organization_id(), current_actor()
    view = queries.view_report(organization_id, report_id, actor=actor)
    transcript = None
    if view.status in (DRAFT, SIGNED):
        transcript = queries.transcript_for(organization_id, view.report, actor=actor)
    context = {
        "view": view,
        "job": _job_of(view.report),
        "transcript": transcript,
        "sign_form": SignForm(formdata=None),
        "may_edit": view.status == DRAFT and _can("reports:write"),
        "may_sign": view.status == DRAFT and _can("reports:sign"),
        "may_amend": view.status == SIGNED and view.amended_by_id is None and _can("reports:write"),
        "may_export": _can("reports:export"),
        "sign_error": None,
    }
    context.update(extra)
    return context


@bp.get("/reports/<report_id>")
@requires("clinical:read", hide=True)
def review(report_id: str) -> ResponseReturnValue:
    return render_page("reports/review.html", "reports/_review.html", **_review_context(report_id))


@bp.get("/reports/<report_id>/progress")
@requires("clinical:read", hide=True)
def progress(report_id: str) -> ResponseReturnValue:
    report = service.get_report(current_organization_id(), report_id)
    if report.status not in (PENDING, GENERATING):
        if not is_htmx():
            return redirect(url_for("reports.review", report_id=report.id), code=303)
        response = make_response("", 200)
        response.headers["HX-Refresh"] = "true"  # the draft is ready: show the whole review page
        return response
    return render_template("reports/_progress.html", report=report, job=_job_of(report))


@bp.post("/reports/<report_id>/retry")
@requires("reports:write", hide=True)
def retry(report_id: str) -> ResponseReturnValue:
    try:
        service.retry_generation(current_organization_id(), report_id, actor=current_actor())
    except Conflict as error:
        return _go(url_for("reports.review", report_id=report_id), error.detail, "warning")
    return _go(url_for("reports.review", report_id=report_id))


def _revision_from_form() -> int | None:
    try:
        return int(request.form.get("revision", ""))
    except ValueError:
        return None


@bp.post("/reports/<report_id>/sections")
@requires("reports:write", hide=True)
def save_section(report_id: str) -> ResponseReturnValue:
    """Autosave of one section (htmx), or a plain form post of one section."""
    organization_id = current_organization_id()
    key = request.form.get("section", "")
    text = request.form.get("text", "")
    try:
        report = service.save_sections(
            organization_id, report_id, {key: text}, expected_revision=_revision_from_form(), actor=current_actor()
        )
    except (Conflict, Invalid) as error:
        if not is_htmx():
            return _go(url_for("reports.review", report_id=report_id), error.detail, "error")
        status = 409 if isinstance(error, Conflict) else 422
        message = error.errors[0].message if isinstance(error, Invalid) and error.errors else error.detail
        return render_template(
            "reports/_save_status.html", state="conflict" if status == 409 else "invalid", message=message
        ), status
    if not is_htmx():
        return _go(url_for("reports.review", report_id=report_id), "Saved.")
    view = queries.build_view(report)
    section = next((s for s in view.sections if s.key == key), None)
    return render_template("reports/_save_status.html", state="saved", view=view, section=section)


@bp.get("/reports/<report_id>/diff")
@requires("clinical:read", hide=True)
def diff(report_id: str) -> ResponseReturnValue:
    """The changes against the generated draft (the review page refreshes it after each save)."""
    if not is_htmx():
        report = service.get_report(current_organization_id(), report_id)
        return redirect(url_for("reports.review", report_id=report.id, _anchor="report-diff"), code=303)
    view = queries.view_report(current_organization_id(), report_id, actor=current_actor())
    return render_template("reports/_diff.html", view=view)


@bp.post("/reports/<report_id>/sign")
@requires("reports:sign", hide=True)
def sign(report_id: str) -> ResponseReturnValue:
    identity = current_identity()
    form = SignForm()
    try:
        service.sign_report(
            current_organization_id(),
            report_id,
            password=form.password.data,
            signer=identity.user if identity else None,
            actor=current_actor(),
            expected_revision=_revision_from_form(),
        )
    except service.TooManyAttempts as error:
        # The form stays in view with the reason, like a wrong password's.
        form.password.errors = [error.detail]
        context = _review_context(report_id, sign_form=form, sign_error=None)
        return render_page("reports/review.html", "reports/_review.html", **context), error.status
    except (Invalid, Conflict) as error:
        status = 422 if isinstance(error, Invalid) else 409
        if status == 409 and service.get_report(current_organization_id(), report_id).status != DRAFT:
            # Signed meanwhile (another tab, a double click): the page has no sign form to carry
            # the message, so it travels with the redirect.
            return _go(url_for("reports.review", report_id=report_id), error.detail, "warning")
        if isinstance(error, Invalid):
            form.password.errors = [e.message for e in error.errors if e.field == "password"] or [error.detail]
        context = _review_context(report_id, sign_form=form, sign_error=None if status == 422 else error.detail)
        return render_page("reports/review.html", "reports/_review.html", **context), status
    return _go(url_for("reports.review", report_id=report_id), "The report is signed.")


@bp.post("/reports/<report_id>/amend")
@requires("reports:write", hide=True)
def amend(report_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    try:
        amendment = service.amend_report(organization_id, report_id, actor=current_actor())
    except Conflict as error:
        existing = error.extra.get("amendment_id")
        target = url_for("reports.review", report_id=existing or report_id)
        return _go(target, error.detail, "warning")
    return _go(
        url_for("reports.review", report_id=amendment.id),
        f"Amendment started: version {amendment.version}. The signed version {amendment.version - 1} stays as it was.",
    )
