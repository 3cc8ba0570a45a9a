"""Intake pages: start or resume an intake, its four steps, autosave, and picking symptoms.

Thin: parse the form, load the draft (another organization's is a 404), call the service, render.
Each step is one URL serving the full page or, for htmx, the ``#intake-step`` fragment; a step
that moves on answers with the next step's fragment and ``HX-Push-Url`` (a plain POST gets a 303
to it), so the address bar always names the step on screen and a reload shows what was saved.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import abort, g, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.auth.identity import current_identity
from clinic_app.core.access import requires
from clinic_app.core.errors import Conflict, FieldError, Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id, current_user_id
from clinic_app.core.time import in_zone, organization_zone
from clinic_app.core.web import done, is_htmx, render_page
from clinic_app.intake import bp, service
from clinic_app.intake.models import DRAFT, SUBMITTED, IntakeDraft
from clinic_app.intake.validation import (
    FREQUENCIES,
    INFORMANTS,
    PRESENTING_FIELDS,
    SEVERITIES,
    SYMPTOM_DETAIL_FIELDS,
    UNITS,
)
from clinic_app.patients import consent
from clinic_app.patients.consent import ConsentInput
from clinic_app.patients.validation import SEX_CHOICES
from clinic_app.symptoms import service as symptoms

SEARCH_LIMIT = 15
_SYMPTOM_FIELD = re.compile(r"symptoms-([0-9a-f]{8})-([a-z_]+)")


@bp.context_processor
def _intake_template_helpers() -> dict[str, Any]:
    return {
        "steps": service.STEPS,
        "step_labels": service.STEP_LABELS,
        "severities": SEVERITIES,
        "frequencies": FREQUENCIES,
        "units": UNITS,
        "informant_choices": INFORMANTS,
        "sex_choices": SEX_CHOICES,
        "local_time": _local_time,
        "symptom_fields": _symptom_fields,
        "consent_labels": consent.KINDS,
        "consents_required": _consents_required,
    }


def _consents_required() -> tuple[str, ...]:
    return consent.required_at_intake(current_organization_id())


def _symptom_fields(entry: dict[str, Any], errors: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """A chosen symptom's values and messages keyed by its form field names (symptoms-<key>-<field>)."""
    key = entry["key"]
    values = {f"symptoms-{key}-{name}": entry.get(name, "") for name in SYMPTOM_DETAIL_FIELDS}
    messages = {
        f"symptoms-{key}-{name}": errors[f"symptoms.{key}.{name}"]
        for name in SYMPTOM_DETAIL_FIELDS
        if f"symptoms.{key}.{name}" in errors
    }
    return values, messages


@bp.app_context_processor
def _patient_page_hooks() -> dict[str, Any]:
    # The patient page includes intake/_patient_intake.html and _patient_symptoms.html, rendered
    # outside this blueprint: they load their data through this (once per request, and only for
    # callers who may read patients) and take their labels from here.
    return {
        "load_intake_summary": _intake_summary,
        "intake_labels": {"severity": SEVERITIES, "frequency": FREQUENCIES, "informants": INFORMANTS},
        "intake_local_time": _local_time,
    }


def _intake_summary(patient_id: str) -> service.IntakeSummary | None:
    identity = current_identity()
    if identity is None or identity.organization_id is None or not identity.can("patients:read"):
        return None
    cache = g.setdefault("intake_summaries", {})
    if patient_id not in cache:
        cache[patient_id] = service.summary_for(identity.organization_id, patient_id)
    return cache[patient_id]


def _local_time(value: datetime | None) -> str:
    """A time in the organization's time zone, as the pages write times."""
    if value is None:
        return ""
    if "intake_zone" not in g:
        g.intake_zone = organization_zone(current_organization_id())
    return in_zone(value, g.intake_zone).strftime("%d %b %Y, %H:%M")


# --- start or resume ------------------------------------------------------------------------------


@bp.get("/intake")
@requires("intake:write")
def index() -> ResponseReturnValue:
    drafts = service.unfinished_drafts(current_organization_id())
    return render_template("intake/index.html", drafts=drafts, me=current_user_id())


@bp.post("/intake")
@requires("intake:write")
def start() -> ResponseReturnValue:
    draft = service.start_draft(current_organization_id(), actor=current_actor())
    return redirect(url_for("intake.step", draft_id=draft.id, step=service.DEMOGRAPHICS), code=303)


@bp.post("/intake/<draft_id>/discard")
@requires("intake:write")
def discard(draft_id: str) -> ResponseReturnValue:
    draft = service.get_draft(current_organization_id(), draft_id, for_update=True)
    if draft.status == SUBMITTED:
        return _to_patient(draft)
    service.discard(draft, actor=current_actor())
    return done("The intake was discarded.", url_for("intake.index"))


# --- the steps ----------------------------------------------------------------------------------


