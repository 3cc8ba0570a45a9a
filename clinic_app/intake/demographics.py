"""The demographics step in the patient service's words: the form's flat fields (one box per
phone, address part and emergency-contact part) become the ``raw`` that
``patients.service.validate_for`` checks, and its error names (``phones.0.number``,
``address.line1``) come back as the names of the boxes they belong to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clinic_app.core.errors import FieldError, Invalid
from clinic_app.patients import service as patients

DEMOGRAPHIC_FIELDS = (
    "first_name",
    "last_name",
    "preferred_name",
    "date_of_birth",
    "sex",
    "gender",
    "mobile_phone",
    "home_phone",
    "email",
    "address_line1",
    "address_line2",
    "suburb",
    "state",
    "postcode",
    "country",
    "emergency_name",
    "emergency_relationship",
    "emergency_phone",
)
_PHONE_FIELDS = {"mobile_phone": "mobile", "home_phone": "home"}
_ADDRESS_FIELDS = {
    "address_line1": "line1",
    "address_line2": "line2",
    "suburb": "suburb",
    "state": "state",
    "postcode": "postcode",
    "country": "country",
}
_EMERGENCY_FIELDS = {"emergency_name": "name", "emergency_relationship": "relationship", "emergency_phone": "phone"}
# Where the patient service's error names land on the demographics form.
_FORM_FIELD_OF_ERROR = {
    **{f"address.{part}": name for name, part in _ADDRESS_FIELDS.items()},
    **{f"emergency_contact.{part}": name for name, part in _EMERGENCY_FIELDS.items()},
    "address": "address_line1",
    "emergency_contact": "emergency_name",
    "phones": "mobile_phone",
}


def _patient_raw(answers: Mapping[str, str]) -> tuple[dict[str, Any], dict[int, str]]:
    """The demographics answers in the patient service's shape, and which form field each phone
    came from (so ``phones.N`` errors land on the right box)."""
    phones, origins = [], {}
    for name, kind in _PHONE_FIELDS.items():
        number = answers.get(name) or ""
        if number:
            origins[len(phones)] = name
            phones.append({"type": kind, "number": number})
    raw: dict[str, Any] = {
        name: answers.get(name) or None
        for name in ("first_name", "last_name", "preferred_name", "date_of_birth", "sex", "gender", "email")
    }
    raw["phones"] = phones
    raw["address"] = {part: answers.get(name) or None for name, part in _ADDRESS_FIELDS.items()}
    raw["emergency_contact"] = {part: answers.get(name) or None for name, part in _EMERGENCY_FIELDS.items()}
    return raw, origins


def _form_errors(errors: Sequence[FieldError], origins: Mapping[int, str]) -> list[FieldError]:
    mapped = []
    for error in errors:
        name = error.field
        if name.startswith("phones."):
            index = name.split(".")[1]
            name = origins.get(int(index), "mobile_phone") if index.isdigit() else "mobile_phone"
        mapped.append(FieldError(_FORM_FIELD_OF_ERROR.get(name, name), error.message))
    return mapped


def check_demographics(organization_id: str, answers: Mapping[str, str]) -> patients.PatientInput:
    """The demographics answers checked by the patient service; Invalid names the form's fields."""
    raw, origins = _patient_raw(answers)
    try:
        return patients.validate_for(organization_id, raw)
    except Invalid as error:
        raise Invalid(errors=_form_errors(error.errors, origins)) from None
