"""From Cliniko's JSON to what we store: one function per resource, no database access.

A record is mapped value by value and a bad value never fails the record: a phone number no
parser can read is left out (and counted), an invalid e-mail address or birth date is dropped (and
counted), over-long text is cut to the column's size. Only a record we cannot place at all (no id,
no name, an appointment without a start) raises ``MappingError``; the engine counts it as failed,
names its Cliniko id in the run's failures, and carries on.

``content_hash`` is a keyed hash (HMAC with the organization's index key) of the canonical JSON of
what we store from a record: comparing it with the stored one tells "unchanged" from "updated"
without decrypting anything, and, keyed, it reveals nothing about the values.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from clinic_app.core.crypto import Vault
from clinic_app.core.time import moment_in_range
from clinic_app.patients.models import NAME_MAX
from clinic_app.patients.validation import (
    EARLIEST_BIRTH,
    EMAIL_MAX,
    GENDER_MAX,
    MAX_PHONES,
    NOTES_MAX,
    PART_MAX,
    PatientInput,
    Phone,
    parse_phone,
    to_e164,
)

# Cliniko's phone types -> ours.
PHONE_TYPES = {"mobile": "mobile", "home": "home", "work": "work", "fax": "other", "other": "other"}
SEXES = {"female": "female", "male": "male", "intersex": "intersex", "not stated": "not_stated"}
_CONTROL = frozenset({"Cc", "Cs", "Zl", "Zp"})
_SPACES = re.compile(r"\s+")


class MappingError(ValueError):
    """A record that cannot be stored at all; the message is for admins and holds no PHI."""


# --- values -----------------------------------------------------------------------------------


def clean_text(value: Any, limit: int, *, multiline: bool = False) -> str | None:
    """Trimmed, NFC-normalised text without control characters, cut to ``limit``; None if empty."""
    if value is None:
        return None
    text = str(value)
    if text.isprintable():
        # The common case, and the same answer quicker: printable text holds no character of
        # the _CONTROL categories and no white space but the plain space (no line breaks to
        # keep), so only its normal form and runs of spaces are left to see to.
        if not text.isascii():
            text = unicodedata.normalize("NFC", text)
        if not multiline and "  " in text:
            text = _SPACES.sub(" ", text)
    else:
        text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
        keep = "\n\t" if multiline else ""
        text = "".join(ch if ch in keep or unicodedata.category(ch) not in _CONTROL else " " for ch in text)
        if not multiline:
            text = _SPACES.sub(" ", text)
    text = text.strip()
    return text[:limit].rstrip() or None


def parse_time(value: Any) -> datetime | None:
    """Cliniko's ISO-8601 UTC timestamp (``2025-06-01T09:00:00Z``) as an aware datetime."""
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("z", "Z"))
    except ValueError:
        raise MappingError(f"{value!r} is not a date-time") from None
    if not moment_in_range(moment):
        # Year 9999 (or 1) from the remote system: refused like any other unusable value, before
        # a conversion could overflow.
        raise MappingError(f"{value!r} is outside the dates this app accepts")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _optional_time(value: Any) -> datetime | None:
    """A timestamp that may be garbage without failing the record (it is then treated as absent)."""
    try:
        return parse_time(value)
    except MappingError:
        return None


def cliniko_id(item: Mapping[str, Any]) -> str:
    value = item.get("id")
    text = str(value).strip() if value is not None else ""
    if not text or len(text) > 32:
        raise MappingError("the record has no usable id")
    return text


def content_hash(vault: Vault, values: Mapping[str, Any]) -> str:
    """The keyed hash of what we store from a record (see the module docstring)."""
    digest = vault.blind_index("sync.content", _CANONICAL.encode(values))
    assert digest is not None  # canonical JSON is never empty
    return digest


