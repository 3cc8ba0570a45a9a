"""The patient chart's JSON endpoints under /api/v1/patients: the whole record as one document
(the export) and the patient's consultation history. On the patients blueprint, under the
endpoint names they have always had."""

from __future__ import annotations

from clinic_app.auth.identity import current_identity
from clinic_app.chart import record_export
from clinic_app.consultations import queries
from clinic_app.consultations.schemas import ConsultationHistoryItem
from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.patients import bp
from clinic_app.patients.schemas import PatientHistoryOut, PatientHistoryQuery

TAGS = ("patients",)


@api_route(
    bp,
    "/api/v1/patients/<patient_id>/export",
    unpaged="one patient's record as one document (the copy a patient asks for)",
    response=record_export.PatientExport,
    summary="Export a patient's record",
    description="The whole record as one document, for a patient's request for a copy of their information or "
    "a transfer: demographics, intake, symptoms, appointments (with their notes), and consultations and reports "
    "as metadata only (transcripts and report content are exported by clinicians as signed PDFs). Appointments, "
    "consultations and reports are included only with `appointments:read`, `consultations:read` and "
    "`clinical:read` respectively (otherwise empty and named in `not_included`). The same "
    "document as the record page's download. Recorded in the audit trail as `patient.exported`. A value that "
    "cannot be decrypted is null and named in `unreadable_fields` (of its item, and as a path in the document's); "
    "the export still succeeds.",
    tags=TAGS,
)
@requires("patients:export")
def api_export(patient_id: str) -> record_export.PatientExport:
    identity = current_identity()
    assert identity is not None  # requires() let the caller in
    return record_export.export_patient(
        current_organization_id(), patient_id, actor=identity.actor, channel="api", can=identity.can
    )


@api_route(
    bp,
    "/api/v1/patients/<patient_id>/history",
    query=PatientHistoryQuery,
    response=PatientHistoryOut,
    paginated="cursor",
    summary="A patient's consultation history",
    description="The patient's consultations, newest first, `limit` at a time (100 unless asked for fewer): "
    "follow `next_cursor` until it is null (the same pages as `/api/v1/consultation/history/{patient_id}`). "
    "`chief_complaint` and "
    "`has_transcription` are null for callers without clinical access. The patient must exist in your "
    "organization (404 otherwise).",
    tags=TAGS,
)
@requires("patients:read")
def api_history(patient_id: str, query: PatientHistoryQuery) -> PatientHistoryOut:
    identity = current_identity()
    page = queries.history(
        current_organization_id(),
        patient_id,
        clinical=identity is not None and identity.can("clinical:read"),
        actor=current_actor(),
        limit=query.limit,
        cursor=query.cursor,
        channel="api",
    )
    consultations = [ConsultationHistoryItem.of(row).model_dump(mode="json") for row in page.rows]
    return PatientHistoryOut(
        patient_id=patient_id, consultations=consultations, total=page.total, next_cursor=page.next_cursor
    )
