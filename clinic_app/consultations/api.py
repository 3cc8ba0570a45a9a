"""The consultation JSON API under /api/v1/consultation: the seed system's start, stop, history and
detail, plus transcripts and the medication plan. ``session_id`` in a path takes the readable code
(``CS-…``) or the id (``con_…``). Another organization's ids answer 404; clinical fields are null
for callers without ``clinical:read``, and the transcript endpoints answer them 404."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import UnsupportedMediaType

from clinic_app.auth.identity import current_identity
from clinic_app.consultations import bp, queries, service
from clinic_app.consultations.schemas import (
    ConsultationDetailData,
    ConsultationDetailOut,
    ConsultationHistoryItem,
    ConsultationHistoryOut,
    ConsultationHistoryQuery,
    ConsultationMedication,
    ConsultationMedicationPlanData,
    ConsultationMedicationPlanIn,
    ConsultationMedicationPlanOut,
    ConsultationStartData,
    ConsultationStartIn,
    ConsultationStartOut,
    ConsultationStopData,
    ConsultationStopIn,
    ConsultationStopOut,
    ConsultationTranscriptAddedOut,
    ConsultationTranscriptData,
    ConsultationTranscriptIn,
    ConsultationTranscriptOut,
    ConsultationTranscriptPart,
    ConsultationTranscriptSummary,
    minutes,
)
from clinic_app.core import crypto
from clinic_app.core.access import requires
from clinic_app.core.api import api_route, parse_body
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id, current_user_id
from clinic_app.patients import service as patients

TAGS = ("consultations",)
API = "api"


def _clinical() -> bool:
    identity = current_identity()
    return identity is not None and identity.can("clinical:read")


def _renamed(error: Invalid, names: dict[str, str]) -> Invalid:
    return Invalid(errors=[FieldError(names.get(e.field, e.field), e.message, e.code) for e in error.errors])


@api_route(
    bp,
    "/api/v1/consultation/start",
    methods=("POST",),
    body=ConsultationStartIn,
    response=ConsultationStartOut,
    status=201,
    summary="Start a consultation",
    description="Starts a session now for a patient of your organization. `doctor_id` must be a clinician or owner "
    "of the organization (422 otherwise). A patient with a consultation already in progress answers 409 naming it. "
    "There is no live audio stream: `websocket_url` is always null; add the transcript afterwards.",
    tags=TAGS,
    extra_statuses={409: "A consultation with this patient is already in progress"},
)
@requires("consultations:write")
def api_start(body: ConsultationStartIn) -> ConsultationStartOut:
    organization_id = current_organization_id()
    doctor_id = body.doctor_id or current_user_id()
    try:
        session = service.start_session(
            organization_id,
            patient_id=body.patient_id,
            clinician_id=doctor_id,
            chief_complaint=body.chief_complaint,
            session_type=body.session_type,
            appointment_id=body.appointment_id,
            actor=current_actor(),
        )
    except Invalid as error:
        raise _renamed(error, {"clinician_id": "doctor_id"}) from None
    patient = patients.get_patient(organization_id, session.patient_id)
    return ConsultationStartOut(
        data=ConsultationStartData(
            session_id=session.session_code,
            consultation_id=session.id,
            patient_id=patient.id,
            patient_name=f"{patient.first_name} {patient.last_name}",
            doctor_id=session.clinician_id,
            session_type=session.session_type,
            status=session.status,
            started_at=session.started_at,
        )
    )


@api_route(
    bp,
    "/api/v1/consultation/<session_id>/stop",
    methods=("POST",),
    body=ConsultationStopIn,
    response=ConsultationStopOut,
    summary="Stop a consultation",
    description="Ends a session in progress: status `completed`, end time and duration set, optional closing notes "
    "kept encrypted. A session that is not in progress answers 409.",
    tags=TAGS,
    extra_statuses={409: "The consultation is not in progress"},
)
@requires("consultations:write")
def api_stop(session_id: str, body: ConsultationStopIn) -> ConsultationStopOut:
    session = service.stop_session(current_organization_id(), session_id, notes=body.notes, actor=current_actor())
    return ConsultationStopOut(
        data=ConsultationStopData(
            session_id=session.session_code,
            consultation_id=session.id,
            status=session.status,
            started_at=session.started_at,
            ended_at=session.ended_at,
            duration_seconds=session.duration_seconds,
            duration_minutes=minutes(session.duration_seconds),
        )
    )


@api_route(
    bp,
    "/api/v1/consultation/<session_id>/cancel",
    methods=("POST",),
    response=ConsultationStopOut,
    summary="Cancel a consultation",
    description="Marks a session in progress as cancelled (what was recorded stays). Not in progress: 409.",
    tags=TAGS,
    extra_statuses={409: "The consultation is not in progress"},
)
@requires("consultations:write")
def api_cancel(session_id: str) -> ConsultationStopOut:
    session = service.cancel_session(current_organization_id(), session_id, actor=current_actor())
    return ConsultationStopOut(
        data=ConsultationStopData(
            session_id=session.session_code,
            consultation_id=session.id,
            status=session.status,
            started_at=session.started_at,
            ended_at=session.ended_at,
            duration_seconds=session.duration_seconds,
            duration_minutes=minutes(session.duration_seconds),
        )
    )


@api_route(
    bp,
    "/api/v1/consultation/history/<patient_id>",
    paginated="cursor",
    query=ConsultationHistoryQuery,
    response=ConsultationHistoryOut,
    summary="A patient's consultations",
    description="Newest first, `limit` at a time: follow `next_cursor` while `has_more` is true. "
    "`chief_complaint` and `has_transcription` are null for callers without clinical access.",
    tags=TAGS,
)
@requires("consultations:read")
def api_history(patient_id: str, query: ConsultationHistoryQuery) -> ConsultationHistoryOut:
    page = queries.history(
        current_organization_id(),
        patient_id,
        clinical=_clinical(),
        actor=current_actor(),
        limit=query.limit,
        cursor=query.cursor,
        channel=API,
    )
    return ConsultationHistoryOut(
        patient_id=page.patient_id,
        total_consultations=page.total,
        consultations=[ConsultationHistoryItem.of(row) for row in page.rows],
        limit=page.limit,
        has_more=page.next_cursor is not None,
        next_cursor=page.next_cursor,
    )


@api_route(
    bp,
    "/api/v1/consultation/detail/<consultation_id>",
    response=ConsultationDetailOut,
    summary="One consultation",
    description="The session with its chief complaint, notes, medication plan and transcript list (the text is at "
    "GET /api/v1/consultation/{session_id}/transcript). Without clinical access those fields are null.",
    tags=TAGS,
)
@requires("consultations:read")
def api_detail(consultation_id: str) -> ConsultationDetailOut:
    clinical = _clinical()
    detail = queries.view_session(
        current_organization_id(), consultation_id, clinical=clinical, actor=current_actor(), channel=API
    )
    session, facts = detail.session, detail.facts
    return ConsultationDetailOut(
        data=ConsultationDetailData(
            id=session.id,
            session_id=session.session_code,
            patient_id=session.patient_id,
            patient_name=detail.patient_name,
            doctor_id=session.clinician_id,
            doctor_name=detail.clinician_name,
            session_type=session.session_type,
            status=session.status,
            created_at=session.created_at,
            started_at=session.started_at,
            ended_at=session.ended_at,
            duration_seconds=session.duration_seconds,
            duration_minutes=minutes(session.duration_seconds),
            appointment_id=session.appointment_id,
            clinical_content=clinical,
            chief_complaint=facts.chief_complaint if facts else None,
            notes=facts.notes if facts else None,
            medication_plan=[ConsultationMedication(**row) for row in facts.medication_plan] if facts else None,
            has_transcription=bool(detail.transcripts) if clinical else None,
            transcripts=[ConsultationTranscriptSummary.of(t) for t in detail.transcripts] if clinical else None,
            unreadable_fields=list(facts.unreadable_fields) if facts else [],
        )
    )


@api_route(
    bp,
    "/api/v1/consultation/<session_id>/transcript",
    methods=("POST",),
    response=ConsultationTranscriptAddedOut,
    status=201,
    summary="Add a transcript to a consultation",
    description="Either JSON `{text, format}` (`format`: paste, txt, vtt or srt; default paste) or multipart/form-data "
    "with a `file` (.txt, .vtt or .srt, UTF-8 or UTF-16 with BOM, up to 2 MB; audio only when a speech-to-text "
    "provider is configured). Speaker labels and timings are kept; the text is stored encrypted. A malformed "
    "file is a 422 naming the line. One transcript holds at most 200,000 characters of text and a consultation "
    "at most 5 transcripts: beyond either, a 422 naming the field (`text` or `file`).",
    tags=TAGS,
    extra_statuses={
        400: "The JSON body cannot be read",
        409: "The consultation was cancelled",
        413: "Body larger than the server accepts",
        415: "Neither JSON nor multipart/form-data",
        422: "Empty, malformed, too large or wrongly encoded transcript, or the consultation has 5 already",
        503: "The speech-to-text provider failed",
    },
)
@requires("consultations:write", hide=True)
def api_add_transcript(session_id: str) -> ConsultationTranscriptAddedOut:
    organization_id = current_organization_id()
    session = service.get_session(organization_id, session_id)
    if request.is_json:
        body = parse_body(ConsultationTranscriptIn)
        added = service.add_transcript(
            organization_id,
            session,
            text=body.text,  # type: ignore[attr-defined]
            source=body.format,  # type: ignore[attr-defined]
            actor=current_actor(),
        )
    elif request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise Invalid(errors=[FieldError("file", "Attach the transcript as the form field `file`.", "MISSING")])
        file = service.UploadedFile(upload.filename, upload.read(), upload.mimetype)
        added = service.add_transcript(organization_id, session, file=file, actor=current_actor())
    else:
        raise UnsupportedMediaType("Send JSON {text, format} or multipart/form-data with a file.")
    view = queries.transcript_view(crypto.vault_for(organization_id), added, with_segments=False)
    return ConsultationTranscriptAddedOut(data=ConsultationTranscriptSummary.of(view))


@api_route(
    bp,
    "/api/v1/consultation/<session_id>/transcript",
    response=ConsultationTranscriptOut,
    summary="A consultation's transcript",
    description="Every part added, in order, with its segments (start and end in seconds when the source had "
    "timings, the speaker when named). Callers without clinical access get 404.",
    tags=TAGS,
)
@requires("clinical:read", hide=True)
def api_transcript(session_id: str) -> ConsultationTranscriptOut:
    session, views = queries.view_transcripts(current_organization_id(), session_id, actor=current_actor(), channel=API)
    return ConsultationTranscriptOut(
        data=ConsultationTranscriptData(
            session_id=session.session_code,
            consultation_id=session.id,
            word_count=sum(v.word_count for v in views),
            transcripts=[ConsultationTranscriptPart.of(v) for v in views],
        )
    )


@api_route(
    bp,
    "/api/v1/consultation/<session_id>/medication-plan",
    methods=("PUT",),
    body=ConsultationMedicationPlanIn,
    response=ConsultationMedicationPlanOut,
    summary="Replace a consultation's medication plan",
    description="Rows of {drug_name, dosage, frequency, duration}; `drug_name` is required in each row that has "
    "anything in it. Stored encrypted. A cancelled consultation answers 409.",
    tags=TAGS,
    extra_statuses={409: "The consultation was cancelled"},
)
@requires("consultations:write", hide=True)
def api_medication_plan(session_id: str, body: ConsultationMedicationPlanIn) -> ConsultationMedicationPlanOut:
    organization_id = current_organization_id()
    session = service.get_session(organization_id, session_id)
    if body.medication_plan is None:
        raise Invalid(errors=[FieldError("medication_plan", "Field required", "MISSING")])
    rows = [row.model_dump() for row in body.medication_plan]
    saved = service.set_medication_plan(organization_id, session, rows, actor=current_actor())
    return ConsultationMedicationPlanOut(
        data=ConsultationMedicationPlanData(
            session_id=session.session_code,
            consultation_id=session.id,
            medication_plan=[ConsultationMedication(**row) for row in saved],
        )
    )
