"""Signing a draft (the password again, then signer, time and the SHA-256 of the canonical
content) and amending a signed report (a new version; the original never changes). Audit events:
``report.signed``, ``report.sign_failed`` (kept even though the request fails) and
``report.amended``, with ids and the content hash only."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from clinic_app.accounts.models import User
from clinic_app.accounts.passwords import verify_password
from clinic_app.auth import login
from clinic_app.core import audit, crypto
from clinic_app.core.errors import Conflict, DomainError, FieldError, Forbidden, Invalid
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.profiles import service as profiles
from clinic_app.reports.content import canonical_content, content_hash, read_sections, write_sections
from clinic_app.reports.drafting import extra_inputs
from clinic_app.reports.models import DRAFT, ENCRYPTED_FIELDS, SIGNED, Report
from clinic_app.reports.signals import report_signed
from clinic_app.reports.store import get_report, record, require_draft, stale

SIGN_ATTEMPTS, SIGN_WINDOW_MINUTES = 5, 15


class TooManyAttempts(DomainError):
    """Too many wrong passwords when signing: a password oracle must not be free to query."""

    status = 429
    title = "Rate limit exceeded"


def _signing_time() -> datetime:
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)  # the hash covers milliseconds


def sign_report(
    organization_id: str,
    report_id: str,
    *,
    password: str | None,
    signer: User | None,
    actor: audit.Actor,
    expected_revision: int | None = None,
) -> Report:
    """Sign a draft: the signer's password is checked again, then the report records signer, time,
    the signer's professional details from their profile as they are now (``signer_credentials``)
    and the SHA-256 of its canonical content (``content.canonical_content``), and becomes
    read-only. Raises Conflict (already signed, not ready, changed meanwhile), Forbidden (an API
    token: only a person signs), Invalid (wrong password; recorded as ``report.sign_failed``) or
    TooManyAttempts after five wrong passwords in 15 minutes."""
    report = get_report(organization_id, report_id)
    require_draft(report)
    if signer is None:
        raise Forbidden("A report is signed by a person: use your own sign-in, not an API token.")
    if not password:
        raise Invalid(errors=[FieldError("password", "Enter your password to sign.")])
    # Counted before the password is looked at (one atomic claim), so concurrent guesses cannot
    # all read "under the limit" and all be checked: at most SIGN_ATTEMPTS wrong ones per window.
    attempt, over = login.claim_attempt(
        f"report-sign:{organization_id}:{signer.id}",
        limit=SIGN_ATTEMPTS,
        window=timedelta(minutes=SIGN_WINDOW_MINUTES),
    )
    if over:
        login.forget_attempt(attempt)  # a refused attempt is not a wrong password
        raise TooManyAttempts(
            f"Too many wrong passwords. Wait {SIGN_WINDOW_MINUTES} minutes and try again.",
            retry_after=SIGN_WINDOW_MINUTES * 60,
        )
    if not verify_password(signer.password_hash, password):
        # The claimed attempt stays: it is the failure the throttle counts.
        record(
            "report.sign_failed", report, actor, {"reason": "wrong_password"}, outcome=audit.FAILURE, independent=True
        )
        raise Invalid(errors=[FieldError("password", "That password is not correct.")])
    login.forget_attempt(attempt)
    if expected_revision is not None and expected_revision != report.revision:
        raise stale(report)
    sections = read_sections(report, "current_sections")
    if sections is None:
        raise Conflict("This report's text cannot be read right now, so it cannot be signed.")
    signed_at = _signing_time()
    credentials = profiles.signing_credentials(organization_id, signer.id)
    digest = content_hash(
        canonical_content(
            report, sections=sections, signed_by_id=signer.id, signed_at=signed_at, signer_credentials=credentials
        )
    )
    result = db.session.execute(
        update(Report)
        .where(Report.id == report.id, Report.status == DRAFT, Report.revision == report.revision)
        .values(
            status=SIGNED,
            signed_by_id=signer.id,
            signed_at=signed_at,
            signer_credentials=credentials,
            content_sha256=digest,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise stale(report)
    db.session.refresh(report)
    record("report.signed", report, actor, {"content_sha256": digest, "version": report.version})
    report_signed.send(report, organization_id=organization_id, report_id=report.id, patient_id=report.patient_id)
    return report


def amendment_of(organization_id: str, report_id: str) -> Report | None:
    """The report that amends this one, if there is one."""
    return db.session.scalar(
        select(Report).where(Report.organization_id == organization_id, Report.amends_report_id == report_id)
    )


def amend_report(organization_id: str, report_id: str, *, actor: audit.Actor) -> Report:
    """Start an amendment of a signed report: a new draft, ``version`` + 1, with the signed text
    as both its starting point and what its diff is measured against. The original is untouched.
    Raises Conflict when the report is not signed or already has an amendment."""
    original = get_report(organization_id, report_id)
    if original.status != SIGNED:
        raise Conflict("Only a signed report is amended; this one is not signed yet, so edit it directly.")
    existing = amendment_of(organization_id, original.id)
    if existing is not None:
        raise Conflict(f"This report already has an amendment ({existing.id}).", amendment_id=existing.id)
    sections = read_sections(original, "current_sections")
    if sections is None:
        raise Conflict("This report's text cannot be read right now, so it cannot be amended.")
    amendment = Report(
        organization_id=organization_id,
        patient_id=original.patient_id,
        session_id=original.session_id,
        template_version_id=original.template_version_id,
        status=DRAFT,
        version=original.version + 1,
        amends_report_id=original.id,
        revision=0,
        generator=original.generator,
        model=original.model,
        generation_note=f"Amendment of version {original.version}, which was signed; its text is the starting point.",
        inputs_sha256=original.inputs_sha256,
        inputs_summary=original.inputs_summary,
        generated_at=utcnow(),
        created_by_id=actor.user_id,
        updated_by_id=actor.user_id,
    )
    write_sections(amendment, "generated_sections", sections)
    write_sections(amendment, "current_sections", sections)
    amendment.extra_inputs_enc = original.extra_inputs_enc and crypto.vault_for(organization_id).encrypt(
        ENCRYPTED_FIELDS["extra_inputs"], json.dumps(extra_inputs(original), ensure_ascii=False)
    )
    try:
        with db.session.begin_nested():
            db.session.add(amendment)
            db.session.flush()
    except IntegrityError:  # someone else amended it a moment ago
        raise Conflict("This report was amended by someone else a moment ago; open the amendment.") from None
    record("report.amended", amendment, actor, {"amends_report_id": original.id, "version": amendment.version})
    return amendment
