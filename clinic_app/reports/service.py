"""Reports: requesting a draft, generating it (the background job, ``generate_report``), editing,
signing, amending.

Lifecycle: ``pending`` (requested, job queued) → ``generating`` (the job is writing it) →
``draft`` (the clinician reviews and edits it) → ``signed`` (read-only for good). Changing a signed
report means an **amendment**: a new report row with ``version`` + 1 whose ``amends_report_id``
names the original, which stays exactly as it was signed.

Every function takes the organization explicitly; another organization's report is ``NotFound``.
Writes only flush (a job's checkpoints commit); the request commits. Audit events carry ids, never
content: ``report.generation_requested``, ``report.generated``, ``report.edited``,
``report.signed``, ``report.sign_failed``, ``report.amended`` (reads are recorded by ``queries``).

Edits use optimistic concurrency: a save names the ``revision`` it was made on and is applied
with ``UPDATE … WHERE revision = :seen AND status = 'draft'``, so a stale save (another tab,
another person) or a save racing a signature is refused with 409 instead of overwriting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sqlalchemy import update

from clinic_app.core import audit, crypto
from clinic_app.core.errors import Conflict, FieldError, Invalid
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.reports import templates_service
from clinic_app.reports.content import canonical_content, content_hash, document_for, normalise_text, read_sections
from clinic_app.reports.drafting import retry_generation, run_generation, start_generation
from clinic_app.reports.generation.job import generate_report
from clinic_app.reports.models import DRAFT, ENCRYPTED_FIELDS, Report
from clinic_app.reports.signing import TooManyAttempts, amend_report, amendment_of, sign_report
from clinic_app.reports.store import NOT_FOUND, SIGNED_MESSAGE, get_report, record, require_draft, stale

__all__ = [
    "NOT_FOUND",
    "SIGNED_MESSAGE",
    "TooManyAttempts",
    "amend_report",
    "amendment_of",
    "canonical_content",
    "content_hash",
    "document_for",
    "generate_report",
    "get_report",
    "retry_generation",
    "run_generation",
    "save_sections",
    "sign_report",
    "start_generation",
]

SECTION_MAX = 20_000


def save_sections(
    organization_id: str,
    report_id: str,
    changes: Mapping[str, str],
    *,
    expected_revision: int | None,
    actor: audit.Actor,
) -> Report:
    """Replace the text of the named sections of a draft (Markdown). ``expected_revision`` is the
    revision the edit was made on (None: the latest, for API clients that do not track it).
    Raises NotFound, Invalid (unknown section, too long), Conflict (signed, not ready, stale).
    Records ``report.edited`` with the section keys changed."""
    report = get_report(organization_id, report_id)
    require_draft(report)
    version = templates_service.get_version(organization_id, report.template_version_id)
    keys = [s["key"] for s in version.sections]
    errors: list[FieldError] = []
    cleaned: dict[str, str] = {}
    for key, text in changes.items():
        if key not in keys:
            errors.append(FieldError(f"sections.{key}", "This report's template has no such section."))
        elif not isinstance(text, str):
            errors.append(FieldError(f"sections.{key}", "Send the section's text as a string."))
        elif len(text) > SECTION_MAX:
            errors.append(FieldError(f"sections.{key}", f"Keep a section under {SECTION_MAX:,} characters."))
        else:
            cleaned[key] = normalise_text(text).rstrip()
    if errors:
        raise Invalid(errors=errors)
    current = read_sections(report, "current_sections")
    if current is None:
        raise Conflict("This report's text cannot be read right now; the practice admins have been alerted.")
    seen = report.revision if expected_revision is None else expected_revision
    changed = sorted(key for key, text in cleaned.items() if current.get(key, "") != text)
    if seen != report.revision:
        raise stale(report)
    if not changed:
        return report
    merged = {key: cleaned.get(key, current.get(key, "")) for key in keys}
    vault = crypto.vault_for(organization_id)
    result = db.session.execute(
        update(Report)
        .where(Report.id == report.id, Report.status == DRAFT, Report.revision == seen)
        .values(
            current_sections_enc=vault.encrypt(
                ENCRYPTED_FIELDS["current_sections"], json.dumps(merged, ensure_ascii=False)
            ),
            revision=seen + 1,
            updated_by_id=actor.user_id,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise stale(report)
    db.session.refresh(report)
    record("report.edited", report, actor, {"sections": changed, "revision": report.revision})
    return report
