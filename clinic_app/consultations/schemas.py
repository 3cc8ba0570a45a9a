"""JSON shapes of the consultation API (the seed system's paths and fields, plus pagination and
the transcript and medication-plan endpoints its frontend needed).

Request schemas check only the JSON types; the service checks the values, so one 422 lists every
field's problem at once. Clinical fields are null for a caller without ``clinical:read``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from clinic_app.consultations.models import SESSION_TYPES
from clinic_app.consultations.queries import HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX, SessionRow, TranscriptView
from clinic_app.consultations.service import CHIEF_COMPLAINT_MAX, CHIEF_COMPLAINT_MIN, NOTES_MAX
from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field

SUCCESS = "success"


def minutes(seconds: int | None) -> int | None:
    return round(seconds / 60) if seconds is not None else None


class ConsultationStartIn(Schema):
    patient_id: str = Field(description="The patient's id (pat_…)")
    doctor_id: str | None = Field(
        default=None,
        description="The clinician holding the consultation: a user id of a clinician or owner of the organization. "
        "Left out: the calling user, if they are one.",
    )
    chief_complaint: str = Field(json_schema_extra={"minLength": CHIEF_COMPLAINT_MIN, "maxLength": CHIEF_COMPLAINT_MAX})
    session_type: str = Field(
        default="consultation",
        json_schema_extra={"enum": list(SESSION_TYPES)},
        description='"followup" is accepted for follow_up, as the earlier system spelled it',
    )
    appointment_id: str | None = Field(default=None, description="The appointment this consultation is for, if any")


class ConsultationStartData(Schema):
    session_id: str = Field(description="Readable session id, CS-YYYYMMDD-XXXXXXXX")
    consultation_id: str
    patient_id: str
    patient_name: str
    doctor_id: str
    session_type: str
    status: str
    started_at: Timestamp
    websocket_url: None = Field(default=None, description="Always null: there is no live audio stream")


class ConsultationStartOut(Schema):
    status: Literal["success"] = SUCCESS
    data: ConsultationStartData


class ConsultationStopIn(Schema):
    notes: str | None = Field(default=None, json_schema_extra={"maxLength": NOTES_MAX})


class ConsultationStopData(Schema):
    session_id: str
    consultation_id: str
    status: str
    started_at: Timestamp
    ended_at: Timestamp | None
    duration_seconds: int | None
    duration_minutes: int | None


class ConsultationStopOut(Schema):
    status: Literal["success"] = SUCCESS
    data: ConsultationStopData


class ConsultationHistoryQuery(Schema):
    limit: int = limit_field(HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX)
    cursor: str | None = cursor_field()


class ConsultationHistoryItem(Schema):
    id: str
    session_id: str
    created_at: Timestamp
    started_at: Timestamp
    ended_at: Timestamp | None
    duration_minutes: int | None
    duration_seconds: int | None
    chief_complaint: str | None = Field(description="Null without clinical access, or when unreadable")
    status: str
    session_type: str
    has_transcription: bool | None = Field(description="Null without clinical access")
    doctor_id: str
    doctor_name: str
    appointment_id: str | None

    @classmethod
    def of(cls, row: SessionRow) -> ConsultationHistoryItem:
        return cls(
            id=row.id,
            session_id=row.session_code,
            created_at=row.created_at,
            started_at=row.started_at,
            ended_at=row.ended_at,
            duration_minutes=minutes(row.duration_seconds),
            duration_seconds=row.duration_seconds,
            chief_complaint=row.chief_complaint,
            status=row.status,
            session_type=row.session_type,
            has_transcription=row.has_transcription,
            doctor_id=row.clinician_id,
            doctor_name=row.clinician_name,
            appointment_id=row.appointment_id,
        )


class ConsultationHistoryOut(Schema):
    patient_id: str
    total_consultations: int
    consultations: list[ConsultationHistoryItem]
    limit: int
    has_more: bool
    next_cursor: str | None = next_cursor_field()


class ConsultationMedication(Schema):
    drug_name: str | None = Field(default=None, json_schema_extra={"maxLength": 200})
    dosage: str | None = Field(default=None, json_schema_extra={"maxLength": 100})
    frequency: str | None = Field(default=None, json_schema_extra={"maxLength": 100})
    duration: str | None = Field(default=None, json_schema_extra={"maxLength": 100})


class ConsultationTranscriptSummary(Schema):
    id: str
    source: str
    filename: str | None
    word_count: int
    segment_count: int
    has_timings: bool
    has_speakers: bool
    created_at: Timestamp

    @classmethod
    def of(cls, view: TranscriptView) -> ConsultationTranscriptSummary:
        return cls.model_validate(view, from_attributes=True)


class ConsultationDetailData(Schema):
    id: str
    session_id: str
    patient_id: str
    patient_name: str
    doctor_id: str
    doctor_name: str
    session_type: str
    status: str
    created_at: Timestamp
    started_at: Timestamp
    ended_at: Timestamp | None
    duration_seconds: int | None
    duration_minutes: int | None
    appointment_id: str | None
    clinical_content: bool = Field(description="False: the caller has no clinical access and the fields below are null")
    chief_complaint: str | None
    notes: str | None
    medication_plan: list[ConsultationMedication] | None
    has_transcription: bool | None
    transcripts: list[ConsultationTranscriptSummary] | None
    unreadable_fields: list[str] = Field(default_factory=list)


class ConsultationDetailOut(Schema):
    status: Literal["success"] = SUCCESS
    data: ConsultationDetailData


class ConsultationTranscriptIn(Schema):
    text: str = Field(
        description="The transcript, up to 2 MB, holding at most 200,000 characters of text once read "
        "(timings and speaker labels not counted)"
    )
    format: Literal["paste", "txt", "vtt", "srt"] = Field(
        default="paste", description="How to read `text`: plain text (paste, txt), WebVTT or SRT"
    )


class ConsultationSegment(Schema):
    start: float | None = Field(description="Seconds from the start of its recording")
    end: float | None
    speaker: str | None
    text: str


class ConsultationTranscriptAddedOut(Schema):
    status: Literal["success"] = SUCCESS
    data: ConsultationTranscriptSummary


class ConsultationTranscriptPart(ConsultationTranscriptSummary):
    segments: list[ConsultationSegment] | None = Field(description="Null when this part cannot be decrypted")

    @classmethod
    def of(cls, view: TranscriptView) -> ConsultationTranscriptPart:  # type: ignore[override]
        data: dict[str, Any] = ConsultationTranscriptSummary.of(view).model_dump()
        segments = None if view.segments is None else [ConsultationSegment(**s.as_dict()) for s in view.segments]  # type: ignore[arg-type]
        return cls(**data, segments=segments)


class ConsultationTranscriptData(Schema):
    session_id: str
    consultation_id: str
    word_count: int
    transcripts: list[ConsultationTranscriptPart]


class ConsultationTranscriptOut(Schema):
    status: Literal["success"] = SUCCESS
    data: ConsultationTranscriptData


class ConsultationMedicationPlanIn(Schema):
    # Optional in the schema so that another organization's session is a 404 before any 422.
    medication_plan: list[ConsultationMedication] | None = Field(
        default=None, description="Required. Replaces the plan; an empty list clears it", max_length=30
    )


class ConsultationMedicationPlanData(Schema):
    session_id: str
    consultation_id: str
    medication_plan: list[ConsultationMedication]


class ConsultationMedicationPlanOut(Schema):
    status: Literal["success"] = SUCCESS
    data: ConsultationMedicationPlanData
