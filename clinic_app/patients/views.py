"""Patient pages: the searchable list, registration and edit forms, archive and unarchive. Thin:
parse, call the service, render; htmx requests get the fragment the page includes. The record
page and its export download, which show other features too, are the chart's
(``clinic_app.chart.views``); the helpers below serve its templates as well."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.auth.identity import current_identity
from clinic_app.core.access import requires
from clinic_app.core.crypto import Unreadable
from clinic_app.core.errors import Invalid
from clinic_app.core.memo import per_request
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import in_zone, organization_zone
from clinic_app.core.web import done, is_htmx, render_confirm, render_page
from clinic_app.patients import bp, display, service
from clinic_app.patients.forms import PatientForm, unplaced_phones
from clinic_app.patients.search import SORTS, STATUSES
from clinic_app.patients.validation import PHONE_TYPES, SEX_CHOICES, format_phone

STATUS_LABELS = {"active": "Active", "archived": "Archived", "all": "All"}
SORT_LABELS = {"name": "Name", "recent": "Recently added"}


@bp.context_processor
def _patient_template_helpers() -> dict[str, Any]:
    zone = organization_zone(current_organization_id()) if _in_organization() else None

    def local_time(value: datetime | None) -> str:
        if value is None:
            return ""
        return (in_zone(value, zone) if zone else value).strftime("%d %b %Y, %H:%M")

    return {
        "patient_url": _patient_url,
        "is_unreadable": lambda value: isinstance(value, Unreadable),
        "format_phone": format_phone,
        "long_date": display.long_date,
        "shown": display.shown,
        "birth_date": display.birth_date,
        "phone": display.phone,
        "local_time": local_time,
        "sex_labels": SEX_CHOICES,
        "phone_types": PHONE_TYPES,
        "page_url": page_url,
    }


_ID_SLOT = "patient-id-slot"


def _patient_url(patient_id: str) -> str:
    """The record page's address; the route is built once per request, not once per row."""
    memo = per_request("patient_url")
    if memo is None:
        return url_for("patients.detail", patient_id=patient_id)
    if "template" not in memo:
        memo["template"] = url_for("patients.detail", patient_id=_ID_SLOT)
    return memo["template"].replace(_ID_SLOT, patient_id)


def _in_organization() -> bool:
    identity = current_identity()
    return identity is not None and identity.organization_id is not None


# --- the list ---------------------------------------------------------------------------------


@bp.get("/patients")
@requires("patients:read")
def index() -> ResponseReturnValue:
    organization_id = current_organization_id()
    q = request.args.get("q", "").strip()[:200]
    status = request.args.get("status", "active")
    status = status if status in STATUSES else "active"
    sort = request.args.get("sort", "name")
    sort = sort if sort in SORTS else "name"
    search = {
        "q": q,
        "status": status,
        "sort": sort,
        "actor": current_actor(),
    }
    try:
        page = service.search_patients(organization_id, cursor=request.args.get("cursor") or None, **search)
    except Invalid:  # a stale or hand-edited cursor: start from the first page
        page = service.search_patients(organization_id, **search)
    context = {
        "results": page,
        "q": q,
        "status_labels": STATUS_LABELS,
        "sort_labels": SORT_LABELS,
        "today": service.local_today(organization_id),
    }
    response = make_response(render_page("patients/list.html", "patients/_results.html", **context))
    if page.query_kind in ("email", "phone"):
        # Names may sit in the address bar; e-mail addresses and phone numbers stay out of history.
        response.headers["HX-Push-Url"] = "false"
    return response


def page_url(page: service.PatientPage, q: str, cursor: str | None) -> str:
    return url_for("patients.index", q=q or None, status=page.status, sort=page.sort, cursor=cursor)


# --- one patient ------------------------------------------------------------------------------


def _form_page(template: str, form: PatientForm, status: int, **context: Any) -> ResponseReturnValue:
    partial = render_page(template, "patients/_form.html", form=form, **context)
    return partial, status