def _open_draft(draft_id: str, step: str, *, for_update: bool = False) -> IntakeDraft:
    if step not in service.STEPS:
        abort(404)
    return service.get_draft(current_organization_id(), draft_id, for_update=for_update)


def _to_patient(draft: IntakeDraft) -> ResponseReturnValue:
    if draft.submitted_patient_id is None:  # its patient has since been deleted
        target = url_for("intake.index")
    else:
        target = url_for("patients.detail", patient_id=draft.submitted_patient_id)
    return done("This intake has already been submitted.", target, "info")


def _error_map(errors: list[FieldError]) -> dict[str, str]:
    messages: dict[str, str] = {}
    for error in errors:
        messages[error.field] = f"{messages[error.field]} {error.message}" if error.field in messages else error.message
    return messages


def _render_step(
    draft: IntakeDraft,
    step: str,
    status: int = 200,
    *,
    errors: list[FieldError] | None = None,
    posted: Any = None,
    **context: Any,
) -> ResponseReturnValue:
    answers = service.draft_answers(draft)
    if step == service.DEMOGRAPHICS:
        values: Any = posted if posted is not None else answers.demographics
    elif step == service.PRESENTING:
        values = posted if posted is not None else answers.presenting
    else:
        values = {}
    chosen = answers.symptoms
    if step == service.SYMPTOMS and posted is not None:
        chosen = [{**entry, **posted.get(entry["key"], {})} for entry in answers.symptoms]
    if step == service.REVIEW:
        context.setdefault("problems", service.draft_problems(draft))
        context.setdefault("duplicates", service.duplicates_for(draft))
    page = render_page(
        "intake/step.html",
        "intake/_step.html",
        draft=draft,
        step=step,
        answers=answers,
        values=values,
        chosen=chosen,
        errors=_error_map(errors or []),
        **context,
    )
    response = make_response(page, status)
    return response


def _moved_to(draft: IntakeDraft, step: str) -> ResponseReturnValue:
    target = url_for("intake.step", draft_id=draft.id, step=step)
    if not is_htmx():
        return redirect(target, code=303)
    response = _render_step(draft, step)
    response.headers["HX-Push-Url"] = target  # type: ignore[union-attr]
    return response


def _posted(step: str) -> dict[str, Any]:
    """The step's fields from the form, in the shape ``service.save_step`` takes."""
    form = request.form
    if step == service.DEMOGRAPHICS:
        return {name: form.get(name, "") for name in service.DEMOGRAPHIC_FIELDS}
    if step == service.PRESENTING:
        raw: dict[str, Any] = {name: form.get(name, "") for name in PRESENTING_FIELDS}
        raw["informants"] = form.getlist("informants")
        return raw
    details: dict[str, dict[str, str]] = {}
    for name, value in form.items():
        match = _SYMPTOM_FIELD.fullmatch(name)
        if match and match.group(2) in SYMPTOM_DETAIL_FIELDS:
            details.setdefault(match.group(1), {})[match.group(2)] = value
    return {"symptoms": details}


@bp.get("/intake/<draft_id>/<step>")
@requires("intake:write")
def step(draft_id: str, step: str) -> ResponseReturnValue:
    draft = _open_draft(draft_id, step)
    if draft.status == SUBMITTED:
        return _to_patient(draft)
    context: dict[str, Any] = {}
    if step == service.SYMPTOMS:
        context["q"] = request.args.get("q", "").strip()[: symptoms.QUERY_MAX_LENGTH]
        if context["q"]:
            context["results"] = symptoms.search(current_organization_id(), context["q"], limit=SEARCH_LIMIT)
    return _render_step(draft, step, **context)


@bp.post("/intake/<draft_id>/<step>")
@requires("intake:write")
def save(draft_id: str, step: str) -> ResponseReturnValue:
    draft = _open_draft(draft_id, step, for_update=True)
    if draft.status == SUBMITTED:
        return _to_patient(draft)
    if step == service.REVIEW:
        return _submit(draft)
    index = service.STEPS.index(step)
    raw = _posted(step)
    if request.form.get("go") == "back":
        service.autosave(draft, step, raw)  # keep what is valid; the rest waits for the way back
        return _moved_to(draft, service.STEPS[max(index - 1, 0)])
    try:
        service.save_step(draft, step, raw)
    except Invalid as error:
        posted = raw["symptoms"] if step == service.SYMPTOMS else raw
        return _render_step(draft, step, 422, errors=error.errors, posted=posted)
    return _moved_to(draft, service.STEPS[index + 1])


def _posted_consents() -> list[ConsentInput]:
    """The consents ticked on the review page, to the version of the text typed there."""
    version = request.form.get("consent_text_version", "")[:100]
    given = []
    for kind in request.form.getlist("consent")[: len(consent.KINDS)]:
        given.append(consent.validate_consent({"kind": kind, "text_version": version, "method": "written"}))
    return given


