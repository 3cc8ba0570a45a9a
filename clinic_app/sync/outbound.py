"""Our records as Cliniko's API takes them: the body of ``POST``/``PATCH /patients`` and of
``POST``/``PATCH /individual_appointments`` (the inverse of ``mapping``, which reads Cliniko's).

A value that cannot be read (``UNREADABLE``) is never sent: the field is left out, so Cliniko keeps
what it has. Notes go only when the clinic allows it (``ClinikoConnection.send_patient_notes``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from clinic_app.core.crypto import Unreadable
from clinic_app.patients.storage import PatientView

# Our field -> the Cliniko fields it becomes (what an update of that field sends, and what an
# audit of the write names).
PATIENT_FIELDS: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name",),
    "last_name": ("last_name",),
    "preferred_name": ("preferred_first_name",),
    "date_of_birth": ("date_of_birth",),
    "sex": ("sex",),
    "gender": ("gender_identity",),
    "phones": ("patient_phone_numbers",),
    "email": ("email",),
    "address": ("address_1", "address_2", "city", "state", "post_code", "country"),
    "emergency_contact": ("emergency_contact",),
    "notes": ("notes",),
}
SEXES = {"female": "Female", "male": "Male", "intersex": "Intersex", "not_stated": "Not stated"}
PHONE_TYPES = {"mobile": "Mobile", "home": "Home", "work": "Work", "other": "Other"}
ADDRESS = {"line1": "address_1", "line2": "address_2", "suburb": "city", "state": "state", "postcode": "post_code",
           "country": "country"}  # fmt: skip
# Cliniko's field -> ours, to show a 422 on the field of our form it concerns.
FORM_FIELD = {cliniko: ours for ours, fields in PATIENT_FIELDS.items() for cliniko in fields}
# Cliniko's cancellation reasons (a code is required when cancelling).
CANCELLATION_REASONS = {10: "Feeling better", 20: "Condition worse", 30: "Sick", 40: "Away", 50: "Other", 60: "Work"}
OTHER_REASON = 50


def patient_body(view: PatientView, fields: set[str] | None, *, send_notes: bool) -> dict[str, Any]:
    """The Cliniko fields for ``fields`` of ours (all of them when None)."""
    wanted = set(PATIENT_FIELDS) if fields is None else set(fields) & set(PATIENT_FIELDS)
    if not send_notes:
        wanted.discard("notes")
    body: dict[str, Any] = {}
    for name in sorted(wanted):
        value = getattr(view, name)
        if isinstance(value, Unreadable):
            continue
        body.update(_patient_value(name, value))
    return body


def _patient_value(name: str, value: Any) -> dict[str, Any]:
    if name == "date_of_birth":
        return {"date_of_birth": value.isoformat() if isinstance(value, date) else None}
    if name == "sex":
        return {"sex": SEXES.get(value) if value else None}
    if name == "phones":
        phones = value or ()
        return {
            "patient_phone_numbers": [
                {"phone_type": PHONE_TYPES.get(phone.type, "Other"), "number": phone.number} for phone in phones
            ]
        }
    if name == "address":
        parts = value or {}
        return {cliniko: parts.get(ours) or None for ours, cliniko in ADDRESS.items()}
    if name == "emergency_contact":
        parts = value or {}
        name_part = parts.get("name") or ""
        relation = f" ({parts['relationship']})" if parts.get("relationship") else ""
        phone = f" {parts['phone']}" if parts.get("phone") else ""
        return {"emergency_contact": (name_part + relation + phone).strip() or None}
    (cliniko,) = PATIENT_FIELDS[name]
    return {cliniko: value if value not in ("",) else None}


def cliniko_fields(fields: list[str] | set[str] | None) -> list[str]:
    """The Cliniko field names a change of ``fields`` of ours writes (for the audit: names only)."""
    names = set(PATIENT_FIELDS) if fields is None else set(fields) & set(PATIENT_FIELDS)
    return sorted(cliniko for name in names for cliniko in PATIENT_FIELDS[name])


def moment(value: datetime) -> str:
    """Cliniko's UTC text for a moment: ``2025-06-01T09:30:00Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reason_code(words: str | None) -> tuple[int, str | None]:
    """Cliniko's reason code for a reason given here, and the note to send with it: a reason that
    is one of Cliniko's words (or its code) is that code; anything else is "Other" with the words."""
    text = (words or "").strip()
    if text.isdigit() and int(text) in CANCELLATION_REASONS:
        return int(text), None
    for code, label in CANCELLATION_REASONS.items():
        if text.lower() == label.lower():
            return code, None
    return OTHER_REASON, text or None