def _saved(patient_id: str, message: str) -> ResponseReturnValue:
    return done(message, url_for("patients.detail", patient_id=patient_id))


@bp.route("/patients/new", methods=["GET", "POST"])
@requires("patients:write")
def new() -> ResponseReturnValue:
    organization_id = current_organization_id()
    form = PatientForm()
    context: dict[str, Any] = {"action": url_for("patients.new"), "patient": None}
    if request.method == "GET":
        return _form_page("patients/new.html", form, 200, **context)
    raw, phone_origins = form.raw()
    try:
        data = service.validate_for(organization_id, raw)
    except Invalid as error:
        form.show_errors(error.errors, phone_origins)
        return _form_page("patients/new.html", form, 422, **context)
    if request.form.get("register_anyway") != "yes":
        duplicates = service.possible_duplicates(
            organization_id,
            first_name=data.first_name,
            last_name=data.last_name,
            date_of_birth=data.date_of_birth,
            phones=data.phones,
            email=data.email,
        )
        if duplicates:
            return _form_page("patients/new.html", form, 409, duplicates=duplicates, **context)
    patient = service.create_patient(organization_id, data, actor=current_actor())
    return _saved(patient.id, f"{patient.first_name} {patient.last_name} was registered.")


@bp.route("/patients/<patient_id>/edit", methods=["GET", "POST"])
@requires("patients:write")
def edit(patient_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    on_show = request.method == "GET"
    current = service.view_patient(organization_id, patient_id, actor=current_actor(), record_view=on_show)
    form = PatientForm()
    context: dict[str, Any] = {
        "action": url_for("patients.edit", patient_id=patient_id),
        "patient": current,
        "kept_phones": unplaced_phones(current),
    }
    if on_show:
        form.fill(current)
        return _form_page("patients/edit.html", form, 200, **context)
    raw, phone_origins = form.raw(current)
    try:
        data = service.validate_for(organization_id, raw, partial=True)
    except Invalid as error:
        form.show_errors(error.errors, phone_origins)
        return _form_page("patients/edit.html", form, 422, **context)
    changed = service.update_patient(organization_id, patient_id, data, actor=current_actor())
    return _saved(patient_id, "Saved." if changed else "Nothing was changed.")


# --- archive and unarchive --------------------------------------------------------------------


def _archive_answer(patient_id: str, *, archive: bool) -> ResponseReturnValue:
    organization_id = current_organization_id()
    patient = service.get_patient(organization_id, patient_id)
    name = f"{patient.first_name} {patient.last_name}"
    if request.form.get("confirmed") != "yes":
        # htmx buttons ask with hx-confirm and send confirmed=yes; a plain form gets this page.
        return render_confirm(
            title="Archive patient" if archive else "Restore patient",
            question=(
                f"Archive {name}? They leave the active list; nothing is deleted and you can restore them."
                if archive
                else f"Restore {name} to the active list?"
            ),
            button="Archive" if archive else "Restore",
            back=url_for("patients.detail", patient_id=patient_id),
            back_label="Cancel",
            danger=archive,
        )
    change = service.archive_patient if archive else service.unarchive_patient
    patient = change(organization_id, patient_id, actor=current_actor())
    message = f"{name} was archived." if archive else f"{name} is active again."
    if is_htmx():
        response = make_response(render_template("patients/_status.html", patient=patient, notice=message))
        response.headers["HX-Trigger"] = json.dumps({"patient-changed": {"message": message}})
        return response
    return done(message, url_for("patients.detail", patient_id=patient_id))


@bp.post("/patients/<patient_id>/archive")
@requires("patients:write")
def archive(patient_id: str) -> ResponseReturnValue:
    return _archive_answer(patient_id, archive=True)


@bp.post("/patients/<patient_id>/unarchive")
@requires("patients:write")
def unarchive(patient_id: str) -> ResponseReturnValue:
    return _archive_answer(patient_id, archive=False)
