"""The owner's erasure pages (docs/retention.md, "Erasure"): the patient's erasure page (what
would be erased and kept, the export to download first, the request form with its second
confirmation, the waiting request with cancel and carry out) and the organization's privacy
settings. Thin: parse, call ``patients.erasure``, render."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.core.access import requires
from clinic_app.core.errors import FieldError, Invalid, NotFound
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import utcnow
from clinic_app.core.web import done, render_page
from clinic_app.orgs import privacy
from clinic_app.patients import bp, consent, erasure, service


def _page(patient_id: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    organization_id = current_organization_id()
    patient = service.get_patient(organization_id, patient_id)
    found = erasure.inventory(organization_id, patient.id) if patient.erased_at is None else None
    values: dict[str, Any] = {"errors": {}, "form": {}, **context}
    page = render_page(
        "patients/erasure.html",
        "patients/_erasure.html",
        patient=patient,
        inventory=found,
        requests=erasure.requests_of(organization_id, patient.id),
        waiting=erasure.waiting_request(organization_id, patient.id),
        reasons=erasure.REASONS,
        status_labels=erasure.STATUS_LABELS,
        waiting_days=privacy.privacy_settings(organization_id).erasure_waiting_days,
        note_of=erasure.note_of,
        now=utcnow(),
        **values,
    )
    return page, status


@bp.get("/patients/<patient_id>/erasure")
@requires("patients:erase")
def erasure_page(patient_id: str) -> ResponseReturnValue:
    return _page(patient_id)


@bp.post("/patients/<patient_id>/erasure")
@requires("patients:erase")
def request_erasure(patient_id: str) -> ResponseReturnValue:
    form = {name: request.form.get(name, "") for name in ("reason", "note", "confirm_name")}
    try:
        erasure.request_erasure(
            current_organization_id(),
            patient_id,
            reason=form["reason"] or None,
            note=form["note"],
            confirm_name=form["confirm_name"],
            actor=current_actor(),
        )
    except Invalid as error:
        return _page(patient_id, 422, errors=_by_field(error.errors), form=form)
    return done("The erasure was requested. It waits the organization's waiting period.", _here(patient_id))


def _by_field(errors: list[FieldError]) -> dict[str, str]:
    return {error.field: error.message for error in errors}


def _here(patient_id: str) -> str:
    return url_for("patients.erasure_page", patient_id=patient_id)


@bp.post("/patients/<patient_id>/erasure/<request_id>/cancel")
@requires("patients:erase")
def cancel_erasure(patient_id: str, request_id: str) -> ResponseReturnValue:
    _own_request(patient_id, request_id)
    erasure.cancel_erasure(current_organization_id(), request_id, actor=current_actor())
    return done("The erasure request was cancelled; nothing was erased.", _here(patient_id))


@bp.post("/patients/<patient_id>/erasure/<request_id>/carry-out")
@requires("patients:erase")
def carry_out_erasure(patient_id: str, request_id: str) -> ResponseReturnValue:
    _own_request(patient_id, request_id)
    erasure.carry_out(current_organization_id(), request_id, actor=current_actor())
    return done("The patient was erased. What the law keeps is listed below.", _here(patient_id))


def _own_request(patient_id: str, request_id: str) -> None:
    if erasure.get_request(current_organization_id(), request_id).patient_id != patient_id:
        raise NotFound("No such erasure request.")


@bp.route("/settings/privacy", methods=["GET", "POST"])
@requires("patients:erase")
def privacy_settings() -> ResponseReturnValue:
    organization_id = current_organization_id()
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        raw_days = request.form.get("erasure_waiting_days", "").strip()
        try:
            consent.set_privacy(
                organization_id,
                erasure_waiting_days=int(raw_days) if raw_days.isdigit() and len(raw_days) <= 3 else -1,
                consent_at_intake=request.form.getlist("consent_at_intake")[:20],
                actor=current_actor(),
            )
        except Invalid as error:
            errors, status = _by_field(error.errors), 422
        else:
            return done("Privacy settings saved.", url_for("patients.privacy_settings"))
    page = render_page(
        "patients/privacy_settings.html",
        "patients/_privacy_settings.html",
        settings=privacy.privacy_settings(organization_id),
        kinds=consent.KINDS,
        errors=errors,
        max_days=privacy.MAX_WAITING_DAYS,
    )
    return page, status
