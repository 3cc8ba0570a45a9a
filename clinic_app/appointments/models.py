"""Tables of appointments and the things they point at (per-patient figures: ``clinic_app.figures``).

Practitioners, appointment types and appointments carry the id Cliniko gives them
(``cliniko_id``, unique per organization) so a sync can upsert them; rows created here later
(without Cliniko) leave it empty. Free text about a patient (an appointment's notes and
cancellation reason) is encrypted like the patient record; times, flags and ids are plaintext
because dashboards sort and count by them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core import crypto
from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin

CLINIKO_ID = 32  # Cliniko ids are 64-bit integers; kept as text, as its JSON sends them

# Attendance statuses (docs/rules.md). Archived and deleted are separate timestamps, not statuses.
BOOKED, ATTENDED, CANCELLED, DID_NOT_ARRIVE = "booked", "attended", "cancelled", "did_not_arrive"
STATUSES = (BOOKED, ATTENDED, CANCELLED, DID_NOT_ARRIVE)
# Appointments that are not cancelled, marked or removed: "booked" once they are in the future.
UPCOMING_PREDICATE = (
    "cancelled_at IS NULL AND did_not_arrive = {false} AND patient_arrived = {false} "
    "AND archived_at IS NULL AND deleted_at IS NULL"
)


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
    # The staff member who is this practitioner, when there is one (set on the practitioners page,
    # so "my day" can default to them); Cliniko's practitioners are not linked to our users.
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

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
        # A practitioner's day or week, and the double-booking check (appointments/clashes.py).
        Index("ix_appointments_org_practitioner_starts", "organization_id", "practitioner_id", "starts_at"),
        # Upcoming appointments (appointments/schedule.py): the ones that can still be "booked",
        # so counting a window is an index-only scan. Its predicate and the queries' must match.
        Index(
            "ix_appointments_org_upcoming",
            "organization_id",
            "starts_at",
            postgresql_include=["practitioner_id", "appointment_type_id"],
            postgresql_where=text(UPCOMING_PREDICATE.format(false="false")),
            sqlite_where=text(UPCOMING_PREDICATE.format(false="0")),
        ),
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


# The field name each ciphertext is bound to (and key rotation re-encrypts under).
NOTES_FIELD = "appointments.notes"
CANCELLATION_REASON_FIELD = "appointments.cancellation_reason"
crypto.encrypted_column(Appointment, "notes_enc", NOTES_FIELD)
crypto.encrypted_column(Appointment, "cancellation_reason_enc", CANCELLATION_REASON_FIELD)
