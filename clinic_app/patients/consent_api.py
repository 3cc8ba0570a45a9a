"""The consent API under /api/v1/patients/<id>/consents: list (a page at a time), record and
withdraw (docs/patients.md, "Consent"). Another organization's patient is a 404; an erased
patient's consents can be listed (they are kept) but no new one recorded (410)."""

from __future__ import annotations

from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.patients import bp, consent, service
from clinic_app.patients.privacy_schemas import ConsentIn, ConsentListOut, ConsentListQuery, ConsentOut

TAGS = ("consent",)


@api_route(
    bp,
    "/api/v1/patients/<patient_id>/consents",
    query=ConsentListQuery,
    response=ConsentListOut,
    paginated="cursor",
    summary="A patient's consents, newest first",
    description="Withdrawn consents stay in the list with `withdrawn_at` set. Follow `next_cursor`.",
    tags=TAGS,
)
@requires("patients:read")
def api_consents(patient_id: str, query: ConsentListQuery) -> ConsentListOut:
    page = consent.consents_of(
        current_organization_id(),
        patient_id,
        actor=current_actor(),
        cursor=query.cursor,
        limit=query.limit,
        channel="api",
    )
    return ConsentListOut(items=[ConsentOut.of(record) for record in page.items], next_cursor=page.next_cursor)


@api_route(
    bp,
    "/api/v1/patients/<patient_id>/consents",
    methods=("POST",),
    body=ConsentIn,
    response=ConsentOut,
    status=201,
    summary="Record a consent the patient gave",
    description="`kind` from the catalogue, `text_version` naming the wording agreed to, `method` how. "
    "Invalid values are a 422 listing each field; an erased patient is a 410.",
    tags=TAGS,
)
@requires("patients:consent")
def api_record_consent(patient_id: str, body: ConsentIn) -> ConsentOut:
    organization_id = current_organization_id()
    service.get_patient(organization_id, patient_id)  # another organization's patient: 404 before any 422
    given = consent.validate_consent(body.model_dump())
    return ConsentOut.of(consent.record_consent(organization_id, patient_id, given, actor=current_actor()))


@api_route(
    bp,
    "/api/v1/patients/<patient_id>/consents/<consent_id>/withdraw",
    methods=("POST",),
    response=ConsentOut,
    summary="Withdraw a consent",
    description="The record stays, with `withdrawn_at` set. Withdrawing twice is a 409.",
    tags=TAGS,
)
@requires("patients:consent")
def api_withdraw_consent(patient_id: str, consent_id: str) -> ConsentOut:
    record = consent.withdraw_consent(current_organization_id(), patient_id, consent_id, actor=current_actor())
    return ConsentOut.of(record)
