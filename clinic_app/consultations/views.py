"""Consultation pages: start a session (from the patient page or the Today list), the session page
(stop with notes, cancel, transcript paste and upload, medication plan), a patient's history, and
the sections other pages include. Thin: parse, call the service, render; an htmx request gets the
fragment the page includes.

Receptionists and practice admins see that consultations happened (date, type, status,
clinician); the chief complaint, notes, plan and transcripts are shown only to callers with
``clinical:read``, and the transcript URLs answer 404 to everyone else.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import g, make_response, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.auth.identity import current_identity
from clinic_app.consultations import bp, queries, service, stt, transcript_pages
from clinic_app.consultations.forms import (
    EMPTY_MEDICATION_ROWS,
    MEDICATION_LABELS,
    MEDICATION_LIMITS,
    SESSION_TYPE_LABELS,
    AudioForm,
    StartForm,
    StopForm,
    TranscriptForm,
    medication_rows,
    row_errors,
)
from clinic_app.consultations.models import IN_PROGRESS
from clinic_app.consultations.transcript_store import MAX_PER_SESSION
from clinic_app.consultations.transcripts import MAX_CHARACTERS, format_timestamp
from clinic_app.core.access import requires
from clinic_app.core.errors import Conflict, FieldError, Invalid, Unavailable
from clinic_app.core.tenancy import current_actor, current_organization_id, current_user_id
from clinic_app.core.time import in_zone, organization_zone
from clinic_app.core.web import done, is_htmx, put_errors, render_confirm, render_page
from clinic_app.patients import service as patients

CHANGED = "consultation-changed"
STATUS_LABELS = {"in_progress": "In progress", "completed": "Completed", "cancelled": "Cancelled"}
SOURCE_LABELS = {"paste": "Pasted text", "txt": "Text file", "vtt": "WebVTT file", "srt": "SRT file", "audio": "Audio"}
PATIENT_SECTION_LIMIT = 5


def _can(permission: str) -> bool:
    identity = current_identity()
    return identity is not None and identity.organization_id is not None and identity.can(permission)


def _local_time(value: datetime | None, pattern: str = "%d %b %Y, %H:%M") -> str:
    if value is None:
        return ""
    if "consultation_zone" not in g:
        g.consultation_zone = organization_zone(current_organization_id())
    return in_zone(value, g.consultation_zone).strftime(pattern)


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@bp.app_context_processor
def _consultation_template_helpers() -> dict[str, Any]:
    # The patient page and the Today list include this feature's sections, rendered outside this
    # blueprint: they take their data and labels from here.
    return {
        "consultation_time": _local_time,
        "consultation_duration": _duration,
        "consultation_status_labels": STATUS_LABELS,
        "session_type_labels": SESSION_TYPE_LABELS,
        "load_patient_consultations": _patient_consultations,
        "consultation_for_appointment": _for_appointment,
    }


def _patient_consultations(patient_id: str) -> queries.HistoryPage | None:
    """The latest few sessions for the patient page's section (None for callers who may not see them)."""
    if not _can("consultations:read"):
        return None
    cache = g.setdefault("patient_consultations", {})
    if patient_id not in cache:
        cache[patient_id] = queries.history(
            current_organization_id(),
            patient_id,
            clinical=_can("clinical:read"),
            actor=current_actor(),
            limit=PATIENT_SECTION_LIMIT,
            channel="patient_page",
        )
    return cache[patient_id]


def _for_appointment(appointment_id: str | None) -> tuple[str, str] | None:
    if not appointment_id or not _can("consultations:read"):
        return None
    return queries.session_for_appointment(current_organization_id(), str(appointment_id))


def _answer(page: str, partial: str, code: int = 200, **context: Any) -> ResponseReturnValue:
    response = make_response(render_page(page, partial, **context), code)
    if code < 300 and request.method == "POST" and is_htmx():
        response.headers["HX-Trigger"] = json.dumps({CHANGED: True})
    return response


def _go(target: str, message: str | None = None) -> ResponseReturnValue:
    return done(message, target)


# --- start ------------------------------------------------------------------------------------------


