"""Between validated values and stored rows: what goes into each ``*_enc`` column and blind
index, and how a row is read back into a ``PatientView`` where any encrypted field may be
``UNREADABLE`` (shown as "unreadable", null in JSON) instead of failing the page."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Row, delete, or_

from clinic_app.core.crypto import UNREADABLE, Unreadable, Vault
from clinic_app.extensions import db
from clinic_app.patients.models import ENCRYPTED_FIELDS, Patient, PatientIdentifier
from clinic_app.patients.validation import PatientInput, Phone, name_key, normalise_email

log = logging.getLogger("clinic_app.patients")

PHONE_KIND = "phone"
EXTERNAL_KIND = "external:"  # + the system, e.g. "external:cliniko"
NAME_FIELDS = ("first_name", "last_name", "preferred_name")
# The encrypted fields a list row shows (and the only ones a list page decrypts).
LIST_FIELDS = ("date_of_birth", "phones", "email")

Maybe = Any  # a decrypted value, None (no value) or UNREADABLE


def identifier_field(kind: str) -> str:
    """The blind-index field name of an identifier kind ("patients.phone", "patients.external:cliniko")."""
    return f"patients.{kind}"


def external_kind(system: str) -> str:
    return f"{EXTERNAL_KIND}{system}"


def plaintext_of(data: PatientInput, name: str) -> str | None:
    """The string that is encrypted for field ``name`` (JSON for the structured fields)."""
    value = getattr(data, name)
    if name == "date_of_birth":
        return value.isoformat() if value else None
    if name == "phones":
        return _json([phone.as_dict() for phone in value]) if value else None
    if name in ("address", "emergency_contact", "external_ids"):
        return _json(value) if value else None
    return value or None


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def write_fields(patient: Patient, data: PatientInput, vault: Vault, names: set[str] | frozenset[str]) -> None:
    """Store the ``names`` fields of ``data`` on ``patient``: names in plaintext with their search
    keys, everything else encrypted, and the blind indexes that go with them."""
    for name in names:
        if name in NAME_FIELDS:
            value = getattr(data, name)
            setattr(patient, name, value)
            setattr(patient, f"{name}_key", name_key(value) or (None if name == "preferred_name" else ""))
            continue
        setattr(patient, f"{name}_enc", vault.encrypt(ENCRYPTED_FIELDS[name], plaintext_of(data, name)))
        if name == "email":
            patient.email_bidx = vault.blind_index("patients.email", normalise_email(data.email or ""))
        elif name == "date_of_birth":
            patient.dob_bidx = vault.blind_index("patients.date_of_birth", plaintext_of(data, name))


# The columns a bulk write (the sync, the scale seeder) fills from a patient's data; the rest are
# set per insert or update (ids, organization, who and when).
BULK_COLUMNS = tuple(
    column.key
    for column in Patient.__table__.columns
    if column.key not in ("id", "organization_id", "created_at", "updated_at", "created_by_id", "updated_by_id")
)


def column_values(data: PatientInput, vault: Vault, *, archived_at: datetime | None) -> dict[str, Any]:
    """A patient's stored columns (names in plaintext for search, everything else encrypted) for a
    bulk write, by this feature's own writer (on a plain object: an ORM instance would cost more
    than the encryption, a new public id included)."""
    row = SimpleNamespace(**dict.fromkeys(BULK_COLUMNS))
    write_fields(row, data, vault, data.provided)  # type: ignore[arg-type]
    values = {name: getattr(row, name) for name in BULK_COLUMNS}
    values.update(archived=archived_at is not None, archived_at=archived_at)
    return values


def identifier_rows(patient_id: str, organization_id: str, data: PatientInput, vault: Vault) -> list[dict[str, Any]]:
    """The lookup rows (blind indexes only) for the patient's phones and external ids."""
    # Only the patient's own numbers: an emergency contact's phone belongs to someone else.
    rows = [(PHONE_KIND, phone.number) for phone in data.phones]
    rows += [(external_kind(system), identifier) for system, identifier in (data.external_ids or {}).items()]
    return [
        {
            "patient_id": patient_id,
            "organization_id": organization_id,
            "kind": kind,
            "bidx": vault.blind_index(identifier_field(kind), value),
        }
        for kind, value in rows
    ]


