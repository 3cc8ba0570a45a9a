"""The patient record and its lookup identifiers.

Names are plaintext (lower-cased ``*_key`` copies serve sorting and prefix search); every other
personal value is stored as ciphertext in a ``*_enc`` column (see docs/patients.md). Equality
lookups go through HMAC blind indexes: ``email_bidx`` and ``dob_bidx`` on the row, and one
``PatientIdentifier`` row per phone number or external id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core import crypto
from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin

NAME_MAX = 100

# Byte-order comparison for the search keys on PostgreSQL, so ``key >= 'smi' AND key < 'smj'``
# is exactly "starts with smi" and the b-tree index serves it whatever the database's locale.
# SQLite compares bytes already.
SearchKey = String(NAME_MAX).with_variant(String(NAME_MAX, collation="C"), "postgresql")


NAME_INDEX_INCLUDE = ["archived", "created_at", "preferred_name_key"]


class Patient(PublicIdMixin, TimestampMixin, Model):
    """A patient of one organization."""

    __tablename__ = "patients"
    __table_args__ = (
        # Every index leads with the organization: each query is scoped to one.
        Index("ix_patients_org_archived", "organization_id", "archived"),  # counts per status
        # The name indexes cover a search (see patients/search.py): they carry the sort keys and
        # the archived flag, so finding the matches never reads a (wide, encrypted) row.
        Index(
            "ix_patients_org_last_first",
            "organization_id",
            "last_name_key",
            "first_name_key",
            "id",
            postgresql_include=NAME_INDEX_INCLUDE,
        ),
        Index(
            "ix_patients_org_first_last",
            "organization_id",
            "first_name_key",
            "last_name_key",
            "id",
            postgresql_include=NAME_INDEX_INCLUDE,
        ),
        Index(
            "ix_patients_org_preferred",
            "organization_id",
            "preferred_name_key",
            "id",
            postgresql_include=["archived", "created_at", "last_name_key", "first_name_key"],
        ),
        Index("ix_patients_org_created", "organization_id", "created_at", "id"),
        Index("ix_patients_org_email_bidx", "organization_id", "email_bidx"),
        Index("ix_patients_org_dob_bidx", "organization_id", "dob_bidx"),
    )
    id_prefix = "pat"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))

    first_name: Mapped[str] = mapped_column(String(NAME_MAX))
    last_name: Mapped[str] = mapped_column(String(NAME_MAX))
    preferred_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    first_name_key: Mapped[str] = mapped_column(SearchKey)
    last_name_key: Mapped[str] = mapped_column(SearchKey)
    preferred_name_key: Mapped[str | None] = mapped_column(SearchKey)

    date_of_birth_enc: Mapped[str | None] = mapped_column(Text)
    sex_enc: Mapped[str | None] = mapped_column(Text)
    gender_enc: Mapped[str | None] = mapped_column(Text)
    phones_enc: Mapped[str | None] = mapped_column(Text)  # JSON list of {"type", "number"}
    email_enc: Mapped[str | None] = mapped_column(Text)
    address_enc: Mapped[str | None] = mapped_column(Text)  # JSON object
    emergency_contact_enc: Mapped[str | None] = mapped_column(Text)  # JSON object
    notes_enc: Mapped[str | None] = mapped_column(Text)
    external_ids_enc: Mapped[str | None] = mapped_column(Text)  # JSON object, e.g. {"cliniko": "123"}

    email_bidx: Mapped[str | None] = mapped_column(String(64))
    dob_bidx: Mapped[str | None] = mapped_column(String(64))

    archived: Mapped[bool] = mapped_column(default=False)
    archived_at: Mapped[datetime | None]
    # Set when the patient was erased (docs/retention.md, "Erasure"): the row stays as a tombstone
    # with no personal value, so the records the law keeps (signed reports, invoices) point somewhere.
    erased_at: Mapped[datetime | None]
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class PatientIdentifier(PublicIdMixin, Model):
    """The blind index of one phone number (``kind`` "phone") or external id (``kind``
    "external:<system>") of a patient, for exact lookups; holds no readable value."""

    __tablename__ = "patient_identifiers"
    __table_args__ = (Index("ix_patient_identifiers_lookup", "organization_id", "kind", "bidx"),)
    id_prefix = "pid"

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    bidx: Mapped[str] = mapped_column(String(64))


class ConsentRecord(PublicIdMixin, Model):
    """One consent a patient gave (``kind``, to the text of ``text_version``), recorded by a member
    of staff; withdrawing it keeps the row and sets ``withdrawn_at``. Holds no free text."""

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_records_org_patient", "organization_id", "patient_id", "given_at", "id"),)
    id_prefix = "cns"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    text_version: Mapped[str] = mapped_column(String(40))
    method: Mapped[str] = mapped_column(String(16))  # written, verbal, online
    given_at: Mapped[datetime]
    recorded_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_by_token_id: Mapped[str | None] = mapped_column(String(40))
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class ErasureRequest(PublicIdMixin, Model):
    """An owner's request to erase a patient: it waits ``waiting_days`` (until ``due_at``), may be
    cancelled meanwhile, and is carried out once (by the clock or the owner). ``open_patient_id``
    is the patient's id while the request waits and NULL afterwards: the unique constraint allows
    one waiting request per patient (NULLs never clash, on SQLite and PostgreSQL alike)."""

    __tablename__ = "erasure_requests"
    __table_args__ = (
        UniqueConstraint("open_patient_id"),
        Index("ix_erasure_requests_org_patient", "organization_id", "patient_id"),
        Index("ix_erasure_requests_due", "status", "due_at"),
    )
    id_prefix = "era"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    open_patient_id: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))  # waiting, cancelled, completed
    reason: Mapped[str] = mapped_column(String(32))  # a code from patients.erasure.REASONS
    note_enc: Mapped[str | None] = mapped_column(Text)  # cleared when carried out
    waiting_days: Mapped[int]
    requested_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime]
    due_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    completed_at: Mapped[datetime | None]
    completed_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # What was erased and kept, by feature (counts, reasons, dates: never a value).
    outcome: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)


# The field name each column's ciphertext is bound to (and that key rotation re-encrypts under).
ENCRYPTED_FIELDS: dict[str, str] = {
    "date_of_birth": "patients.date_of_birth",
    "sex": "patients.sex",
    "gender": "patients.gender",
    "phones": "patients.phones",
    "email": "patients.email",
    "address": "patients.address",
    "emergency_contact": "patients.emergency_contact",
    "notes": "patients.notes",
    "external_ids": "patients.external_ids",
}

for _name, _field in ENCRYPTED_FIELDS.items():
    crypto.encrypted_column(Patient, f"{_name}_enc", _field)

crypto.encrypted_column(ErasureRequest, "note_enc", "erasure_requests.note")
