"""A person's professional profile in one organization.

One row per (organization, user): an organization keeps its own view of the person, so a
clinician who works at two clinics has two profiles and neither clinic sees or changes the
other's. The fields identify a clinician professionally (they are printed on signed reports) and
are not patient information, so they are plain columns.

``default_report_template_id`` names one of the organization's report templates. It has no
foreign key: templates belong to the reports feature, which sits above this one. The value is
checked against the organization's templates when it is saved (``report_templates``), and reports
fall back to the organization's default when it no longer names one of them.
"""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin


class ProfessionalProfile(PublicIdMixin, TimestampMixin, Model):
    """A member's professional details in one organization."""

    __tablename__ = "professional_profiles"
    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)
    id_prefix = "prf"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    discipline: Mapped[str | None] = mapped_column(String(80))
    registration_body: Mapped[str | None] = mapped_column(String(80))
    registration_number: Mapped[str | None] = mapped_column(String(40))
    qualifications: Mapped[list[str]] = mapped_column(JSON, default=list)
    signature_block: Mapped[str | None] = mapped_column(Text)
    default_report_template_id: Mapped[str | None] = mapped_column(String(40))
    updated_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
