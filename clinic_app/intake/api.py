"""The intake JSON API under /api/v1/intake: register a patient with their intake in one call
(idempotent with ``Idempotency-Key``), list patients registered through intake, read one, and add
symptoms. Organization ids in bodies are ignored; another organization's patient is a 404."""

from __future__ import annotations

from flask import Response, jsonify, request

from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.crypto import Unreadable
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.intake import bp, service
from clinic_app.intake.schemas import (
    IntakeCreate,
    IntakeCreatedData,
    IntakeCreatedOut,
    IntakePatientListItem,
    IntakePatientListOut,
    IntakePatientListQuery,
    IntakePatientOut,
    IntakeRecordOut,
    PatientSymptomOut,
    SymptomsAdd,
    SymptomsAddedOut,
    rename_symptom_errors,
)
from clinic_app.patients import service as patients

TAGS = ("intake",)
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255


def _idempotency_key() -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise Invalid(
            errors=[
                FieldError(
                    IDEMPOTENCY_HEADER,
                    f"Use 1 to {IDEMPOTENCY_KEY_MAX} printable characters.",
                    "INVALID_IDEMPOTENCY_KEY",
                )
            ]
        )
    return key


def _created(organization_id: str, patient_id: str) -> IntakeCreatedOut:
    patient = patients.get_patient(organization_id, patient_id)
    summary = service.summary_for(organization_id, patient_id)
    name = f"{patient.first_name} {patient.last_name}"
    assert summary.record is not None  # registered through intake: it has its record
    return IntakeCreatedOut(
        data=IntakeCreatedData(
            patient_id=patient.id,
            name=name,
            message="Patient intake record created successfully",
            intake=IntakeRecordOut.of(summary.record),
            symptoms=[PatientSymptomOut.of(s) for s in summary.symptoms],
        )
    )


@api_route(
    bp,
    "/api/v1/intake/patients",
    methods=("POST",),
    body=IntakeCreate,
    response=IntakeCreatedOut,
    status=201,
    summary="Register a patient with their intake",
    description="Demographics, presenting problem and (optionally) symptoms in one call; invalid input is a 422 "
    "listing every field and nothing is written. Possible duplicates (same name and date of birth, phone or "
    "e-mail) are a 409 listing their ids unless `create_anyway` is true. Send an `Idempotency-Key` header to "
    "retry safely: the same key within 24 hours returns the first result (with `Idempotent-Replayed: true`) "
    "instead of registering twice.",
    tags=TAGS,
    extra_statuses={409: "Possible duplicates (their ids in `duplicates`), or the key is still in use"},
)
@requires("intake:write")
def api_create(body: IntakeCreate) -> Response:
    organization_id, actor = current_organization_id(), current_actor()
    key = _idempotency_key()
    try:
        result = service.register_from_api(
            organization_id,
            body.to_intake(),
            actor=actor,
            idempotency_key=key,
            body_hash=service.request_hash(organization_id, request.get_json()) if key else None,
        )
    except Invalid as error:
        raise Invalid(errors=body.rename_errors(error.errors)) from None
    response = jsonify(_created(organization_id, result.patient_id).model_dump(mode="json"))
    response.status_code = 201
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@api_route(
    bp,
    "/api/v1/intake/patients",
    paginated="cursor",
    query=IntakePatientListQuery,
    response=IntakePatientListOut,
    summary="List patients registered through intake",
    description="Newest intake first, a page at a time: follow `next_cursor` while `has_more` is true.",
    tags=TAGS,
)
@requires("patients:read")
def api_list(query: IntakePatientListQuery) -> IntakePatientListOut:
    page = service.intake_patients(
        current_organization_id(), limit=query.limit, cursor=query.cursor, actor=current_actor(), channel="api"
    )
    return IntakePatientListOut(
        patients=[IntakePatientListItem.of(row) for row in page.rows],
        limit=page.limit,
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@api_route(
    bp,
    "/api/v1/intake/patients/<patient_id>",
    unpaged="the symptoms of one intake record",
    response=IntakePatientOut,
    summary="A patient's intake record and symptoms",
    description="`intake` is null for a patient registered without intake. The read is recorded in the audit "
    "trail. A value that cannot be decrypted is null and named in `unreadable_fields`.",
    tags=TAGS,
)
@requires("patients:read")
def api_get(patient_id: str) -> IntakePatientOut:
    organization_id = current_organization_id()
    patient = patients.view_patient(organization_id, patient_id, actor=current_actor(), channel="api")
    summary = service.summary_for(organization_id, patient_id)
    return IntakePatientOut(
        id=patient.id,
        name=patient.display_name,
        first_name=patient.first_name,
        last_name=patient.last_name,
        date_of_birth=None if isinstance(patient.date_of_birth, Unreadable) else patient.date_of_birth,
        sex=None if isinstance(patient.sex, Unreadable) else patient.sex,
        intake=IntakeRecordOut.of(summary.record) if summary.record else None,
        symptoms=[PatientSymptomOut.of(s) for s in summary.symptoms],
        unreadable_fields=[name for name in patient.unreadable_fields if name in ("date_of_birth", "sex")],
    )


@api_route(
    bp,
    "/api/v1/intake/patients/<patient_id>/symptoms",
    methods=("POST",),
    body=SymptomsAdd,
    response=SymptomsAddedOut,
    status=201,
    summary="Add symptoms to a patient",
    description="Each symptom by `symptom_id` (`symptom_source` master for ICD-11, user for the clinic's own), "
    "or a new symptom of the clinic's own by `symptom_name` (added to its catalogue). Severity and frequency "
    'are required. The old API\'s bare list is accepted as well as `{"symptoms": [...]}`. Everything is '
    "checked first: a 422 lists every field and stores nothing.",
    tags=TAGS,
)
@requires("intake:write")
def api_add_symptoms(patient_id: str, body: SymptomsAdd) -> SymptomsAddedOut:
    organization_id = current_organization_id()
    try:
        rows = service.add_symptoms(
            organization_id, patient_id, [item.to_request() for item in body.symptoms], actor=current_actor()
        )
    except Invalid as error:
        raise Invalid(errors=rename_symptom_errors(error.errors, body.symptoms)) from None
    return SymptomsAddedOut(
        patient_id=patient_id,
        symptoms=[PatientSymptomOut.of(view) for view in service.symptom_views(organization_id, rows)],
    )
