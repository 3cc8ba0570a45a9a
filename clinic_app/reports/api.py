"""The reports JSON API under /api/v1/reports: seed 002's generate-session and report endpoints,
plus the ones its frontend called but that never existed (list, sign) and the rest of the
lifecycle (edit, amend) and templates. The organization comes from the token (or
``X-Organization-ID``); another organization's report is a 404, and so is any report for a caller
without ``clinical:read`` (receptionists, practice admins).

Route order: ``/api/v1/reports/list``, ``/templates`` and ``/generate-session`` are fixed paths and
win over ``/api/v1/reports/{report_id}`` (Werkzeug matches fixed segments first).
"""

from __future__ import annotations

from flask import url_for

from clinic_app.auth.identity import current_identity
from clinic_app.consultations import service as consultations
from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.intake import service as intake
from clinic_app.reports import bp, queries, service, templates_service
from clinic_app.reports.models import PENDING
from clinic_app.reports.schemas import (
    GenerateSessionIn,
    GenerateSessionOut,
    PersonRef,
    ReportListItem,
    ReportListOut,
    ReportListQuery,
    ReportOut,
    ReportPatch,
    SectionOut,
    SignIn,
    StructuredData,
    TemplateIn,
    TemplateListOut,
    TemplateOut,
    TemplateRef,
    TemplateSectionOut,
)

TAGS = ("reports",)
LIFECYCLE = {409: "The report is signed (amend it instead), not ready yet, or was changed meanwhile"}


# --- shapes ------------------------------------------------------------------------------------


def _document(title: str, view: queries.ReportView, which: str) -> str:
    parts = [f"# {title}"]
    for section in view.sections:
        parts.append(f"## {section.title}\n\n{getattr(section, which) or 'Not recorded.'}")
    return "\n\n".join(parts) + "\n"


def _structured(view: queries.ReportView) -> StructuredData:
    session = consultations.get_session(view.organization_id, view.session_id)
    facts = consultations.session_facts(session)
    symptoms = intake.summary_for(view.organization_id, view.patient_id).symptoms
    # The section keyed "plan" first; only a template without one is searched by title ("Medication
    # plan" comes before "Plan and follow-up" in the mental-health template).
    plan = next((s for s in view.sections if s.key == "plan"), None) or next(
        (s for s in view.sections if "plan" in s.title.lower()), None
    )
    return StructuredData(
        medication_plan=list(facts.medication_plan),
        diagnoses=[
            {"name": s.name, "icd11_code": s.code, "severity": s.severity, "frequency": s.frequency} for s in symptoms
        ],
        follow_up_plan=plan.text if plan and plan.text else None,
    )


def report_out(view: queries.ReportView) -> ReportOut:
    has_draft = view.generated_at is not None
    title = f"{view.template_name} report"
    return ReportOut(
        id=view.id,
        session_id=view.session_code,
        status=view.status,
        generated_content=_document(title, view, "generated") if has_draft else None,
        structured_data=_structured(view) if has_draft else None,
        confidence_score=None,
        ai_model=view.model,
        generation_duration=round(view.generation_ms / 1000, 3) if view.generation_ms is not None else None,
        consultation_id=view.session_id,
        patient_id=view.patient_id,
        version=view.version,
        revision=view.revision,
        amends_report_id=view.amends_report_id,
        amended_by_report_id=view.amended_by_id,
        content=_document(title, view, "text") if has_draft else None,
        sections=[
            SectionOut(
                key=s.key,
                title=s.title,
                guidance=s.guidance,
                content=s.text,
                generated_content=s.generated,
                edited=s.edited,
            )
            for s in view.sections
        ],
        template=TemplateRef(
            id=view.template_id,
            version_id=view.template_version_id,
            name=view.template_name,
            version=view.template_version,
        ),
        generator=view.generator,
        generation_note=view.generation_note,
        inputs_sha256=view.inputs_sha256,
        inputs_summary=view.inputs_summary,
        job_id=view.job_id,
        created_at=view.created_at,
        updated_at=view.updated_at,
        generated_at=view.generated_at,
        signed_by=PersonRef(id=view.signed_by_id, name=view.signed_by_name) if view.signed_by_id else None,
        signed_at=view.signed_at,
        content_sha256=view.content_sha256,
    )


def _fresh(report_id: str) -> ReportOut:
    """The report as it is now, read back for the answer to a change (not recorded as a view)."""
    return report_out(queries.build_view(service.get_report(current_organization_id(), report_id)))


