"""Tables of the intake feature.

* ``IntakeDraft`` — one intake in progress (or finished): every answer so far as one encrypted JSON
  document, the step reached, and once submitted the patient it created. API calls make a draft
  too, submitted at once, so the idempotency of the web form and of ``Idempotency-Key`` is one
  mechanism.
* ``IntakeRecord`` — what the intake recorded about a patient beyond their demographics.
* ``PatientSymptom`` — a catalogue symptom (ICD-11 or the clinic's own) a patient has, with its
  severity, frequency and duration; the free-text parts are encrypted.

Catalogue references (symptom id, name, ICD-11 code) and the enumerated values (severity,
frequency, duration units and counts) are plaintext; every free-text value is ciphertext in a
``*_enc`` column registered with ``crypto.encrypted_column`` so key rotation re-encrypts it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core import crypto
from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin
from clinic_app.core.time import utcnow

DRAFT, SUBMITTED, ABANDONED = "draft", "submitted", "abandoned"
WEB, API = "web", "api"


class IntakeDraft(PublicIdMixin, TimestampMixin, Model):
    """An intake in progress. ``payload_enc`` holds the answers of every step; it is emptied once
    the draft is submitted or abandoned (the patient record holds the data from then on)."""

    __tablename__ = "intake_drafts"
    __table_args__ = (
        Index("ix_intake_drafts_org_status_updated", "organization_id", "status", "updated_at"),
        # One draft per (organization, caller, Idempotency-Key); NULL for drafts from the web form.
        UniqueConstraint("organization_id", "idempotency_key_hash"),
    )
    id_prefix = "itk"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(8), default=WEB)
    step: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    payload_enc: Mapped[str | None] = mapped_column(Text)
    submitted_patient_id: Mapped[str | None] = mapped_column(ForeignKey("patients.id", ondelete="SET NULL"))
    submitted_at: Mapped[datetime | None]
    # HMAC of the caller and the Idempotency-Key header (never the key itself), and of the body.
    idempotency_key_hash: Mapped[str | None] = mapped_column(String(64))
    request_hash: Mapped[str | None] = mapped_column(String(64))


class IntakeRecord(PublicIdMixin, Model):
    """The presenting problem as intake recorded it: one per patient."""

    __tablename__ = "intake_records"
    __table_args__ = (Index("ix_intake_records_org_created", "organization_id", "created_at", "id"),)
    id_prefix = "inr"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), unique=True)
    draft_id: Mapped[str | None] = mapped_column(ForeignKey("intake_drafts.id", ondelete="SET NULL"))
    informants_enc: Mapped[str | None] = mapped_column(Text)  # JSON {"selection": [...], "other_details": "..."}
    illness_duration_value: Mapped[int | None] = mapped_column(Integer)
    illness_duration_unit: Mapped[str | None] = mapped_column(String(8))  # days, weeks, months, years
    referred_by_enc: Mapped[str | None] = mapped_column(Text)
    presenting_problem_enc: Mapped[str | None] = mapped_column(Text)
    precipitating_factors_enc: Mapped[str | None] = mapped_column(Text)
    precipitating_tags_enc: Mapped[str | None] = mapped_column(Text)  # JSON list of strings
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PatientSymptom(PublicIdMixin, Model):
    """One symptom of a patient. ``symptom_id`` is a master (``sym_``) or custom (``csym_``)
    catalogue id; ``symptom_name`` and ``code`` are copied from the catalogue when recorded."""

    __tablename__ = "patient_symptoms"
    __table_args__ = (Index("ix_patient_symptoms_org_patient", "organization_id", "patient_id", "created_at"),)
    id_prefix = "psy"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    symptom_source: Mapped[str] = mapped_column(String(8))  # master, custom
    symptom_id: Mapped[str] = mapped_column(String(40))
    symptom_name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(12))
    severity: Mapped[str] = mapped_column(String(10))  # mild, moderate, severe
    frequency: Mapped[str] = mapped_column(String(12))  # constant, daily, weekly, occasional
    duration_value: Mapped[int | None] = mapped_column(Integer)
    duration_unit: Mapped[str | None] = mapped_column(String(8))
    notes_enc: Mapped[str | None] = mapped_column(Text)
    onset_description_enc: Mapped[str | None] = mapped_column(Text)
    triggers_enc: Mapped[str | None] = mapped_column(Text)  # JSON list of strings
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The field name each ciphertext is bound to (and that key rotation re-encrypts under).
DRAFT_PAYLOAD = "intake_drafts.payload"
RECORD_FIELDS: dict[str, str] = {
    "informants": "intake_records.informants",
    "referred_by": "intake_records.referred_by",
    "presenting_problem": "intake_records.presenting_problem",
    "precipitating_factors": "intake_records.precipitating_factors",
    "precipitating_tags": "intake_records.precipitating_tags",
}
SYMPTOM_FIELDS: dict[str, str] = {
    "notes": "patient_symptoms.notes",
    "onset_description": "patient_symptoms.onset_description",
    "triggers": "patient_symptoms.triggers",
}

crypto.encrypted_column(IntakeDraft, "payload_enc", DRAFT_PAYLOAD)
for _name, _field in RECORD_FIELDS.items():
    crypto.encrypted_column(IntakeRecord, f"{_name}_enc", _field)
for _name, _field in SYMPTOM_FIELDS.items():
    crypto.encrypted_column(PatientSymptom, f"{_name}_enc", _field)
