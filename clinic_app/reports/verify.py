"""Provenance of exported reports: each PDF export is recorded, and a hash or a PDF can be checked
against the organization's signed reports.

What counts as verified (`verify_hash`, `verify_pdf`), always within one organization:

* a PDF whose bytes' SHA-256 equals that of a PDF this organization exported **while the report
  was signed** (a draft's export, with its "not signed" banner, never verifies, even after the
  report is signed later);
* a hash equal to the SHA-256 of a PDF exported that way, or to a signed report's content hash
  (the hash printed in the PDF's signature block, `Report.content_sha256`).

Anything else is rejected with a sentence saying why. A PDF that was changed after export no
longer matches its recorded hash; when its metadata still names a report, the answer says which
report it claims to be. Reports of other organizations are never confirmed, nor their existence
hinted at: the answer is the same as for a hash nobody ever signed.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.accounts.models import User
from clinic_app.core import audit
from clinic_app.core.db import Model, PublicIdMixin
from clinic_app.core.errors import Conflict, FieldError, Invalid, Unavailable
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.reports import pdf
from clinic_app.reports import service as reports
from clinic_app.reports.models import DRAFT, SIGNED, Report

log = logging.getLogger("clinic_app.reports.verify")

MAX_PDF_BYTES = 10 * 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


class ReportExport(PublicIdMixin, Model):
    """One PDF handed out: which report, the SHA-256 of the exact bytes, who and when.

    ``content_sha256`` is the report's content hash at the time of export, or None when the report
    was not signed then (a draft export, which never verifies)."""

    __tablename__ = "report_exports"
    __table_args__ = (Index("ix_report_exports_org_pdf_sha256", "organization_id", "pdf_sha256"),)
    id_prefix = "rex"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    report_version: Mapped[int]
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    exported_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    exported_by_token_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- export -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedPdf:
    content: bytes
    filename: str
    sha256: str
    export_id: str


def export_pdf(organization_id: str, report_id: str, *, actor: audit.Actor) -> ExportedPdf:
    """Render report ``report_id`` of the organization as PDF, record the export and audit it.

    Raises `NotFound` (not this organization's report), `Conflict` (no draft yet to print), or
    `Unavailable` (WeasyPrint's system libraries are missing; checked before any content is read).
    """
    report = reports.get_report(organization_id, report_id)
    if not pdf.available():
        raise Unavailable(pdf.UNAVAILABLE_DETAIL, reason="pdf_renderer_unavailable")
    if report.status not in (SIGNED, DRAFT):
        raise Conflict("This report has no draft yet: wait until generation has finished, then export it.")
    document = reports.document_for(report)
    content = pdf.render_pdf(document)
    digest = hashlib.sha256(content).hexdigest()
    signed = report.status == SIGNED and bool(report.content_sha256)
    export = ReportExport(
        organization_id=organization_id,
        report_id=report.id,
        report_version=report.version,
        pdf_sha256=digest,
        content_sha256=report.content_sha256 if signed else None,
        exported_by_id=actor.user_id,
        exported_by_token_id=actor.token_id,
    )
    db.session.add(export)
    audit.record(
        "report.exported",
        organization_id=organization_id,
        actor=actor,
        target_type="report",
        target_id=report.id,
        patient_id=report.patient_id,
        details={"export_id": export.id, "pdf_sha256": digest, "version": report.version, "signed": signed},
    )
    db.session.flush()
    suffix = "" if signed else "-draft"
    return ExportedPdf(content, f"report-{report.id}-v{report.version}{suffix}.pdf", digest, export.id)


# --- verification -----------------------------------------------------------------------------

PDF = "pdf"
CONTENT_HASH = "content_hash"
EXPORT_HASH = "export_hash"


@dataclass(frozen=True)
class Verification:
    """The answer to "is this a signed report of ours?". ``report_*`` are set only when verified;
    ``claimed_report_id`` is what a rejected PDF's metadata says it is (read from the file)."""

    verified: bool
    message: str
    sha256: str
    method: str | None = None
    report_id: str | None = None
    report_version: int | None = None
    signed_at: datetime | None = None
    signed_by: str | None = None
    content_sha256: str | None = None
    claimed_report_id: str | None = None


def normalise_hash(value: str | None) -> str:
    """A SHA-256 as 64 lowercase hex digits; spaces, line breaks and a "sha256:" prefix are
    tolerated (hashes are copied from printed PDFs). Raises `Invalid` on the field ``sha256``."""
    text = re.sub(r"\s+", "", value or "").lower().removeprefix("sha256:").removeprefix("sha-256:")
    if not text:
        raise Invalid(errors=[FieldError("sha256", "Paste a SHA-256 hash (64 hexadecimal characters).")])
    if not _HEX64.fullmatch(text):
        raise Invalid(
            errors=[FieldError("sha256", "A SHA-256 hash is 64 characters, each 0-9 or a-f; this is not one.")]
        )
    return text


def check_pdf_upload(data: bytes, *, field: str = "file") -> None:
    """Refuse what is not a PDF of an acceptable size, with a sentence for the field."""
    if not data:
        raise Invalid(errors=[FieldError(field, "Choose a PDF file to check; the file sent was empty.")])
    if len(data) > MAX_PDF_BYTES:
        limit = MAX_PDF_BYTES // (1024 * 1024)
        raise Invalid(errors=[FieldError(field, f"The file is larger than {limit} MB; report PDFs are far smaller.")])
    # The PDF header may follow a little junk, but must appear within the first kilobyte.
    if b"%PDF-" not in data[:1024]:
        raise Invalid(
            errors=[FieldError(field, "This file is not a PDF. Upload the report PDF exactly as downloaded.")]
        )


def verify_hash(organization_id: str, value: str, *, actor: audit.Actor) -> Verification:
    """Check a pasted hash against the organization's signed reports and signed exports."""
    digest = normalise_hash(value)
    report = _signed_report_with_content_hash(organization_id, digest)
    if report is not None:
        result = _verified(report, digest, CONTENT_HASH, "This is the content hash of a signed report.")
    else:
        report = _report_of_signed_export(organization_id, digest)
        if report is not None:
            result = _verified(report, digest, EXPORT_HASH, "This is the hash of an exported copy of a signed report.")
        else:
            result = Verification(
                verified=False,
                sha256=digest,
                message="This hash does not match any signed report of your organization.",
            )
    _audit(organization_id, actor, result, kind="hash")
    return result


def verify_pdf(organization_id: str, data: bytes, *, actor: audit.Actor) -> Verification:
    """Check an uploaded PDF: verified only when its exact bytes are a signed export of ours."""
    check_pdf_upload(data)
    digest = hashlib.sha256(data).hexdigest()
    report = _report_of_signed_export(organization_id, digest)
    if report is not None:
        result = _verified(report, digest, PDF, "This PDF is an unmodified copy of a signed report.")
    else:
        result = _rejected_pdf(organization_id, digest, claimed_report_id(data))
    _audit(organization_id, actor, result, kind="pdf")
    return result


def claimed_report_id(data: bytes) -> str | None:
    """The report id written in a PDF's metadata by `pdf.render_pdf`, or None when unreadable."""
    try:
        from pypdf import PdfReader

        info = PdfReader(io.BytesIO(data), strict=False).metadata or {}
        value = info.get(pdf.info_key(pdf.META_REPORT_ID))
    except Exception:  # a damaged file: it names nothing we can read
        log.info("PDF metadata unreadable", extra={"event": "report_verify_unreadable_pdf"})
        return None
    value = str(value) if value is not None else None
    return value if value and _ID.fullmatch(value) else None


def _rejected_pdf(organization_id: str, digest: str, claimed: str | None) -> Verification:
    if claimed is None:
        message = "This PDF does not match any signed report of your organization."
    else:
        report = db.session.scalar(
            select(Report).where(Report.organization_id == organization_id, Report.id == claimed)
        )
        if report is not None and report.status == SIGNED:
            message = (
                f"This file claims to be report {claimed} but its contents differ from the exported, signed copy. "
                "It may have been changed after it was downloaded."
            )
        elif report is not None:
            message = f"This file claims to be report {claimed}, which is not signed: a draft never verifies."
        else:
            # Unknown here, or another organization's: the same words, so nothing is revealed.
            message = f"This file claims to be report {claimed}, but no such signed report exists in your organization."
    return Verification(verified=False, sha256=digest, message=message, claimed_report_id=claimed)


def _signed_report_with_content_hash(organization_id: str, digest: str) -> Report | None:
    return db.session.scalar(
        select(Report)
        .where(Report.organization_id == organization_id, Report.content_sha256 == digest, Report.status == SIGNED)
        .order_by(Report.signed_at)
        .limit(1)
    )


def _report_of_signed_export(organization_id: str, digest: str) -> Report | None:
    """The report whose signed export has these bytes. The export must have been made while the
    report was signed with the content hash it still carries."""
    return db.session.scalar(
        select(Report)
        .join(ReportExport, ReportExport.report_id == Report.id)
        .where(
            ReportExport.organization_id == organization_id,
            ReportExport.pdf_sha256 == digest,
            ReportExport.content_sha256.is_not(None),
            ReportExport.content_sha256 == Report.content_sha256,
            Report.organization_id == organization_id,
            Report.status == SIGNED,
        )
        .limit(1)
    )


def _verified(report: Report, digest: str, method: str, message: str) -> Verification:
    return Verification(
        verified=True,
        message=message,
        sha256=digest,
        method=method,
        report_id=report.id,
        report_version=report.version,
        signed_at=report.signed_at,
        signed_by=_user_name(report.signed_by_id),
        content_sha256=report.content_sha256,
    )


def _user_name(user_id: str | None) -> str | None:
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    return user.display_name if user is not None else None


def _audit(organization_id: str, actor: audit.Actor, result: Verification, *, kind: str) -> None:
    audit.record(
        "report.verified",
        organization_id=organization_id,
        actor=actor,
        target_type="report",
        target_id=result.report_id or result.claimed_report_id,
        outcome=audit.SUCCESS if result.verified else audit.FAILURE,
        details={"kind": kind, "method": result.method, "sha256": result.sha256},
    )
