"""Requesting a report's draft and writing it (the background job's work).

``start_generation`` creates a ``pending`` report for a consultation and queues the job;
``run_generation`` (the job) gathers the inputs, writes the draft — with the configured language
model, or offline, or offline after the model failed — stores it encrypted and moves the report
to ``draft``. ``retry_generation`` queues it again after a failure. Audit events:
``report.generation_requested`` and ``report.generated``, with ids only.
"""

from __future__ import annotations

import json
import time
from typing import Any

from clinic_app.consultations import service as consultations
from clinic_app.core import audit, crypto, jobs
from clinic_app.core.errors import Conflict, FieldError, Invalid
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.profiles import service as profiles
from clinic_app.reports import templates_service
from clinic_app.reports.content import normalise_text, write_sections
from clinic_app.reports.generation import JOB_KIND, llm
from clinic_app.reports.generation import inputs as generation_inputs
from clinic_app.reports.models import DRAFT, ENCRYPTED_FIELDS, GENERATING, PENDING, Report
from clinic_app.reports.store import get_report, record

NOTE_MAX = 5_000


def _clean_note(field: str, value: str | None, errors: list[FieldError]) -> str | None:
    text = normalise_text(value or "").strip()
    if len(text) > NOTE_MAX:
        errors.append(FieldError(field, f"Keep it under {NOTE_MAX:,} characters."))
    return text or None


def start_generation(
    organization_id: str,
    session_ref: str,
    *,
    actor: audit.Actor,
    template_id: str | None = None,
    additional_notes: str | None = None,
    patient_progress: str | None = None,
    session_type: str | None = None,
) -> Report:
    """Create a pending report for the session and queue its generation, from ``template_id``, else
    the requester's default template (their professional profile), else the organization's default.
    Raises NotFound (session or template), Invalid (notes too long), Conflict (cancelled session)
    or Unavailable (queue down; nothing is written then). Records ``report.generation_requested``."""
    session = consultations.get_session(organization_id, session_ref)
    if session.status == "cancelled":
        raise Conflict("This consultation was cancelled: there is nothing to report.")
    errors: list[FieldError] = []
    extra = {
        "additional_notes": _clean_note("additional_notes", additional_notes, errors),
        "patient_progress": _clean_note("patient_progress", patient_progress, errors),
        "session_type": (session_type or "").strip()[:40] or None,
    }
    if errors:
        raise Invalid(errors=errors)
    chosen = templates_service.template_for_report(
        organization_id, template_id, preferred_id=profiles.preferred_template_id(organization_id, actor.user_id)
    )
    vault = crypto.vault_for(organization_id)
    report = Report(
        organization_id=organization_id,
        patient_id=session.patient_id,
        session_id=session.id,
        template_version_id=chosen.version.id,
        status=PENDING,
        version=1,
        revision=0,
        created_by_id=actor.user_id,
        updated_by_id=actor.user_id,
    )
    report.extra_inputs_enc = vault.encrypt(ENCRYPTED_FIELDS["extra_inputs"], json.dumps(extra, ensure_ascii=False))
    db.session.add(report)
    db.session.flush()
    _queue(report, actor)
    record("report.generation_requested", report, actor, {"session_id": session.id, "job_id": report.job_id})
    return report


def _queue(report: Report, actor: audit.Actor) -> None:
    job = jobs.enqueue(
        JOB_KIND,
        organization_id=report.organization_id,
        created_by_id=actor.user_id,
        report_id=report.id,
    )
    report.job_id = job.id
    db.session.flush()


def retry_generation(organization_id: str, report_id: str, *, actor: audit.Actor) -> Report:
    """Queue generation again after the job failed or was cancelled. Raises Conflict when the
    report already has its draft or its job is still going."""
    report = get_report(organization_id, report_id)
    if report.status not in (PENDING, GENERATING):
        raise Conflict("This report already has its draft.")
    job = db.session.get(jobs.Job, report.job_id) if report.job_id else None
    if job is not None and not job.finished:
        raise Conflict("The draft is still being generated.")
    report.status = PENDING
    _queue(report, actor)
    record(
        "report.generation_requested",
        report,
        actor,
        {"session_id": report.session_id, "job_id": report.job_id, "retry": True},
    )
    return report


def extra_inputs(report: Report) -> dict[str, Any]:
    plain = crypto.vault_for(report.organization_id).decrypt(
        ENCRYPTED_FIELDS["extra_inputs"], report.extra_inputs_enc, target_id=report.id
    )
    try:
        value = json.loads(plain) if isinstance(plain, str) else {}
    except ValueError:
        value = {}
    return value if isinstance(value, dict) else {}


def run_generation(ctx: jobs.JobContext, organization_id: str, report_id: str) -> dict[str, Any]:
    """The job's work: gather the inputs, write the draft (language model if configured, offline
    otherwise or on its failure), store it encrypted and move the report to ``draft``. Safe to run
    twice: a report that already has its draft is left alone."""
    report = get_report(organization_id, report_id)
    if report.status not in (PENDING, GENERATING):
        return {"report_id": report.id, "skipped": "the report already has its draft"}
    report.status = GENERATING
    ctx.progress(10, "Reading the consultation and the patient's record")
    session = consultations.get_session(organization_id, report.session_id)
    version = templates_service.get_version(organization_id, report.template_version_id)
    inputs = generation_inputs.gather(
        organization_id,
        session=session,
        patient_id=report.patient_id,
        template_name=version.name,
        sections=list(version.sections),
        extra=extra_inputs(report),
    )
    settings = llm.configured_settings()
    ctx.progress(30, f"Writing the draft with {settings.provider}" if settings else "Writing the draft")
    started = time.perf_counter()
    draft = llm.generate_draft(inputs, settings)
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    ctx.progress(90, "Saving the draft")
    report = get_report(organization_id, report_id)
    write_sections(report, "generated_sections", draft.sections)
    write_sections(report, "current_sections", draft.sections)
    report.status = DRAFT
    report.generator = draft.generator
    report.model = draft.model
    report.generation_note = draft.note
    report.inputs_sha256 = inputs.digest()
    report.inputs_summary = inputs.summary()
    report.generation_ms = elapsed_ms
    report.generated_at = utcnow()
    db.session.flush()
    record(
        "report.generated",
        report,
        audit.Actor(user_id=report.created_by_id),
        {"generator": draft.generator, "model": draft.model, "fallback": draft.note is not None, "job_id": ctx.job_id},
    )
    return {"report_id": report.id, "generator": draft.generator, "model": draft.model}
