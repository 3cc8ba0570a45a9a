"""A report's content: reading and writing its encrypted sections, the canonical form a
signature's SHA-256 covers, and the printable ``ReportDocument``.

Canonical content (what ``content_sha256`` is the SHA-256 of) is UTF-8 JSON with sorted keys and
no insignificant whitespace::

    {"format": "clinic-report-content/1", "report_id", "organization_id", "patient_id",
     "session_id", "version", "amends_report_id", "template": {"version_id", "name", "version"},
     "sections": [{"key", "title", "text"}, ...in template order],
     "signed_by_id", "signed_at": "2026-11-27T10:15:00.123Z"}

Section text is the clinician's Markdown with line endings normalised to ``\\n`` and trailing
whitespace removed. Because signer and signing time are inside, the hash attests who signed what,
when; ``content_intact`` recomputes it to show the stored text still matches its signature.

When the signer's profile gave professional details at signing (``Report.signer_credentials``:
discipline, registration body and number, signature block), they are inside too, under
``"signer"``, and the format is ``clinic-report-content/2``; a report signed without them keeps
format 1, byte for byte as before.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any

from clinic_app.accounts.models import User
from clinic_app.consultations import service as consultations
from clinic_app.core import audit, crypto
from clinic_app.core.crypto import Unreadable
from clinic_app.core.time import isoformat, local_date, zone_named
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.patients import service as patients
from clinic_app.reports import templates_service
from clinic_app.reports.document import ReportDocument
from clinic_app.reports.generation.base import NOT_RECORDED
from clinic_app.reports.models import ENCRYPTED_FIELDS, Report
from clinic_app.reports.rendering import markdown_to_html

CONTENT_FORMAT = "clinic-report-content/1"
CONTENT_FORMAT_WITH_SIGNER = "clinic-report-content/2"


def normalise_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_sections(report: Report, which: str) -> dict[str, str] | None:
    """``which`` is "current_sections" or "generated_sections": {key: Markdown}, {} when none,
    or None when it cannot be decrypted (the vault has raised the alarm)."""
    stored = getattr(report, f"{which}_enc")
    if stored is None:
        return {}
    plain = crypto.vault_for(report.organization_id).decrypt(ENCRYPTED_FIELDS[which], stored, target_id=report.id)
    if not isinstance(plain, str):
        return None
    try:
        value = json.loads(plain)
    except ValueError:
        return None
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None


def write_sections(report: Report, which: str, sections: dict[str, str]) -> None:
    vault = crypto.vault_for(report.organization_id)
    setattr(
        report,
        f"{which}_enc",
        vault.encrypt(ENCRYPTED_FIELDS[which], json.dumps(sections, ensure_ascii=False)),
    )


def canonical_content(
    report: Report,
    *,
    sections: dict[str, str] | None = None,
    signed_by_id: str | None = None,
    signed_at: datetime | None = None,
    signer_credentials: dict[str, str] | None = None,
) -> bytes:
    """The bytes the signature hash covers (see the module docstring). By default the report's
    current sections, signer, signing time and signer's credentials; the signing step passes the
    values it is about to store. An unreadable report gives content that matches no hash."""
    version = templates_service.get_version(report.organization_id, report.template_version_id)
    if sections is None:
        sections = read_sections(report, "current_sections") or {"unreadable": "unreadable"}
    content: dict[str, Any] = {
        "format": CONTENT_FORMAT,
        "report_id": report.id,
        "organization_id": report.organization_id,
        "patient_id": report.patient_id,
        "session_id": report.session_id,
        "version": report.version,
        "amends_report_id": report.amends_report_id,
        "template": {"version_id": version.id, "name": version.name, "version": version.version},
        "sections": [
            {"key": s["key"], "title": s["title"], "text": normalise_text(sections.get(s["key"], "")).rstrip()}
            for s in version.sections
        ],
        "signed_by_id": signed_by_id if signed_by_id is not None else report.signed_by_id,
        "signed_at": isoformat(signed_at if signed_at is not None else report.signed_at),
    }
    credentials = signer_credentials if signer_credentials is not None else report.signer_credentials
    if credentials:
        content["format"] = CONTENT_FORMAT_WITH_SIGNER
        content["signer"] = credentials
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def content_intact(report: Report) -> bool | None:
    """For a signed report: whether its stored text still hashes to its signature (None if unsigned)."""
    if not report.content_sha256:
        return None
    return content_hash(canonical_content(report)) == report.content_sha256


# --- the printable document -------------------------------------------------------------------


def _name_of(user_id: str | None) -> str | None:
    if not user_id:
        return None
    user = db.session.get(User, user_id)
    return user.display_name if user else None


def _registration(credentials: dict[str, str]) -> str | None:
    body, number = credentials.get("registration_body"), credentials.get("registration_number")
    return f"{body} {number}" if body and number else None


def _letterhead(settings: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    address = settings.get("address")
    address = address.strip() if isinstance(address, str) and address.strip() else None
    lines = settings.get("letterhead_lines") or settings.get("letterhead") or ()
    if isinstance(lines, str):
        lines = lines.splitlines()
    cleaned = tuple(str(line).strip() for line in lines if str(line).strip())
    return address, cleaned


def document_for(report: Report) -> ReportDocument:
    """The report as it is printed: letterhead, patient identifiers, sections rendered from
    Markdown and sanitised, and the signature block, with the organization's time zone for the
    signing time. Decrypts; the caller audits the read."""
    organization = orgs.get_organization(report.organization_id)
    zone = zone_named(organization.time_zone)
    address, letterhead = _letterhead(organization.settings or {})
    patient = patients.view_patient(report.organization_id, report.patient_id, actor=audit.Actor(), record_view=False)
    identifiers: list[tuple[str, str]] = []
    if isinstance(patient.date_of_birth, date):
        identifiers.append(("Date of birth", patient.date_of_birth.isoformat()))
    elif isinstance(patient.date_of_birth, Unreadable):
        identifiers.append(("Date of birth", "unreadable"))
    identifiers.append(("Patient id", patient.id))
    session = consultations.get_session(report.organization_id, report.session_id)
    facts = consultations.session_facts(session)
    version = templates_service.get_version(report.organization_id, report.template_version_id)
    sections = read_sections(report, "current_sections")
    # What the signer's profile said when they signed, never what it says now.
    credentials = (report.signer_credentials or {}) if report.signed_at else {}
    rendered = tuple(
        (
            s["title"],
            str(markdown_to_html(sections.get(s["key"]) or NOT_RECORDED))
            if sections is not None
            else "<p>This section could not be decrypted.</p>",
        )
        for s in version.sections
    )
    return ReportDocument(
        organization_name=organization.name,
        organization_address=address,
        letterhead_lines=letterhead,
        report_id=report.id,
        version=report.version,
        title=f"{version.name} report",
        status=report.status,
        patient_name=patient.display_name,
        patient_identifiers=tuple(identifiers),
        session_code=facts.session_code,
        session_date=local_date(facts.started_at, zone).isoformat() if facts.started_at else None,
        clinician_name=facts.clinician_name or None,
        sections=rendered,
        signed_by=_name_of(report.signed_by_id),
        signer_discipline=credentials.get("discipline"),
        signer_registration=_registration(credentials),
        signer_signature_block=credentials.get("signature_block"),
        signed_at=report.signed_at,
        content_sha256=report.content_sha256,
        amends=report.amends_report_id,
        time_zone=organization.time_zone,
    )
