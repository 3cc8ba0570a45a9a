"""Tables of appointments and the things they point at, plus per-patient statistics.

Practitioners, appointment types and appointments carry the id Cliniko gives them
(``cliniko_id``, unique per organization) so a sync can upsert them; rows created here later
(without Cliniko) leave it empty. Free text about a patient (an appointment's notes and
cancellation reason) is encrypted like the patient record; times, flags and ids are plaintext
because dashboards sort and count by them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core import crypto
from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin
from clinic_app.core.time import utcnow

CLINIKO_ID = 32  # Cliniko ids are 64-bit integers; kept as text, as its JSON sends them

# Attendance statuses (docs/rules.md). Archived and deleted are separate timestamps, not statuses.
BOOKED, ATTENDED, CANCELLED, DID_NOT_ARRIVE = "booked", "attended", "cancelled", "did_not_arrive"
STATUSES = (BOOKED, ATTENDED, CANCELLED, DID_NOT_ARRIVE)


class Practitioner(PublicIdMixin, TimestampMixin, Model):
    """Someone who sees patients (staff names are not PHI, so plaintext)."""

    __tablename__ = "practitioners"
    __table_args__ = (UniqueConstraint("organization_id", "cliniko_id"),)
    id_prefix = "prc"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    cliniko_id: Mapped[str | None] = mapped_column(String(CLINIKO_ID))
    title: Mapped[str | None] = mapped_column(String(40))
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    designation: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    archived_at: Mapped[datetime | None]
    source_updated_at: Mapped[datetime | None]

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.title, self.first_name, self.last_name) if part)


class AppointmentType(PublicIdMixin, TimestampMixin, Model):
    """A kind of appointment ("Initial consultation", 60 minutes)."""

    __tablename__ = "appointment_types"
    __table_args__ = (UniqueConstraint("organization_id", "cliniko_id"),)
    id_prefix = "aty"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    cliniko_id: Mapped[str | None] = mapped_column(String(CLINIKO_ID))
    name: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str | None] = mapped_column(String(200))
    color: Mapped[str | None] = mapped_column(String(20))
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    archived_at: Mapped[datetime | None]
    source_updated_at: Mapped[datetime | None]


class Appointment(PublicIdMixin, TimestampMixin, Model):
    """One booking of one patient with one practitioner.

    ``status`` is the attendance rule of docs/rules.md applied at the last sync or statistics run
    (a booking turns into "attended" once its start passes, so ``appointments.service`` refreshes
    it). ``archived_at``/``deleted_at`` are separate: such an appointment keeps its status but is
    left out of every count.
    """

    __tablename__ = "appointments"
    __table_args__ = (
        UniqueConstraint("organization_id", "cliniko_id"),
        Index("ix_appointments_org_patient_starts", "organization_id", "patient_id", "starts_at"),
        Index("ix_appointments_org_starts", "organization_id", "starts_at"),
    )
    id_prefix = "apt"

    # Indexed by the three indexes below, which all lead with it.
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    cliniko_id: Mapped[str | None] = mapped_column(String(CLINIKO_ID))
    # Keyed hash of what the sync stored (see sync/mapping.py); None: look at it again next sync.
    # Appointments keep their own instead of a ClinikoLink row: this table is already their map.
    content_hash: Mapped[str | None] = mapped_column(String(64))
    # Empty only while Cliniko's patient is not (yet) known here; patient_cliniko_id keeps the link.
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patients.id", ondelete="SET NULL"))
    patient_cliniko_id: Mapped[str | None] = mapped_column(String(CLINIKO_ID))
    practitioner_id: Mapped[str | None] = mapped_column(ForeignKey("practitioners.id", ondelete="SET NULL"))
    appointment_type_id: Mapped[str | None] = mapped_column(ForeignKey("appointment_types.id", ondelete="SET NULL"))
    business_cliniko_id: Mapped[str | None] = mapped_column(String(CLINIKO_ID))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default=BOOKED)
    cancelled_at: Mapped[datetime | None]
    cancellation_reason_enc: Mapped[str | None] = mapped_column(Text)
    notes_enc: Mapped[str | None] = mapped_column(Text)
    patient_arrived: Mapped[bool] = mapped_column(default=False)
    did_not_arrive: Mapped[bool] = mapped_column(default=False)
    archived_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    source_updated_at: Mapped[datetime | None]


class PatientAppointmentStats(Model):
    """What a patient's appointments add up to, as of ``computed_at`` (docs/rules.md).

    ``valid_until`` is the first moment the figures would change by time passing alone (the next
    appointment starts, or an attended one leaves the 30-day window), so a refresh can recompute
    just the patients whose figures went stale.
    """

    __tablename__ = "patient_appointment_stats"
    __table_args__ = (
        UniqueConstraint("organization_id", "patient_id"),
        Index("ix_patient_appointment_stats_org_active", "organization_id", "is_active"),
        Index("ix_patient_appointment_stats_org_valid", "organization_id", "valid_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    attended: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    did_not_arrive: Mapped[int] = mapped_column(Integer, default=0)
    upcoming: Mapped[int] = mapped_column(Integer, default=0)
    recent_attended: Mapped[int] = mapped_column(Integer, default=0)
    first_appointment_at: Mapped[datetime | None]
    last_attended_at: Mapped[datetime | None]
    next_appointment_at: Mapped[datetime | None]
    is_active: Mapped[bool] = mapped_column(default=False)
    valid_until: Mapped[datetime | None]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


# The field name each ciphertext is bound to (and key rotation re-encrypts under).
NOTES_FIELD = "appointments.notes"
CANCELLATION_REASON_FIELD = "appointments.cancellation_reason"
crypto.encrypted_column(Appointment, "notes_enc", NOTES_FIELD)
crypto.encrypted_column(Appointment, "cancellation_reason_enc", CANCELLATION_REASON_FIELD)
