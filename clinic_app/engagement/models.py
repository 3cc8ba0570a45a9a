"""Contact outcomes: each attempt to reach a patient about coming back (docs/rules.md).

The note is free text about a patient, so it is encrypted like the patient record; the outcome,
times and ids stay plaintext because the worklist filters by them. The risk level and the
appointment counts at the time of the contact are kept so "until something changes" can be
decided later without guessing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core import crypto
from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin
from clinic_app.engagement.rules import (  # the outcomes are part of the written rules
    DO_NOT_CONTACT,
    LEFT_MESSAGE,
    NO_ANSWER,
    REACHED_BOOKED,
    REACHED_DECLINED,
    WRONG_NUMBER,
)

OUTCOME_LABELS = {
    REACHED_BOOKED: "Reached: booked",
    REACHED_DECLINED: "Reached: declined",
    LEFT_MESSAGE: "Left a message",
    NO_ANSWER: "No answer",
    WRONG_NUMBER: "Wrong number",
    DO_NOT_CONTACT: "Do not contact",
}


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