def template_out(view: templates_service.TemplateView) -> TemplateOut:
    template = view.template
    return TemplateOut(
        id=template.id,
        name=template.name,
        description=template.description,
        builtin_key=template.builtin_key,
        is_default=template.is_default,
        version=view.version.version,
        version_id=view.version.id,
        sections=[TemplateSectionOut(key=s.key, title=s.title, guidance=s.guidance) for s in view.sections],
        created_at=template.created_at,
        updated_at=template.updated_at,
    )


# --- generation --------------------------------------------------------------------------------


@api_route(
    bp,
    "/api/v1/reports/generate-session",
    methods=("POST",),
    body=GenerateSessionIn,
    response=GenerateSessionOut,
    status=202,
    summary="Generate a draft report for a consultation",
    description="Seed 002 §2.5. Stores `transcription` (when given) as a transcript of the consultation and "
    "`medication_plan` (when given) as its plan, creates a `pending` report and queues its draft. Answers 202 "
    "at once; the draft is written in the background (offline, or by the configured language model with the "
    "offline draft as fallback). Poll the report or the job. Nothing is written when any field is invalid.",
    tags=TAGS,
    extra_statuses={409: "The consultation was cancelled", 503: "The job queue is unavailable"},
)
@requires("reports:write", hide=True)
def api_generate(body: GenerateSessionIn) -> GenerateSessionOut:
    organization_id, actor = current_organization_id(), current_actor()
    session = consultations.get_session(organization_id, body.session_id)
    if body.medication_plan is not None:
        consultations.set_medication_plan(
            organization_id, session, [m.model_dump() for m in body.medication_plan], actor=actor
        )
    if body.transcription and body.transcription.strip():
        consultations.add_transcript(organization_id, session, text=body.transcription, source="paste", actor=actor)
    report = service.start_generation(
        organization_id,
        session.id,
        actor=actor,
        template_id=body.template_id,
        additional_notes=body.additional_notes,
        patient_progress=body.patient_progress,
        session_type=body.session_type,
    )
    version = templates_service.get_version(organization_id, report.template_version_id)
    return GenerateSessionOut(
        status="accepted",
        message="The draft is being written",
        report_id=report.id,
        job_id=report.job_id or "",
        report_status=PENDING,
        session_id=session.session_code,
        consultation_id=session.id,
        template_id=version.template_id,
        template_version=version.version,
        report_url=url_for("reports.api_get", report_id=report.id),
        job_url=f"/api/v1/jobs/{report.job_id}",
    )


# --- lists and reports -------------------------------------------------------------------------


