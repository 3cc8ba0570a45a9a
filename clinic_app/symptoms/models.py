"""Tables of the symptom catalogue.

Neither table holds PHI: they are catalogue entries, not anything about a patient (the intake
feature links patients to them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core.db import Model, PublicIdMixin
from clinic_app.core.time import utcnow


class MasterSymptom(PublicIdMixin, Model):
    """One ICD-11 symptom or sign, shared by every organization and never edited in the app.

    Rows come from ``data/icd11_symptoms.csv`` (loaded by a data migration); ``code`` is the
    stable key, ``id`` only the public handle within this database.
    """

    __tablename__ = "master_symptoms"
    id_prefix = "sym"

    code: Mapped[str] = mapped_column(String(12), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    chapter: Mapped[str] = mapped_column(String(4))
    category: Mapped[str] = mapped_column(String(32), index=True)
    # Lay synonyms separated by "|", matched by search but never shown as the symptom's name.
    search_terms: Mapped[str] = mapped_column(String(500), default="")


class CustomSymptom(PublicIdMixin, Model):
    """A symptom an organization added for itself because the master list lacks it."""

    __tablename__ = "custom_symptoms"
    # One name per organization, compared case-insensitively: ``name_key`` is the casefolded
    # name, so the rule holds on SQLite and PostgreSQL alike, for non-ASCII names too.
    __table_args__ = (UniqueConstraint("organization_id", "name_key"),)
    id_prefix = "csym"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    # casefold() can lengthen a string (up to three characters for one), hence the width.
    name_key: Mapped[str] = mapped_column(String(360))
    description: Mapped[str | None] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(32))
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