def replace_identifiers(patient: Patient, data: PatientInput, vault: Vault, names: set[str] | frozenset[str]) -> None:
    """Re-create the lookup rows of the identifier fields among ``names`` (phones, external ids)."""
    kinds = []
    if "phones" in names:
        kinds.append(PatientIdentifier.kind == PHONE_KIND)
    if "external_ids" in names:
        kinds.append(PatientIdentifier.kind.startswith(EXTERNAL_KIND))
    if not kinds:
        return
    db.session.execute(delete(PatientIdentifier).where(PatientIdentifier.patient_id == patient.id, or_(*kinds)))
    partial = PatientInput(
        phones=data.phones if "phones" in names else (),
        external_ids=data.external_ids if "external_ids" in names else {},
    )
    for row in identifier_rows(patient.id, patient.organization_id, partial, vault):
        db.session.add(PatientIdentifier(**row))


# --- reading ----------------------------------------------------------------------------------


def read_field(vault: Vault, patient: Patient | Row[Any], name: str) -> Maybe:
    """One encrypted field of a patient (or a list query's row), decrypted and parsed: a value,
    None, or UNREADABLE (never raises)."""
    stored = getattr(patient, f"{name}_enc")
    plain = vault.decrypt(ENCRYPTED_FIELDS[name], stored, target_id=patient.id)
    if plain is None or isinstance(plain, Unreadable):
        return _empty(name) if plain is None else UNREADABLE
    try:
        return _parse(name, plain)
    except (ValueError, TypeError, KeyError):
        # Authentic ciphertext with content we cannot parse: a bug, not tampering; still no 500.
        log.error("stored patient field has an unexpected shape", extra={"event": "patient_field_shape", "field": name})
        return UNREADABLE


def _empty(name: str) -> Any:
    if name == "phones":
        return ()
    if name == "external_ids":
        return {}
    return None


def _parse(name: str, plain: str) -> Any:
    if name == "date_of_birth":
        return date.fromisoformat(plain)
    if name == "phones":
        return tuple(Phone(item["type"], item["number"]) for item in json.loads(plain))
    if name in ("address", "emergency_contact", "external_ids"):
        value = json.loads(plain)
        if not isinstance(value, dict):
            raise TypeError(name)
        return value
    return plain


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@dataclass(frozen=True)
class PatientView:
    """A decrypted patient record. Each encrypted field may be UNREADABLE."""

    id: str
    first_name: str
    last_name: str
    preferred_name: str | None
    date_of_birth: Maybe
    sex: Maybe
    gender: Maybe
    phones: Maybe  # tuple[Phone, ...]
    email: Maybe
    address: Maybe  # dict
    emergency_contact: Maybe  # dict
    notes: Maybe
    external_ids: Maybe  # dict
    archived: bool
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    created_by_id: str | None
    updated_by_id: str | None
    unreadable_fields: tuple[str, ...] = field(default=())

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def primary_phone(self) -> Maybe:
        if isinstance(self.phones, Unreadable):
            return UNREADABLE
        return self.phones[0] if self.phones else None

    def age(self, today: date) -> int | None:
        return age_on(self.date_of_birth, today) if isinstance(self.date_of_birth, date) else None


@dataclass(frozen=True)
class PatientRow:
    """A patient as the list shows it: names, date of birth, primary phone and e-mail (only
    these are decrypted for a list page)."""

    id: str
    first_name: str
    last_name: str
    preferred_name: str | None
    date_of_birth: Maybe
    primary_phone: Maybe  # Phone, None or UNREADABLE
    email: Maybe
    archived: bool
    created_at: datetime
    unreadable_fields: tuple[str, ...] = field(default=())

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def age(self, today: date) -> int | None:
        return age_on(self.date_of_birth, today) if isinstance(self.date_of_birth, date) else None


def view_of(patient: Patient, vault: Vault) -> PatientView:
    values = {name: read_field(vault, patient, name) for name in ENCRYPTED_FIELDS}
    return PatientView(
        id=patient.id,
        first_name=patient.first_name,
        last_name=patient.last_name,
        preferred_name=patient.preferred_name,
        archived=patient.archived,
        archived_at=patient.archived_at,
        created_at=patient.created_at,
        updated_at=patient.updated_at,
        created_by_id=patient.created_by_id,
        updated_by_id=patient.updated_by_id,
        unreadable_fields=tuple(name for name, value in values.items() if isinstance(value, Unreadable)),
        **values,
    )


def row_of(patient: Patient | Row[Any], vault: Vault) -> PatientRow:
    values = {name: read_field(vault, patient, name) for name in LIST_FIELDS}
    phones = values["phones"]
    return PatientRow(
        id=patient.id,
        first_name=patient.first_name,
        last_name=patient.last_name,
        preferred_name=patient.preferred_name,
        date_of_birth=values["date_of_birth"],
        primary_phone=UNREADABLE if isinstance(phones, Unreadable) else (phones[0] if phones else None),
        email=values["email"],
        archived=patient.archived,
        created_at=patient.created_at,
        unreadable_fields=tuple(name for name, value in values.items() if isinstance(value, Unreadable)),
    )
