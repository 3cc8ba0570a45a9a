"""Report templates (versioned) and clinical reports.

A template's sections can change; each change is a new ``ReportTemplateVersion`` and a report
keeps the version it was generated from, so an old report always shows the structure it had.

A ``Report`` is one version of one report: ``version`` 1 is the original, an amendment is a new
row with ``version`` + 1 and ``amends_report_id`` pointing at the report it corrects (which stays
as it was, signed and immutable). Its content is PHI and stored encrypted: the sections as the
generator wrote them (``generated_sections_enc``) and as the clinician edited them
(``current_sections_enc``), each a JSON object ``{section key: Markdown}``, plus the extra inputs
the request gave (``extra_inputs_enc``: additional notes, patient progress). ``revision`` counts
saves, for optimistic concurrency: a save names the revision it edited, and a stale one is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core import crypto
from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin
from clinic_app.core.time import utcnow

PENDING, GENERATING, DRAFT, SIGNED = "pending", "generating", "draft", "signed"
STATUSES = (PENDING, GENERATING, DRAFT, SIGNED)
STATUS_LABELS = {PENDING: "Waiting to generate", GENERATING: "Generating", DRAFT: "Draft", SIGNED: "Signed"}


class ReportTemplate(PublicIdMixin, TimestampMixin, Model):
    """A named report structure of one organization; its sections live on its versions."""

    __tablename__ = "report_templates"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)
    id_prefix = "rtp"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    # "mental_health" / "physiotherapy" for the seeded defaults, None for the clinic's own.
    builtin_key: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(String(500))
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    is_default: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ReportTemplateVersion(PublicIdMixin, Model):
    """The sections of a template at one version: an ordered list of {key, title, guidance}."""

    __tablename__ = "report_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)
    id_prefix = "rtv"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    template_id: Mapped[str] = mapped_column(ForeignKey("report_templates.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(120))
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Report(PublicIdMixin, TimestampMixin, Model):
    """One version of a clinical report of one consultation session."""

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_org_created", "organization_id", "created_at", "id"),
        Index("ix_reports_org_patient", "organization_id", "patient_id", "created_at"),
        Index("ix_reports_org_status", "organization_id", "status"),
    )
    id_prefix = "rep"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(ForeignKey("consultation_sessions.id", ondelete="CASCADE"), index=True)
    template_version_id: Mapped[str] = mapped_column(ForeignKey("report_template_versions.id"))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    version: Mapped[int] = mapped_column(Integer, default=1)
    amends_report_id: Mapped[str | None] = mapped_column(ForeignKey("reports.id"), index=True, unique=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)

    # Provenance of the draft: which generator and model, from which inputs, and why a fallback.
    generator: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(120))
    generation_note: Mapped[str | None] = mapped_column(String(500))
    inputs_sha256: Mapped[str | None] = mapped_column(String(64))
    inputs_summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    generation_ms: Mapped[int | None] = mapped_column(Integer)
    generated_at: Mapped[datetime | None]
    job_id: Mapped[str | None] = mapped_column(String(40))

    generated_sections_enc: Mapped[str | None] = mapped_column(Text)
    current_sections_enc: Mapped[str | None] = mapped_column(Text)
    extra_inputs_enc: Mapped[str | None] = mapped_column(Text)

    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    signed_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    signed_at: Mapped[datetime | None]
    content_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    # The signer's professional details as they were at signing (profiles.signing_credentials):
    # printed on the PDF and covered by the content hash, so a later profile change never alters
    # what a signed report says. None when the signer had none (or it was signed before them).
    signer_credentials: Mapped[dict[str, str] | None] = mapped_column(JSON)

    @property
    def is_signed(self) -> bool:
        return self.status == SIGNED


# The field name each ciphertext is bound to (and that key rotation re-encrypts under).
ENCRYPTED_FIELDS: dict[str, str] = {
    "generated_sections": "reports.generated_sections",
    "current_sections": "reports.current_sections",
    "extra_inputs": "reports.extra_inputs",
}

for _name, _field in ENCRYPTED_FIELDS.items():
    crypto.encrypted_column(Report, f"{_name}_enc", _field)
