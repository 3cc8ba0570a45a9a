"""The per-patient figures and the recorded contacts they take into account (docs/rules.md).

``PatientAppointmentStats`` is what a patient's appointments add up to (one row per patient,
rebuilt by ``figures.service.recompute``); ``EngagementContact`` is each attempt to reach a patient
about coming back: the latest one can keep the patient off the re-engagement worklist "until
something changes", so the figures read it. The note is free text about a patient, so it is
encrypted like the patient record; the outcome, times and ids stay plaintext because the worklist
filters by them. The risk level and the appointment counts at the time of the contact are kept so
"until something changes" can be decided later without guessing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, desc
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core import crypto
from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin
from clinic_app.core.time import utcnow


class PatientAppointmentStats(Model):
    """What a patient's appointments add up to, as of ``computed_at`` (docs/rules.md).

    ``valid_until`` is the first moment the figures would change by time passing alone (the next
    appointment starts, an attended one leaves the 30-day window, the days since the last contact
    cross a threshold, an appointment leaves the 90-day window, a contact stops hiding the
    patient), so a refresh can recompute just the patients whose figures went stale.

    The ``next_*`` and ``primary_appointment_type_id`` ids are a cache rebuilt with the figures,
    so they carry no foreign keys (appointments, types and practitioners are archived, never
    deleted). ``risk_*`` and ``action_priority`` are ``figures.rules``' answer for these figures;
    ``contacted_at`` is set while a recorded contact keeps the patient off the worklist.
    """

    __tablename__ = "patient_appointment_stats"
    __table_args__ = (
        UniqueConstraint("organization_id", "patient_id"),
        Index("ix_patient_appointment_stats_org_active", "organization_id", "is_active"),
        Index("ix_patient_appointment_stats_org_valid", "organization_id", "valid_until"),
        # The re-engagement worklist's order (docs/rules.md), so its first page is an index scan.
        Index(
            "ix_patient_appointment_stats_worklist",
            "organization_id",
            "action_priority",
            desc("risk_score"),
            "patient_id",
        ),
        # The active-patients list: active ones, soonest next appointment first.
        Index(
            "ix_patient_appointment_stats_org_active_next",
            "organization_id",
            "is_active",
            "next_appointment_at",
        ),
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
    activity_status: Mapped[str] = mapped_column(String(16), default="inactive")
    next_appointment_id: Mapped[str | None] = mapped_column(String(40))
    next_appointment_type_id: Mapped[str | None] = mapped_column(String(40))
    next_practitioner_id: Mapped[str | None] = mapped_column(String(40))
    primary_appointment_type_id: Mapped[str | None] = mapped_column(String(40))
    attended_90: Mapped[int] = mapped_column(Integer, default=0)
    did_not_arrive_90: Mapped[int] = mapped_column(Integer, default=0)
    late_cancelled_90: Mapped[int] = mapped_column(Integer, default=0)
    risk_level: Mapped[str] = mapped_column(String(8), default="low")
    risk_score: Mapped[int] = mapped_column(Integer, default=0)
    action_priority: Mapped[int] = mapped_column(Integer, default=4)
    risk_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    contacted_at: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class EngagementContact(PublicIdMixin, TimestampMixin, Model):
    """One recorded attempt to reach a patient, by a member of staff, with its outcome."""

    __tablename__ = "engagement_contacts"
    __table_args__ = (
        Index("ix_engagement_contacts_org_patient_at", "organization_id", "patient_id", "contacted_at"),
        Index("ix_engagement_contacts_org_at", "organization_id", "contacted_at"),
    )
    id_prefix = "ecn"

    # Indexed by the two indexes above, which lead with it.
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    contacted_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(24))
    note_enc: Mapped[str | None] = mapped_column(Text)
    # What the patient looked like when contacted: the risk level, and the appointment counts as
    # "total:attended:cancelled:did_not_arrive:upcoming" (docs/rules.md, "until something changes").
    risk_level: Mapped[str] = mapped_column(String(8))
    figures_key: Mapped[str] = mapped_column(String(80))


NOTE_FIELD = "engagement_contacts.note"
crypto.encrypted_column(EngagementContact, "note_enc", NOTE_FIELD)
