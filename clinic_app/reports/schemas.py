"""JSON shapes of the reports API: seed 002's report generation request (§2.5) and report
structure (§6.1), plus what the seed never shipped (lists, signing, amendments, templates).

Status words: ours are ``pending``, ``generating``, ``draft`` and ``signed``; the seed's
``completed`` (a draft was generated) is our ``draft``. Ids are our public ids (``rep_…``); the
seed's ``session_id`` is the readable consultation code ``CS-YYYYMMDD-XXXXXXXX`` (either that or
the consultation's ``con_…`` id is accepted in requests).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field

ReportStatus = Literal["pending", "generating", "draft", "signed"]


# --- generation ------------------------------------------------------------------------------


class MedicationIn(Schema):
    drug_name: str | None = Field(default=None, description="Required unless the whole row is empty")
    dosage: str | None = None
    frequency: str | None = None
    duration: str | None = None


class GenerateSessionIn(Schema):
    """Seed 002 §2.5 "Report Generation Request", plus an optional template."""

    session_id: str = Field(min_length=1, max_length=64, description="The consultation: CS-… code or con_… id")
    transcription: str | None = Field(
        default=None,
        description="Optional transcript text; when given it is added to the consultation's transcripts "
        "(plain text, or WebVTT/SRT content, speaker labels and timings kept) before the draft is written",
    )
    medication_plan: list[MedicationIn] | None = Field(
        default=None, description="When given, replaces the consultation's medication plan"
    )
    additional_notes: str | None = Field(
        default=None, description="Anything the draft should mention (≤ 5,000 characters)"
    )
    patient_progress: str | None = Field(default=None, description="How the patient is doing (≤ 5,000 characters)")
    session_type: str | None = Field(default=None, description="new_patient, follow_up, consultation or emergency")
    template_id: str | None = Field(
        default=None, description="A report template (rtp_…); default: the organization's default"
    )


class GenerateSessionOut(Schema):
    status: Literal["accepted"]
    message: str
    report_id: str
    job_id: str = Field(description="Poll GET /api/v1/jobs/{job_id} for progress, or the report itself")
    report_status: ReportStatus
    session_id: str = Field(description="The consultation's CS-… code")
    consultation_id: str
    template_id: str
    template_version: int
    report_url: str
    job_url: str


# --- one report ------------------------------------------------------------------------------


class SectionOut(Schema):
    key: str
    title: str
    guidance: str
    content: str = Field(description="The current Markdown")
    generated_content: str = Field(description="The Markdown as generated (for an amendment: as signed)")
    edited: bool


class TemplateRef(Schema):
    id: str
    version_id: str
    name: str
    version: int


class PersonRef(Schema):
    id: str
    name: str | None


class StructuredData(Schema):
    medication_plan: list[dict[str, str]] = Field(description="The consultation's medication plan")
    diagnoses: list[dict[str, Any]] = Field(
        description="The patient's recorded symptoms with ICD-11 codes and severity"
    )
    follow_up_plan: str | None = Field(description="The text of the report's plan section, if its template has one")


class ReportOut(Schema):
    """Seed 002 §6.1 "Report Structure" fields first, then ours."""

    id: str
    session_id: str = Field(description="The consultation's CS-… code")
    status: ReportStatus
    generated_content: str | None = Field(description="The generated draft as one Markdown document")
    structured_data: StructuredData | None
    confidence_score: str | None = Field(description="Always null: neither generator gives a calibrated score")
    ai_model: str | None = Field(
        description="The model that wrote the draft (offline-extractive-1 for the offline generator)"
    )
    generation_duration: float | None = Field(description="Seconds the generator took")
    consultation_id: str
    patient_id: str
    version: int = Field(description="1 for an original; an amendment is the version it amends + 1")
    revision: int = Field(description="Counts saved edits; send it back with an edit to detect conflicts")
    amends_report_id: str | None
    amended_by_report_id: str | None
    content: str | None = Field(description="The current report (after edits) as one Markdown document")
    sections: list[SectionOut]
    template: TemplateRef
    generator: str | None = Field(description="offline, openai or gemini")
    generation_note: str | None = Field(
        description="Why the offline draft stands in for a language model's, when it does"
    )
    inputs_sha256: str | None = Field(description="SHA-256 of the inputs the draft was written from")
    inputs_summary: dict[str, Any] | None
    job_id: str | None
    created_at: Timestamp
    updated_at: Timestamp
    generated_at: Timestamp | None
    signed_by: PersonRef | None
    signed_at: Timestamp | None
    content_sha256: str | None = Field(description="SHA-256 of the canonical content, set when signed")


# The report is looked up before these are checked (another organization's id is a 404 whatever
# the body), so their fields are loose here and checked by the service.


class ReportPatch(Schema):
    sections: dict[str, Any] | None = Field(
        default=None, description="Required: section key → new Markdown (a string); other sections keep theirs"
    )
    revision: int | None = Field(default=None, description="The revision you edited; a stale one answers 409")


class SignIn(Schema):
    password: str | None = Field(default=None, description="Required: the signer's own password, entered again")
    revision: int | None = Field(default=None, description="The revision you reviewed; a stale one answers 409")


# --- lists -----------------------------------------------------------------------------------


class ReportListQuery(Schema):
    limit: int = limit_field(25, 100)
    cursor: str | None = cursor_field()
    status: ReportStatus | None = Field(default=None, description="Only reports with this status")
    patient_id: str | None = Field(default=None, description="Only this patient's reports")
    session_id: str | None = Field(default=None, description="Only this consultation's (CS-… code or con_… id)")


class ReportListItem(Schema):
    id: str
    session_id: str
    consultation_id: str
    patient_id: str
    patient_name: str
    status: ReportStatus
    version: int
    amends_report_id: str | None
    template_name: str
    created_at: Timestamp
    updated_at: Timestamp
    signed_at: Timestamp | None
    signed_by_name: str | None


class ReportListOut(Schema):
    reports: list[ReportListItem]
    limit: int
    next_cursor: str | None = next_cursor_field()
    has_more: bool


# --- templates -------------------------------------------------------------------------------


class TemplateSectionIn(Schema):
    key: str | None = Field(default=None, description="lower_snake_case; made from the title when left out")
    title: str | None = None
    guidance: str | None = None


class TemplateIn(Schema):
    name: str | None = Field(default=None, description="Unique in the organization, ≤ 120 characters")
    description: str | None = None
    sections: list[TemplateSectionIn] | None = Field(default=None, description="1 to 30 sections, in report order")
    is_default: bool = Field(default=False, description="Use it for new reports unless another is chosen")


class TemplateSectionOut(Schema):
    key: str
    title: str
    guidance: str


class TemplateOut(Schema):
    id: str
    name: str
    description: str | None
    builtin_key: str | None = Field(description="mental_health or physiotherapy for the built-in templates")
    is_default: bool
    version: int = Field(description="The current version; each change of name or sections adds one")
    version_id: str
    sections: list[TemplateSectionOut]
    created_at: Timestamp
    updated_at: Timestamp


class TemplateListOut(Schema):
    templates: list[TemplateOut]