@bp.route("/patients/<patient_id>/consultations/new", methods=["GET", "POST"])
@requires("consultations:write")
def start(patient_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    patient = patients.get_patient(organization_id, patient_id)
    form = StartForm()
    form.clinician_id.choices = queries.clinician_choices(organization_id)
    running = queries.in_progress_for(organization_id, patient.id)
    context = {"patient": patient, "form": form, "running": running}
    if request.method == "GET":
        form.appointment_id.data = request.args.get("appointment_id", "")[:40]
        me = current_user_id()
        form.clinician_id.data = me if any(me == value for value, _ in form.clinician_id.choices) else ""
        form.session_type.data = queries.suggested_session_type(organization_id, patient.id)
        return _answer("consultations/start.html", "consultations/_start_form.html", **context)
    try:
        session = service.start_session(
            organization_id,
            patient_id=patient.id,
            clinician_id=form.clinician_id.data,
            chief_complaint=form.chief_complaint.data,
            session_type=form.session_type.data,
            appointment_id=form.appointment_id.data,
            actor=current_actor(),
        )
    except Invalid as error:
        put_errors(form, error.errors)
        return _answer("consultations/start.html", "consultations/_start_form.html", 422, **context)
    except Conflict as error:
        return done(error.detail, url_for("consultations.detail", session_id=error.extra["consultation_id"]), "warning")
    return _go(url_for("consultations.detail", session_id=session.id), f"Consultation {session.session_code} started.")


# --- history ----------------------------------------------------------------------------------------


@bp.get("/patients/<patient_id>/consultations")
@requires("consultations:read")
def history(patient_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    patient = patients.get_patient(organization_id, patient_id)
    arguments = {"clinical": _can("clinical:read"), "actor": current_actor()}
    try:
        page = queries.history(organization_id, patient.id, cursor=request.args.get("cursor") or None, **arguments)
    except Invalid:  # a stale or hand-edited cursor: start from the first page
        page = queries.history(organization_id, patient.id, **arguments)
    return _answer("consultations/history.html", "consultations/_history.html", patient=patient, history=page)


# --- the session page -------------------------------------------------------------------------------


def _session_context(ref: str, **extra: Any) -> dict[str, Any]:
    organization_id = current_organization_id()
    detail = queries.view_session(organization_id, ref, clinical=_can("clinical:read"), actor=current_actor())
    plan = detail.facts.medication_plan if detail.facts else []
    context: dict[str, Any] = {
        "detail": detail,
        "session": detail.session,
        **_transcript_preview(detail),
        "stop_form": StopForm(formdata=None),
        "transcript_form": TranscriptForm(formdata=None),
        "audio_form": AudioForm(formdata=None),
        "stt_configured": stt.configured(),
        "plan_rows": [*plan, *({} for _ in range(EMPTY_MEDICATION_ROWS))],
        "plan_errors": {},
        "plan_notice": None,
        "transcript_notice": None,
    }
    context.update(extra)
    return context


def _transcript_preview(detail: queries.SessionDetail) -> dict[str, Any]:
    """The start of each transcript part for the session page, and where each part that goes on
    continues on the transcript page."""
    if not detail.transcripts:
        return {"transcript_preview": [], "transcript_rest": {}}
    base = url_for("consultations.transcript", session_id=detail.session.id)
    starts = transcript_pages.first_pages(transcript_pages.paginate(detail.transcripts))
    rest = {part.id: f"{base}?page={starts.get(part.id, 1)}#part-{part.sequence}" for part in detail.transcripts}
    return {"transcript_preview": transcript_pages.preview(detail.transcripts), "transcript_rest": rest}


@bp.context_processor
def _session_page_helpers() -> dict[str, Any]:
    return {
        "transcripts_max": MAX_PER_SESSION,
        "transcript_characters_max": MAX_CHARACTERS,
        "source_labels": SOURCE_LABELS,
        "medication_labels": MEDICATION_LABELS,
        "medication_limits": MEDICATION_LIMITS,
        "timestamp": format_timestamp,
        "in_progress": IN_PROGRESS,
    }


@bp.get("/consultations/<session_id>")
@requires("consultations:read")
def detail(session_id: str) -> ResponseReturnValue:
    return _answer("consultations/session.html", "consultations/_session.html", **_session_context(session_id))


@bp.post("/consultations/<session_id>/stop")
@requires("consultations:write")
def stop(session_id: str) -> ResponseReturnValue:
    form = StopForm()
    try:
        session = service.stop_session(
            current_organization_id(), session_id, notes=form.notes.data, actor=current_actor()
        )
    except Invalid as error:
        put_errors(form, error.errors)
        context = _session_context(session_id, stop_form=form)
        return _answer("consultations/session.html", "consultations/_session.html", 422, **context)
    message = f"Consultation {session.session_code} stopped after {_duration(session.duration_seconds)}."
    if is_htmx():
        return _answer(
            "consultations/session.html", "consultations/_session.html", notice=message, **_session_context(session.id)
        )
    return _go(url_for("consultations.detail", session_id=session.id), message)


@bp.post("/consultations/<session_id>/cancel")
@requires("consultations:write")
def cancel(session_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    session = service.get_session(organization_id, session_id)
    if request.form.get("confirmed") != "yes":
        # htmx buttons ask with hx-confirm and send confirmed=yes; a plain form gets this page.
        return render_confirm(
            title=f"Cancel consultation {session.session_code}?",
            question="The consultation is marked cancelled and can no longer be stopped, changed or given a "
            "transcript. What was recorded stays readable.",
            button="Cancel consultation",
            back=url_for("consultations.detail", session_id=session.id),
        )
    session = service.cancel_session(organization_id, session.id, actor=current_actor())
    return _go(
        url_for("consultations.detail", session_id=session.id), f"Consultation {session.session_code} was cancelled."
    )


# --- transcripts ------------------------------------------------------------------------------------


@bp.get("/consultations/<session_id>/transcript")
@requires("clinical:read", hide=True)
def transcript(session_id: str) -> ResponseReturnValue:
    number = request.args.get("page", "1")
    number = int(number) if number.isdigit() and len(number) < 7 else 1
    session, views = queries.view_transcripts(current_organization_id(), session_id, actor=current_actor())
    page = transcript_pages.page_of(views, number)
    return _answer(
        "consultations/transcript.html",
        "consultations/_transcript_text.html",
        session=session,
        transcripts=views,
        excerpts=page.parts,
        transcript_page=page,
    )


@bp.post("/consultations/<session_id>/transcript")
@requires("consultations:write", hide=True)
def add_transcript(session_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    session = service.get_session(organization_id, session_id)
    audio = "audio" in request.files
    form = AudioForm() if audio else TranscriptForm()
    upload = request.files.get("audio" if audio else "file")
    file = None
    if upload is not None and upload.filename:
        file = service.UploadedFile(upload.filename, upload.read(), upload.mimetype)
    text = None if audio else request.form.get("text")
    try:
        added = service.add_transcript(organization_id, session, text=text, file=file, actor=current_actor())
    except (Invalid, Unavailable) as error:
        # An outage of the transcription service is said in words beside the form, like a bad file.
        errors = error.errors if isinstance(error, Invalid) else [FieldError("form", error.detail)]
        put_errors(form, errors, renames={"file": "audio"} if audio else None)
        key = "audio_form" if audio else "transcript_form"
        context = _session_context(session.id, **{key: form})
        return _answer("consultations/session.html", "consultations/_transcript.html", error.status, **context)
    notice = f"Transcript added: {added.word_count:,} words in {added.segment_count:,} passages."
    if not is_htmx():
        return _go(url_for("consultations.detail", session_id=session.id, _anchor="transcript"), notice)
    return _answer(
        "consultations/session.html",
        "consultations/_transcript.html",
        **_session_context(session.id, transcript_notice=notice),
    )


# --- medication plan --------------------------------------------------------------------------------


@bp.post("/consultations/<session_id>/medication-plan")
@requires("consultations:write", hide=True)
def medication_plan(session_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    session = service.get_session(organization_id, session_id)
    rows = medication_rows(request.form)
    page, partial = "consultations/session.html", "consultations/_medication_plan.html"
    if request.form.get("action") == "add_row":  # one more blank row; nothing is saved yet
        return _answer(page, partial, **_session_context(session.id, plan_rows=[*rows, {}]))
    try:
        saved = service.set_medication_plan(organization_id, session, rows, actor=current_actor())
    except Invalid as error:
        placed, other = row_errors(error.errors)
        context = _session_context(session.id, plan_rows=rows, plan_errors=placed, plan_problems=other)
        return _answer(page, partial, 422, **context)
    notice = f"Medication plan saved ({len(saved)} medication{'' if len(saved) == 1 else 's'})."
    if not is_htmx():
        return _go(url_for("consultations.detail", session_id=session.id, _anchor="medication-plan"), notice)
    return _answer(page, partial, **_session_context(session.id, plan_notice=notice))
