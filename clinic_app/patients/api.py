"""The patients JSON API under /api/v1/patients: the seed system's endpoints and shapes, with the
list that used to fail with 500s working and paginated. The organization comes from the token
(or ``X-Organization-ID``); another organization's patient is a 404."""

from __future__ import annotations

from clinic_app.auth.identity import current_identity
from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.patients import bp, export, service
from clinic_app.patients.schemas import (
    PatientCreate,
    PatientHistoryOut,
    PatientListOut,
    PatientListQuery,
    PatientOut,
    PatientSearchQuery,
    PatientUpdate,
    raw_input,
)

TAGS = ("patients",)
UNREADABLE_NOTE = (
    " A field that cannot be decrypted is null and named in `unreadable_fields`; the request still succeeds."
)


@api_route(
    bp,
    "/api/v1/patients/create",
    methods=("POST",),
    body=PatientCreate,
    response=PatientOut,
    status=201,
    summary="Register a patient",
    description="Names are required; every other field is optional. Phone numbers in local format are read in "
    "the organization's region and stored in E.164. Invalid input is a 422 listing every field; nothing is written.",
    tags=TAGS,
)
@requires("patients:write")
def api_create(body: PatientCreate) -> PatientOut:
    organization_id, actor = current_organization_id(), current_actor()
    data = service.validate_for(organization_id, raw_input(body, partial=False))
    patient = service.create_patient(organization_id, data, actor=actor)
    # The answer echoes what the caller just sent: not a view of anything new.
    return PatientOut.of(service.view_patient(organization_id, patient.id, actor=actor, record_view=False))


@api_route(
    bp,
    "/api/v1/patients/list/",
    query=PatientListQuery,
    response=PatientListOut,
    summary="List patients, a page at a time",
    description="Sorted by last name (or newest first), active patients unless `status` says otherwise. "
    "Follow `next_cursor` while `has_more` is true." + UNREADABLE_NOTE,
    tags=TAGS,
)
@requires("patients:read")
def api_list(query: PatientListQuery) -> PatientListOut:
    return _page(query, q=None)


def _page(query: PatientListQuery, *, q: str | None) -> PatientListOut:
    page = service.search_patients(
        current_organization_id(),
        q=q,
        status=query.status,
        sort=query.sort,
        cursor=query.cursor,
        limit=query.limit,
        actor=current_actor(),
        channel="api",
    )
    return PatientListOut.of(page)


@api_route(
    bp,
    "/api/v1/patients/search/",
    query=PatientSearchQuery,
    response=PatientListOut,
    summary="Search patients by name, e-mail or phone",
    description="A query with an @ is an exact e-mail match, one that looks like a phone number (in any local "
    "or international format) an exact phone match; anything else matches the start of the last, first or "
    'preferred name ("jane smi" matches first and last name).' + UNREADABLE_NOTE,
    tags=TAGS,
)
@requires("patients:read")
def api_search(query: PatientSearchQuery) -> PatientListOut:
    return _page(query, q=query.q)


@api_route(
    bp,
    "/api/v1/patients/<patient_id>",
    response=PatientOut,
    summary="A patient's record",
    description="The decrypted record; the read is recorded in the audit trail." + UNREADABLE_NOTE,
    tags=TAGS,
)
@requires("patients:read")
def api_get(patient_id: str) -> PatientOut:
    view = service.view_patient(current_organization_id(), patient_id, actor=current_actor(), channel="api")
    return PatientOut.of(view)


@api_route(
    bp,
    "/api/v1/patients/<patient_id>",
    methods=("PUT",),
    body=PatientUpdate,
    response=PatientOut,
    summary="Change a patient's record",
    description="Fields left out keep their value; fields sent as null are cleared (names cannot be). "
    "The audit trail records which fields changed, never their values.",
    tags=TAGS,
)
@requires("patients:write")
def api_update(patient_id: str, body: PatientUpdate) -> PatientOut:
    organization_id, actor = current_organization_id(), current_actor()
    service.get_patient(organization_id, patient_id)  # 404 before validation says anything about it
    data = service.validate_for(organization_id, raw_input(body, partial=True), partial=True)
    service.update_patient(organization_id, patient_id, data, actor=actor)
    return PatientOut.of(service.view_patient(organization_id, patient_id, actor=actor, channel="api"))


@api_route(
    bp,
    "/api/v1/patients/<patient_id>/export",
    response=export.PatientExport,
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
def api_export(patient_id: str) -> export.PatientExport:
    identity = current_identity()
    assert identity is not None  # requires() let the caller in
    return export.export_patient(
        current_organization_id(), patient_id, actor=identity.actor, channel="api", can=identity.can
    )


@api_route(
    bp,
    "/api/v1/patients/<patient_id>/history",
    response=PatientHistoryOut,
    summary="A patient's consultation history",
    description="The patient's most recent consultations, newest first (up to 100; "
    "`/api/v1/consultation/history/{patient_id}` pages through all of them). `chief_complaint` and "
    "`has_transcription` are null for callers without clinical access. The patient must exist in your "
    "organization (404 otherwise).",
    tags=TAGS,
)
@requires("patients:read")
def api_history(patient_id: str) -> PatientHistoryOut:
    from clinic_app.consultations import reading
    from clinic_app.consultations.schemas import ConsultationHistoryItem

    identity = current_identity()
    page = reading.history(
        current_organization_id(),
        patient_id,
        clinical=identity is not None and identity.can("clinical:read"),
        actor=current_actor(),
        limit=reading.HISTORY_LIMIT_MAX,
        channel="api",
    )
    consultations = [ConsultationHistoryItem.of(row).model_dump(mode="json") for row in page.rows]
    return PatientHistoryOut(patient_id=patient_id, consultations=consultations, total=page.total)