def _json_default(value: Any) -> Any:
    """Dates and phones in canonical JSON (everything else is JSON already)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Phone):
        return value.as_dict()
    raise TypeError(type(value).__name__)


# Sorted keys, no spaces, ASCII escapes: one text per content. Built once (it is used per record).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_json_default)


# --- patients ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MappedPatient:
    cliniko_id: str
    data: PatientInput
    archived_at: datetime | None  # Cliniko's archived_at, or deleted_at: either way archived here
    source_updated_at: datetime | None
    phones_total: int
    phones_normalised: int
    email_dropped: bool

    def hash_basis(self) -> dict[str, Any]:
        values = {name: getattr(self.data, name) for name in sorted(self.data.provided)}
        values["phones"] = [phone.as_dict() for phone in self.data.phones]
        values["archived_at"] = self.archived_at
        return values


def _phones(raw: Any, region: str) -> tuple[tuple[Phone, ...], int, int]:
    """(readable phones, mobile first; numbers given; numbers normalised)."""
    phones: list[Phone] = []
    given = normalised = 0
    for entry in raw if isinstance(raw, list) else []:
        if not isinstance(entry, Mapping):
            continue
        text = clean_text(entry.get("number"), 40)
        if not text:
            continue
        given += 1
        number = parse_phone(text, region)
        if number is None:
            continue
        normalised += 1
        kind = PHONE_TYPES.get(str(entry.get("phone_type") or "").strip().lower())
        if kind is None:
            is_mobile = phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
            kind = "mobile" if is_mobile else "other"
        e164 = to_e164(number)
        if all(phone.number != e164 for phone in phones) and len(phones) < MAX_PHONES:
            phones.append(Phone(kind, e164))
    return tuple(sorted(phones, key=lambda phone: phone.type != "mobile")), given, normalised


def _email(raw: Any) -> tuple[str | None, bool]:
    """(the normalised address or None, whether a value was dropped)."""
    text = clean_text(raw, EMAIL_MAX)
    if text is None:
        return None, False
    try:
        return validate_email(text, check_deliverability=False).normalized, False
    except EmailNotValidError:
        return None, True


def _birth_date(raw: Any, today: date) -> date | None:
    try:
        born = date.fromisoformat(str(raw).strip()[:10]) if raw else None
    except ValueError:
        return None
    if born is None or born > today or born < EARLIEST_BIRTH:
        return None
    return born


def _address(item: Mapping[str, Any]) -> dict[str, str] | None:
    line2 = ", ".join(filter(None, (clean_text(item.get(name), PART_MAX) for name in ("address_2", "address_3"))))
    parts = {
        "line1": clean_text(item.get("address_1"), PART_MAX),
        "line2": line2[:PART_MAX] or None,
        "suburb": clean_text(item.get("city"), PART_MAX),
        "state": clean_text(item.get("state"), PART_MAX),
        "postcode": clean_text(item.get("post_code"), PART_MAX),
        "country": clean_text(item.get("country"), PART_MAX),
    }
    # A country alone is Cliniko's default, not an address anyone gave.
    if not any(value for name, value in parts.items() if name != "country"):
        return None
    return {name: value for name, value in parts.items() if value}


def _emergency_contact(raw: Any) -> dict[str, str] | None:
    """Cliniko keeps the emergency contact as one line of free text: it becomes the contact's name."""
    if isinstance(raw, Mapping):
        parts = {name: clean_text(raw.get(name), PART_MAX) for name in ("name", "relationship", "phone")}
        found = {name: value for name, value in parts.items() if value}
        return found or None
    text = clean_text(raw, PART_MAX)
    return {"name": text} if text else None


def map_patient(item: Mapping[str, Any], *, region: str, today: date) -> MappedPatient:
    """A Cliniko patient as a ``PatientInput`` (external id ``cliniko``), plus what was dropped."""
    identifier = cliniko_id(item)
    first_name = clean_text(item.get("first_name"), NAME_MAX) or ""
    last_name = clean_text(item.get("last_name"), NAME_MAX) or ""
    if not first_name and not last_name:
        raise MappingError("the patient has no name")
    phones, given, normalised = _phones(item.get("patient_phone_numbers"), region)
    email, email_dropped = _email(item.get("email"))
    sex = SEXES.get(str(item.get("sex") or "").strip().lower().replace("_", " "))
    data = PatientInput(
        first_name=first_name,
        last_name=last_name,
        preferred_name=clean_text(item.get("preferred_first_name"), NAME_MAX),
        date_of_birth=_birth_date(item.get("date_of_birth"), today),
        sex=sex,
        gender=clean_text(item.get("gender_identity") or item.get("gender"), GENDER_MAX),
        phones=phones,
        email=email,
        address=_address(item),
        emergency_contact=_emergency_contact(item.get("emergency_contact")),
        notes=clean_text(item.get("notes"), NOTES_MAX, multiline=True),
        external_ids={"cliniko": identifier},
    )
    hidden = _optional_time(item.get("archived_at")) or _optional_time(item.get("deleted_at"))
    return MappedPatient(
        cliniko_id=identifier,
        data=data,
        archived_at=hidden,
        source_updated_at=_optional_time(item.get("updated_at")),
        phones_total=given,
        phones_normalised=normalised,
        email_dropped=email_dropped,
    )


# --- practitioners, appointment types, businesses ------------------------------------------------


