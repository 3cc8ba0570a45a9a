"""FHIR Patient: read, and search by ``name`` (starts-with on any name), ``birthdate``
(``YYYY-MM-DD``, exact: dates of birth are encrypted and found through their blind index),
``identifier`` (``system|value`` of an external id, e.g. ``cliniko|1234``) and ``_id``. Needs
``patients:read``; every patient handed out is audited."""

from __future__ import annotations

from typing import Any

from flask import Response
from sqlalchemy import and_, literal, or_, select, tuple_

from clinic_app.core import crypto
from clinic_app.core.access import requires
from clinic_app.core.errors import FieldError, Invalid, NotFound
from clinic_app.core.tenancy import current_organization_id
from clinic_app.extensions import db
from clinic_app.fhir import bp, common
from clinic_app.patients import service as patients
from clinic_app.patients.models import Patient
from clinic_app.patients.storage import PatientView, view_of
from clinic_app.patients.validation import name_key

RESOURCE = "Patient"
IDENTIFIER_SYSTEM = "urn:clinic-app:external-id:"
_GENDER = {"female": "female", "male": "male", "intersex": "other", "not_stated": "unknown"}
_PHONE_USE = {"mobile": "mobile", "home": "home", "work": "work", "other": "temp"}


def patient_resource(view: PatientView) -> dict[str, Any]:
    """A decrypted patient as FHIR R4 Patient (an unreadable field is left out)."""
    names: list[dict[str, Any]] = [{"use": "official", "family": view.last_name, "given": [view.first_name]}]
    if view.preferred_name:
        names.append({"use": "usual", "given": [view.preferred_name]})
    telecom: list[dict[str, Any]] = []
    if isinstance(view.phones, tuple):
        telecom += [{"system": "phone", "value": p.number, "use": _PHONE_USE.get(p.type, "temp")} for p in view.phones]
    if isinstance(view.email, str):
        telecom.append({"system": "email", "value": view.email})
    identifiers = []
    if isinstance(view.external_ids, dict):
        identifiers = [{"system": IDENTIFIER_SYSTEM + s, "value": str(v)} for s, v in sorted(view.external_ids.items())]
    address = None
    if isinstance(view.address, dict) and any(view.address.values()):
        parts = view.address
        address = [
            {
                "use": "home",
                "line": [line for line in (parts.get("line1"), parts.get("line2")) if line],
                "city": parts.get("suburb"),
                "state": parts.get("state"),
                "postalCode": parts.get("postcode"),
                "country": parts.get("country"),
            }
        ]
        address = [{k: v for k, v in address[0].items() if v}]
    return {
        "resourceType": RESOURCE,
        "id": common.fhir_id(view.id),
        "meta": {"lastUpdated": common.instant(view.updated_at)},
        "identifier": identifiers,
        "active": not view.archived,
        "name": names,
        "telecom": telecom,
        "gender": _GENDER.get(view.sex) if isinstance(view.sex, str) else None,
        "birthDate": view.date_of_birth.isoformat() if hasattr(view.date_of_birth, "isoformat") else None,
        "address": address,
    }


def _load(organization_id: str, resource_id: str) -> Patient:
    internal = common.internal_id(resource_id)
    if internal is None or not internal.startswith("pat_"):
        raise NotFound(f"Patient/{resource_id[:64]} not found.")
    try:
        patient = patients.get_patient(organization_id, internal)
    except NotFound:
        raise NotFound(f"Patient/{resource_id[:64]} not found.") from None
    return patients.ensure_not_erased(patient)  # 410 Gone, as FHIR answers a deleted resource


@bp.get("/Patient/<resource_id>")
@requires("patients:read")
def read_patient(resource_id: str) -> Response:
    organization_id = current_organization_id()
    patient = _load(organization_id, resource_id)
    common.audit_read(organization_id, RESOURCE, patient.id, patient.id, "read")
    return common.answer(patient_resource(view_of(patient, crypto.vault_for(organization_id))))


def _name_filter(value: str) -> Any:
    key = name_key(value)
    if not key:
        raise Invalid(errors=[FieldError("name", "Give at least one letter of a name.", "INVALID_SEARCH")])
    keys = (Patient.first_name_key, Patient.last_name_key, Patient.preferred_name_key)
    return or_(*(column.startswith(key, autoescape=True) for column in keys))


def _identifier_filter(organization_id: str, value: str) -> Any:
    system, _, code = value.partition("|")
    if not code:
        raise Invalid(errors=[FieldError("identifier", "Give the identifier as system|value.", "INVALID_SEARCH")])
    system = system.removeprefix(IDENTIFIER_SYSTEM)
    found = patients.find_by_external_id(organization_id, system, code) if system and len(code) <= 100 else None
    return Patient.id == (found.id if found else "")


def _birthdate_filter(organization_id: str, value: str) -> Any:
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise Invalid(errors=[FieldError("birthdate", "Give a birth date as YYYY-MM-DD.", "INVALID_SEARCH")])
    return Patient.dob_bidx == crypto.vault_for(organization_id).blind_index("patients.date_of_birth", value)


@bp.get("/Patient")
@requires("patients:read")
def search_patients() -> Response:
    organization_id = current_organization_id()
    given = common.params(("name", "birthdate", "identifier", "_id", "active"))
    limit = common.count()
    filters: list[Any] = [Patient.organization_id == organization_id, Patient.erased_at.is_(None)]
    if "name" in given:
        filters.append(_name_filter(given["name"]))
    if "birthdate" in given:
        filters.append(_birthdate_filter(organization_id, given["birthdate"]))
    if "identifier" in given:
        filters.append(_identifier_filter(organization_id, given["identifier"]))
    if "_id" in given:
        filters.append(Patient.id == (common.internal_id(given["_id"]) or ""))
    if "active" in given:
        filters.append(Patient.archived.is_(given["active"] != "true"))
    keys = (Patient.last_name_key, Patient.first_name_key, Patient.id)
    position = common.cursor_text()
    if position is not None:
        anchor = db.session.get(Patient, position)
        if anchor is None or anchor.organization_id != organization_id:
            raise Invalid(errors=[FieldError("_cursor", "This cursor is not valid.", "INVALID_SEARCH")])
        values = [literal(getattr(anchor, key.key), key.type) for key in keys]
        filters.append(tuple_(*keys) > tuple_(*values))
    rows = list(db.session.scalars(select(Patient).where(and_(*filters)).order_by(*keys).limit(limit + 1)))
    more, rows = len(rows) > limit, rows[:limit]
    vault = crypto.vault_for(organization_id)
    entries = []
    for patient in rows:
        common.audit_read(organization_id, RESOURCE, patient.id, patient.id, "search")
        entries.append(patient_resource(view_of(patient, vault)))
    return common.searchset(RESOURCE, entries, rows[-1].id if more else None)
