"""The patients JSON API under /api/v1/patients: the seed system's endpoints and shapes, with the
list that used to fail with 500s working and paginated. The organization comes from the token
(or ``X-Organization-ID``); another organization's patient is a 404. The export and the
consultation history, which read other features, are the chart's (``clinic_app.chart.api``)."""

from __future__ import annotations

from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.patients import bp, service
from clinic_app.patients.schemas import (
    PatientCreate,
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
    paginated="cursor",
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
    paginated="cursor",
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
    unpaged="the phone numbers of one record",
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