@api_route(
    bp,
    "/api/v1/reports/list",
    paginated="cursor",
    query=ReportListQuery,
    response=ReportListOut,
    summary="List reports, a page at a time",
    description="Newest first; filter by status, patient or consultation. Follow `next_cursor` while `has_more` "
    "is true. No report content is included.",
    tags=TAGS,
)
@requires("clinical:read", hide=True)
def api_list(query: ReportListQuery) -> ReportListOut:
    page = queries.list_reports(
        current_organization_id(),
        actor=current_actor(),
        status=query.status,
        patient_id=query.patient_id,
        session_id=query.session_id,
        cursor=query.cursor,
        limit=query.limit,
        channel="api",
    )
    return ReportListOut(
        reports=[
            ReportListItem(
                id=row.id,
                session_id=row.session_code,
                consultation_id=row.session_id,
                patient_id=row.patient_id,
                patient_name=row.patient_name,
                status=row.status,
                version=row.version,
                amends_report_id=row.amends_report_id,
                template_name=row.template_name,
                created_at=row.created_at,
                updated_at=row.updated_at,
                signed_at=row.signed_at,
                signed_by_name=row.signed_by_name,
            )
            for row in page.rows
        ],
        limit=page.limit,
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@api_route(
    bp,
    "/api/v1/reports/<report_id>",
    unpaged="the sections of one report",
    response=ReportOut,
    summary="A report",
    description="Seed 002 §6.1 fields (`generated_content`, `structured_data`, `ai_model`, …) and ours: each "
    "section as generated and as edited, the template version, provenance, and the signature. The read is recorded.",
    tags=TAGS,
)
@requires("clinical:read", hide=True)
def api_get(report_id: str) -> ReportOut:
    return report_out(queries.view_report(current_organization_id(), report_id, actor=current_actor(), channel="api"))


@api_route(
    bp,
    "/api/v1/reports/<report_id>",
    methods=("PATCH",),
    body=ReportPatch,
    response=ReportOut,
    summary="Edit a draft report's sections",
    description="Replaces the Markdown of the sections named; the others keep theirs. Send the `revision` you "
    "edited to be told (409) when someone else changed it meanwhile. A signed report answers 409: amend it.",
    tags=TAGS,
    extra_statuses=LIFECYCLE,
)
@requires("reports:write", hide=True)
def api_edit(report_id: str, body: ReportPatch) -> ReportOut:
    organization_id = current_organization_id()
    service.get_report(organization_id, report_id)  # 404 before validation says anything
    if not body.sections:
        raise Invalid(errors=[FieldError("sections", "Send at least one section to change.", "MISSING")])
    service.save_sections(
        organization_id, report_id, body.sections, expected_revision=body.revision, actor=current_actor()
    )
    return _fresh(report_id)


@api_route(
    bp,
    "/api/v1/reports/<report_id>/sign",
    methods=("POST",),
    body=SignIn,
    response=ReportOut,
    summary="Sign a draft report",
    description="The signer's password is checked again (a wrong one is 422 on `password`, recorded; five in 15 "
    "minutes answer 429). Records signer, time and the SHA-256 of the canonical content; the report is read-only "
    "afterwards. Only a person signs: an organization API token gets 403. Already signed: 409.",
    tags=TAGS,
    extra_statuses={**LIFECYCLE, 403: "API tokens cannot sign", 429: "Too many wrong passwords"},
)
@requires("reports:sign", hide=True)
def api_sign(report_id: str, body: SignIn) -> ReportOut:
    identity = current_identity()
    service.sign_report(
        current_organization_id(),
        report_id,
        password=body.password,
        signer=identity.user if identity else None,
        actor=current_actor(),
        expected_revision=body.revision,
    )
    return _fresh(report_id)


@api_route(
    bp,
    "/api/v1/reports/<report_id>/amend",
    methods=("POST",),
    response=ReportOut,
    status=201,
    summary="Amend a signed report",
    description="Creates the amendment: a new draft report (`version` + 1, `amends_report_id` set) starting from "
    "the signed text. The signed original stays readable and unchanged. 409 when the report is not signed or "
    "already has an amendment.",
    tags=TAGS,
    extra_statuses={409: "Not signed, or already amended"},
)
@requires("reports:write", hide=True)
def api_amend(report_id: str) -> ReportOut:
    amendment = service.amend_report(current_organization_id(), report_id, actor=current_actor())
    return _fresh(amendment.id)


# --- templates ---------------------------------------------------------------------------------


@api_route(
    bp,
    "/api/v1/reports/templates",
    unpaged="the clinic's report templates: a short catalogue it keeps by hand, returned whole",
    response=TemplateListOut,
    summary="List report templates",
    description="The organization's templates with their current sections, the default first. The built-in "
    "mental-health and physiotherapy templates are created on first use.",
    tags=TAGS,
)
@requires("reports:write", hide=True)
def api_templates() -> TemplateListOut:
    return TemplateListOut(
        templates=[template_out(v) for v in templates_service.list_templates(current_organization_id())]
    )


@api_route(
    bp,
    "/api/v1/reports/templates",
    methods=("POST",),
    body=TemplateIn,
    response=TemplateOut,
    status=201,
    summary="Create a report template",
    description="Named, ordered sections with guidance. 422 lists each problem (`sections.2.title`, …).",
    tags=TAGS,
)
@requires("reports:write", hide=True)
def api_create_template(body: TemplateIn) -> TemplateOut:
    data = templates_service.validate_template(body.model_dump())
    return template_out(templates_service.create_template(current_organization_id(), data, actor=current_actor()))


@api_route(
    bp,
    "/api/v1/reports/templates/<template_id>",
    methods=("PUT",),
    body=TemplateIn,
    response=TemplateOut,
    summary="Change a report template",
    description="Send the whole template. A new name or new sections make a new version; reports already "
    "written keep the version they used.",
    tags=TAGS,
)
@requires("reports:write", hide=True)
def api_update_template(template_id: str, body: TemplateIn) -> TemplateOut:
    organization_id = current_organization_id()
    templates_service.get_template(organization_id, template_id)  # 404 before validation says anything
    data = templates_service.validate_template(body.model_dump())
    return template_out(templates_service.update_template(organization_id, template_id, data, actor=current_actor()))