def map_practitioner(item: Mapping[str, Any], *, active: bool) -> dict[str, Any]:
    """Column values of a practitioner; ``active`` says which list it came from."""
    values = {
        "cliniko_id": cliniko_id(item),
        "title": clean_text(item.get("title"), 40),
        "first_name": clean_text(item.get("first_name"), 100) or "",
        "last_name": clean_text(item.get("last_name"), 100) or "",
        "designation": clean_text(item.get("designation"), 200),
        "active": bool(item.get("active", active)),
        "archived_at": _optional_time(item.get("archived_at")),
        "source_updated_at": _optional_time(item.get("updated_at")),
    }
    if not values["first_name"] and not values["last_name"]:
        raise MappingError("the practitioner has no name")
    return values


def map_appointment_type(item: Mapping[str, Any]) -> dict[str, Any]:
    duration = item.get("duration_in_minutes")
    return {
        "cliniko_id": cliniko_id(item),
        "name": clean_text(item.get("name"), 200) or "",
        "category": clean_text(item.get("category"), 200),
        "color": clean_text(item.get("color"), 20),
        "duration_minutes": duration if isinstance(duration, int) and 0 <= duration < 24 * 60 else None,
        "archived_at": _optional_time(item.get("archived_at")),
        "source_updated_at": _optional_time(item.get("updated_at")),
    }


def map_business(item: Mapping[str, Any]) -> dict[str, Any]:
    """What the connection keeps about a business (location): id, name, time zone."""
    return {
        "id": cliniko_id(item),
        "name": clean_text(item.get("display_name") or item.get("business_name") or item.get("label"), 200),
        "time_zone": clean_text(item.get("time_zone_identifier") or item.get("time_zone"), 64),
    }


# --- appointments -----------------------------------------------------------------------------


def linked_id(value: Any) -> str | None:
    """The id of a linked record: ``{"links": {"self": ".../patients/82"}}`` -> ``"82"``.

    The same answer as ``client.id_from_link`` for Cliniko's links, by plain string work: an
    appointment carries four links and a full sync reads 100,000 appointments.
    """
    links = value.get("links") if isinstance(value, (dict, Mapping)) else None
    target = links.get("self") if isinstance(links, (dict, Mapping)) else None
    if not isinstance(target, str):
        return None
    path = target
    if "#" in path:
        path = path.split("#", 1)[0]
    if "?" in path:
        path = path.split("?", 1)[0]
    path = path.strip().rstrip("/")
    segment = path.rsplit("/", 1)[-1] if "/" in path else ""
    return segment or None


@dataclass(frozen=True)
class MappedAppointment:
    """Column values (plaintext; the engine encrypts ``notes`` and ``cancellation_reason``) and the
    Cliniko ids of the records it refers to, which the engine turns into ours."""

    values: dict[str, Any]
    patient_cliniko_id: str | None
    practitioner_cliniko_id: str | None
    appointment_type_cliniko_id: str | None

    @property
    def cliniko_id(self) -> str:
        return str(self.values["cliniko_id"])


def _cancellation_reason(item: Mapping[str, Any]) -> str | None:
    """Cliniko's reason words ("Sick") and the receptionist's note, as one line of text."""
    words = clean_text(item.get("cancellation_reason_description"), 200)
    note = clean_text(item.get("cancellation_note"), 1000, multiline=True)
    if item.get("cancelled_at") is None and not note:
        return None
    return " - ".join(part for part in (words, note) if part) or None


def map_appointment(item: Mapping[str, Any]) -> MappedAppointment:
    identifier = cliniko_id(item)
    starts_at = parse_time(item.get("starts_at") or item.get("appointment_start"))
    if starts_at is None:
        raise MappingError("the appointment has no start time")
    values = {
        "cliniko_id": identifier,
        "business_cliniko_id": linked_id(item.get("business")),
        "starts_at": starts_at,
        "ends_at": _optional_time(item.get("ends_at") or item.get("appointment_end")),
        "cancelled_at": _optional_time(item.get("cancelled_at")),
        "cancellation_reason": _cancellation_reason(item),
        "notes": clean_text(item.get("notes"), NOTES_MAX, multiline=True),
        "patient_arrived": bool(item.get("patient_arrived")),
        "did_not_arrive": bool(item.get("did_not_arrive")),
        "archived_at": _optional_time(item.get("archived_at")),
        "deleted_at": _optional_time(item.get("deleted_at")),
        "source_updated_at": _optional_time(item.get("updated_at")),
    }
    return MappedAppointment(
        values=values,
        patient_cliniko_id=linked_id(item.get("patient")),
        practitioner_cliniko_id=linked_id(item.get("practitioner")),
        appointment_type_cliniko_id=linked_id(item.get("appointment_type")),
    )
