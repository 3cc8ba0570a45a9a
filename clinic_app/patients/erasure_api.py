"""The erasure API (owners: ``patients:erase``; docs/retention.md, "Erasure"): the inventory of
what an erasure would erase and keep, a request with its second confirmation, its status,
cancelling it while it waits, and carrying it out once the waiting period has passed; and the
organization's privacy settings. Another organization's patient is a 404."""

from __future__ import annotations

from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.errors import NotFound
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.orgs import privacy
from clinic_app.patients import bp, consent, erasure, service
from clinic_app.patients.models import ErasureRequest
from clinic_app.patients.privacy_schemas import (
    ErasureRequestIn,
    ErasureRequestOut,
    ErasureStatusOut,
    InventoryLineOut,
    InventoryOut,
    PrivacySettingsIn,
    PrivacySettingsOut,
)

TAGS = ("erasure",)


def _request_of(patient_id: str, request_id: str) -> ErasureRequest:
    request = erasure.get_request(current_organization_id(), request_id)
    if request.patient_id != patient_id:
        raise NotFound("No such erasure request.")
    return request


@api_route(
    bp,
    "/api/v1/patients/<patient_id>/erasure/inventory",
    response=InventoryOut,
    unpaged="One line per kind of data a feature holds: a few dozen at most",
    summary="What erasing the patient would erase and keep",
    description="Counts per kind of data, with the reason and the end date of what the law keeps. No values.",
    tags=TAGS,
)
@requires("patients:erase")
def api_erasure_inventory(patient_id: str) -> InventoryOut:
    organization_id = current_organization_id()
    found = erasure.inventory(organization_id, patient_id)
    return InventoryOut(
        patient_id=found.patient_id,
        erase=[InventoryLineOut.of(line) for line in found.erased],
        keep=[InventoryLineOut.of(line) for line in found.kept],
        waiting_days=privacy.privacy_settings(organization_id).erasure_waiting_days,
    )


@api_route(
    bp,
    "/api/v1/patients/<patient_id>/erasure",
    methods=("POST",),
    body=ErasureRequestIn,
    response=ErasureRequestOut,
    status=201,
    summary="Ask for the patient to be erased",
    description="`confirm_name` must be the patient's first and last name. The request waits the organization's "
    "waiting period; a second request while one waits is a 409. Download the patient's export first.",
    tags=TAGS,
)
@requires("patients:erase")
def api_request_erasure(patient_id: str, body: ErasureRequestIn) -> ErasureRequestOut:
    request = erasure.request_erasure(
        current_organization_id(),
        patient_id,
        reason=body.reason,
        note=body.note,
        confirm_name=body.confirm_name,
        actor=current_actor(),
    )
    return ErasureRequestOut.of(request)


@api_route(
    bp,
    "/api/v1/patients/<patient_id>/erasure",
    response=ErasureStatusOut,
    unpaged="A patient has a handful of erasure requests at most",
    summary="Whether the patient was erased, and their erasure requests",
    tags=TAGS,
)
@requires("patients:erase")
def api_erasure_status(patient_id: str) -> ErasureStatusOut:
    organization_id = current_organization_id()
    patient = service.get_patient(organization_id, patient_id)
    requests = erasure.requests_of(organization_id, patient.id)
    return ErasureStatusOut(
        patient_id=patient.id,
        erased=patient.erased_at is not None,
        erased_at=patient.erased_at,
        requests=[ErasureRequestOut.of(request) for request in requests],
    )


@api_route(
    bp,
    "/api/v1/patients/<patient_id>/erasure/<request_id>/cancel",
    methods=("POST",),
    response=ErasureRequestOut,
    summary="Cancel a waiting erasure request",
    description="A request no longer waiting (cancelled or carried out) is a 409.",
    tags=TAGS,
)
@requires("patients:erase")
def api_cancel_erasure(patient_id: str, request_id: str) -> ErasureRequestOut:
    request = _request_of(patient_id, request_id)
    return ErasureRequestOut.of(erasure.cancel_erasure(current_organization_id(), request.id, actor=current_actor()))


@api_route(
    bp,
    "/api/v1/patients/<patient_id>/erasure/<request_id>/carry-out",
    methods=("POST",),
    response=ErasureRequestOut,
    summary="Carry out an erasure whose waiting period has passed",
    description="Erases once: a second call, or one racing the clock, is a 409; so is one before the waiting "
    "period ends. Afterwards the patient's record answers 410.",
    tags=TAGS,
)
@requires("patients:erase")
def api_carry_out_erasure(patient_id: str, request_id: str) -> ErasureRequestOut:
    request = _request_of(patient_id, request_id)
    return ErasureRequestOut.of(erasure.carry_out(current_organization_id(), request.id, actor=current_actor()))


@api_route(
    bp,
    "/api/v1/organization/privacy",
    response=PrivacySettingsOut,
    summary="The organization's erasure waiting period and consents required at intake",
    tags=TAGS,
)
@requires("patients:erase")
def api_privacy_settings() -> PrivacySettingsOut:
    settings = privacy.privacy_settings(current_organization_id())
    return PrivacySettingsOut(
        erasure_waiting_days=settings.erasure_waiting_days, consent_at_intake=list(settings.consent_at_intake)
    )


@api_route(
    bp,
    "/api/v1/organization/privacy",
    methods=("PUT",),
    body=PrivacySettingsIn,
    response=PrivacySettingsOut,
    summary="Change the erasure waiting period (0-90 days) or the consents required at intake",
    tags=TAGS,
)
@requires("patients:erase")
def api_change_privacy_settings(body: PrivacySettingsIn) -> PrivacySettingsOut:
    settings = consent.set_privacy(
        current_organization_id(),
        erasure_waiting_days=body.erasure_waiting_days,
        consent_at_intake=body.consent_at_intake,
        actor=current_actor(),
    )
    return PrivacySettingsOut(
        erasure_waiting_days=settings.erasure_waiting_days, consent_at_intake=list(settings.consent_at_intake)
    )