def _submit(draft: IntakeDraft) -> ResponseReturnValue:
    was_open = draft.status == DRAFT
    name = service.draft_answers(draft).name
    try:
        given = _posted_consents()
        patient = service.submit(
            draft, create_anyway=request.form.get("create_anyway") == "yes", actor=current_actor(), consents=given
        )
    except Invalid as error:
        consent_errors = [e for e in error.errors if e.field == "consents" or e.field in ("kind", "text_version")]
        if consent_errors and len(consent_errors) == len(error.errors):
            return _render_step(draft, service.REVIEW, 422, consent_errors=consent_errors)
        return _render_step(draft, service.REVIEW, 422, problems=error.errors)
    except Conflict as conflict:
        if "duplicates" not in conflict.extra:
            raise
        return _render_step(draft, service.REVIEW, 409)  # the page lists them, with "Create anyway"
    target = url_for("patients.detail", patient_id=patient.id)
    if was_open:
        return done(f"{name} was registered.", target)
    return done(None, target)


@bp.post("/intake/<draft_id>/<step>/autosave")
@requires("intake:write")
def autosave(draft_id: str, step: str) -> ResponseReturnValue:
    draft = _open_draft(draft_id, step, for_update=True)
    if draft.status != DRAFT:
        return render_template("intake/_autosave_status.html", submitted=True)
    problems = service.autosave(draft, step, _posted(step))
    if not is_htmx():
        return redirect(url_for("intake.step", draft_id=draft.id, step=step), code=303)
    return render_template("intake/_autosave_status.html", problems=_error_map(problems), saved_at=draft.updated_at)


# --- choosing symptoms --------------------------------------------------------------------------


@bp.get("/intake/<draft_id>/symptoms/search")
@requires("intake:write")
def symptom_search(draft_id: str) -> ResponseReturnValue:
    draft = _open_draft(draft_id, service.SYMPTOMS)
    q = request.args.get("q", "").strip()[: symptoms.QUERY_MAX_LENGTH]
    if not is_htmx():
        return redirect(url_for("intake.step", draft_id=draft.id, step=service.SYMPTOMS, q=q or None))
    results = symptoms.search(current_organization_id(), q, limit=SEARCH_LIMIT) if q else None
    return render_template("intake/_symptom_results.html", draft=draft, q=q, results=results)


def _symptom_answer(
    draft: IntakeDraft, notice: str, *, entry: dict[str, Any] | None = None, status: int = 200, removed: bool = False
) -> ResponseReturnValue:
    """A new list entry (swapped onto the end of the list) with the notice out of band; or, with
    nothing to add, the notice alone in place of the old one; or, for a removal, an empty answer
    (the entry's fieldset is the target) with the notice out of band."""
    if not is_htmx():
        target = url_for("intake.step", draft_id=draft.id, step=service.SYMPTOMS)
        return done(notice, target, "success" if status < 400 else "error")
    alone = entry is None and not removed
    html = render_template(
        "intake/_symptom_added.html", draft=draft, entry=entry, notice=notice, error=status >= 400, oob=not alone
    )
    response = make_response(html, status)
    if alone:
        response.headers["HX-Retarget"] = "#symptom-notice"
        response.headers["HX-Reswap"] = "outerHTML"
    return response


@bp.post("/intake/<draft_id>/symptoms/add")
@requires("intake:write")
def add_symptom(draft_id: str) -> ResponseReturnValue:
    draft = _open_draft(draft_id, service.SYMPTOMS, for_update=True)
    if draft.status == SUBMITTED:
        return _to_patient(draft)
    try:
        entry, added = service.add_draft_symptom(
            draft,
            symptom_id=request.form.get("symptom_id") or None,
            custom_name=request.form.get("custom_name"),
            actor=current_actor(),
        )
    except Invalid as error:
        return _symptom_answer(draft, " ".join(e.message for e in error.errors), status=422)
    if not added:
        return _symptom_answer(draft, f"“{entry['name']}” is already on the list.")
    typed = " ".join(request.form.get("custom_name", "").split())
    notice = f"Added “{entry['name']}”."
    if typed and entry["code"]:
        notice = f"“{entry['name']}” is in the ICD-11 list as {entry['code']}: added that."
    return _symptom_answer(draft, notice, entry=entry)


@bp.post("/intake/<draft_id>/symptoms/remove")
@requires("intake:write")
def remove_symptom(draft_id: str) -> ResponseReturnValue:
    draft = _open_draft(draft_id, service.SYMPTOMS, for_update=True)
    if draft.status == SUBMITTED:
        return _to_patient(draft)
    # The whole form comes along: keep what was typed for the other symptoms first.
    service.autosave(draft, service.SYMPTOMS, _posted(service.SYMPTOMS))
    key = request.form.get("remove", "")
    entry = service.draft_answers(draft).symptom(key)
    if entry is None or not service.remove_draft_symptom(draft, key):
        return _symptom_answer(draft, "That symptom was not on the list.")
    return _symptom_answer(draft, f"Removed “{entry['name']}”.", removed=True)
