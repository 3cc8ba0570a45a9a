"""Consent on the patient's record page: the list (the record template's ``patient_consents``) and
the forms that record and withdraw one (docs/patients.md, "Consent"). Thin: parse, call
``patients.consent``, answer with a redirect to the record (htmx follows it)."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from clinic_app.core.access import requires
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.web import done
from clinic_app.extensions import db
from clinic_app.patients import bp, consent, erasure, service
from clinic_app.patients.models import ConsentRecord, ErasureRequest

RECORD_PAGE_CONSENTS = 50


@bp.context_processor
def _privacy_template_helpers() -> dict[str, Any]:
    return {
        "patient_consents": _patient_consents,
        "consent_kinds": consent.KINDS,
        "consent_methods": consent.METHODS,
        "waiting_erasure": _waiting_erasure,
    }


def _patient_consents(patient_id: str) -> list[ConsentRecord]:
    """The newest consents for the record page (whose view is audited already as patient.viewed)."""
    return list(
        db.session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.organization_id == current_organization_id(), ConsentRecord.patient_id == patient_id)
            .order_by(ConsentRecord.given_at.desc(), ConsentRecord.id.desc())
            .limit(RECORD_PAGE_CONSENTS)
        )
    )


def _waiting_erasure(patient_id: str) -> ErasureRequest | None:
    return erasure.waiting_request(current_organization_id(), patient_id)


def _back(patient_id: str) -> str:
    return url_for("patients.detail", patient_id=patient_id) + "#patient-consents"


@bp.post("/patients/<patient_id>/consents")
@requires("patients:consent")
def record_consent(patient_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    service.get_patient(organization_id, patient_id)  # another organization's patient: 404 before any 422
    given = consent.validate_consent(request.form)  # Invalid: a 422 naming each field
    record = consent.record_consent(organization_id, patient_id, given, actor=current_actor())
    return done(f"Consent recorded: {consent.KINDS[record.kind]}.", _back(patient_id))


@bp.post("/patients/<patient_id>/consents/<consent_id>/withdraw")
@requires("patients:consent")
def withdraw_consent(patient_id: str, consent_id: str) -> ResponseReturnValue:
    record = consent.withdraw_consent(current_organization_id(), patient_id, consent_id, actor=current_actor())
    return done(f"Consent withdrawn: {consent.KINDS.get(record.kind, record.kind)}.", _back(patient_id))
