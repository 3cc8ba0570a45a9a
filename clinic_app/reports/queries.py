"""Reading reports for pages and the API: one report decrypted (``view_report``, audited as
``report.viewed``), the session transcript beside it (``transcript_for``, audited as
``report.transcript_viewed``), and the organization's reports a page at a time (``list_reports``,
no content, audited as ``report.listed`` with the ids shown)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy import literal, select, tuple_

from clinic_app.accounts.models import User
from clinic_app.consultations import service as consultations
from clinic_app.consultations.models import ConsultationSession
from clinic_app.core import audit
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.pagination import bad_cursor, decode_cursor, encode_cursor
from clinic_app.extensions import db
from clinic_app.patients import service as patients
from clinic_app.patients.models import Patient
from clinic_app.reports import templates_service
from clinic_app.reports.content import content_intact, read_sections
from clinic_app.reports.models import STATUS_LABELS, STATUSES, Report, ReportTemplateVersion
from clinic_app.reports.rendering import Diff, diff, markdown_to_html
from clinic_app.reports.service import amendment_of, get_report

DEFAULT_LIMIT, MAX_LIMIT = 25, 100


@dataclass(frozen=True)
class SectionView:
    key: str
    title: str
    guidance: str
    text: str  # the current Markdown
    generated: str  # the Markdown as generated (or as signed, for an amendment)
    html: Markup
    diff: Diff

    @property
    def edited(self) -> bool:
        return self.text != self.generated


@dataclass(frozen=True)
class ReportView:
    report: Report
    patient_name: str
    session_code: str
    session_type: str
    session_started_at: datetime
    clinician_name: str
    template_id: str
    template_name: str
    template_version: int
    sections: tuple[SectionView, ...]
    readable: bool
    created_by_name: str | None
    signed_by_name: str | None
    content_intact: bool | None
    amends_version: int | None
    amended_by_id: str | None

    def __getattr__(self, name: str) -> Any:  # the report's own columns read through the view
        if name.startswith("_") or name == "report":
            raise AttributeError(name)
        return getattr(self.report, name)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.report.status, self.report.status)

    @property
    def edited_sections(self) -> int:
        return sum(1 for s in self.sections if s.edited)


def _user_name(user_id: str | None) -> str | None:
    if not user_id:
        return None
    user = db.session.get(User, user_id)
    return user.display_name if user else None


def build_view(report: Report) -> ReportView:
    """The report decrypted, with each section rendered and diffed. Does not audit."""
    organization_id = report.organization_id
    version = templates_service.get_version(organization_id, report.template_version_id)
    current = read_sections(report, "current_sections")
    generated = read_sections(report, "generated_sections")
    readable = current is not None and generated is not None
    sections = []
    for spec in templates_service.sections_of(version):
        text = (current or {}).get(spec.key, "")
        before = (generated or {}).get(spec.key, "")
        sections.append(
            SectionView(spec.key, spec.title, spec.guidance, text, before, markdown_to_html(text), diff(before, text))
        )
    session = consultations.get_session(organization_id, report.session_id)
    patient = patients.get_patient(organization_id, report.patient_id)
    original = get_report(organization_id, report.amends_report_id) if report.amends_report_id else None
    amendment = amendment_of(organization_id, report.id)
    return ReportView(
        report=report,
        patient_name=f"{patient.first_name} {patient.last_name}",
        session_code=session.session_code,
        session_type=session.session_type,
        session_started_at=session.started_at,
        clinician_name=_user_name(session.clinician_id) or "",
        template_id=version.template_id,
        template_name=version.name,
        template_version=version.version,
        sections=tuple(sections),
        readable=readable,
        created_by_name=_user_name(report.created_by_id),
        signed_by_name=_user_name(report.signed_by_id),
        content_intact=content_intact(report) if report.content_sha256 else None,
        amends_version=original.version if original else None,
        amended_by_id=amendment.id if amendment else None,
    )


def view_report(organization_id: str, report_id: str, *, actor: audit.Actor, channel: str = "web") -> ReportView:
    """The report decrypted for reading; records ``report.viewed``. Raises NotFound."""
    report = get_report(organization_id, report_id)
    view = build_view(report)
    audit.record(
        "report.viewed",
        organization_id=organization_id,
        actor=actor,
        target_type="report",
        target_id=report.id,
        patient_id=report.patient_id,
        details={"channel": channel, "status": report.status},
    )
    return view


def transcript_for(organization_id: str, report: Report, *, actor: audit.Actor) -> list[consultations.Segment]:
    """The transcript of the report's session, decrypted; records ``report.transcript_viewed``."""
    session = consultations.get_session(organization_id, report.session_id)
    segments = consultations.transcript_segments(session)
    audit.record(
        "report.transcript_viewed",
        organization_id=organization_id,
        actor=actor,
        target_type="consultation",
        target_id=session.id,
        patient_id=report.patient_id,
        details={"report_id": report.id, "segments": len(segments)},
    )
    return segments


# --- lists --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRow:
    id: str
    status: str
    version: int
    patient_id: str
    patient_name: str
    session_id: str
    session_code: str
    template_name: str
    amends_report_id: str | None
    created_at: datetime
    updated_at: datetime
    signed_at: datetime | None
    signed_by_name: str | None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


@dataclass(frozen=True)
class ReportPage:
    rows: list[ReportRow]
    limit: int
    next_cursor: str | None
    status: str | None
    patient_id: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def _bad_cursor() -> Invalid:
    return bad_cursor()


def _anchor(organization_id: str, cursor: str) -> Report:
    try:
        report_id = decode_cursor(cursor)
    except ValueError:
        raise _bad_cursor() from None
    anchor = db.session.get(Report, report_id) if report_id.startswith(f"{Report.id_prefix}_") else None
    if anchor is None or anchor.organization_id != organization_id:
        raise _bad_cursor()
    return anchor


def list_reports(
    organization_id: str,
    *,
    actor: audit.Actor,
    status: str | None = None,
    patient_id: str | None = None,
    session_id: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
    channel: str = "web",
    record: bool = True,
) -> ReportPage:
    """The organization's reports, newest first, a page at a time (follow ``next_cursor``),
    optionally one status, one patient's or one session's. Raises Invalid for an unknown status
    or a bad cursor. Records ``report.listed`` with the ids shown unless ``record`` is off."""
    if status is not None and status not in STATUSES:
        raise Invalid(errors=[FieldError("status", f"Choose one of: {', '.join(STATUSES)}.", "LITERAL_ERROR")])
    limit = max(1, min(limit, MAX_LIMIT))
    signer = User.__table__.alias("signer")
    statement = (
        select(
            Report,
            Patient.first_name,
            Patient.last_name,
            ConsultationSession.session_code,
            ReportTemplateVersion.name,
            signer.c.display_name,
        )
        .join(Patient, Patient.id == Report.patient_id)
        .join(ConsultationSession, ConsultationSession.id == Report.session_id)
        .join(ReportTemplateVersion, ReportTemplateVersion.id == Report.template_version_id)
        .outerjoin(signer, signer.c.id == Report.signed_by_id)
        .where(Report.organization_id == organization_id)
    )
    if status:
        statement = statement.where(Report.status == status)
    if patient_id:
        statement = statement.where(Report.patient_id == patient_id)
    if session_id:
        session = consultations.get_session(organization_id, session_id)
        statement = statement.where(Report.session_id == session.id)
    if cursor:
        anchor = _anchor(organization_id, cursor)
        key = tuple_(literal(anchor.created_at, Report.created_at.type), literal(anchor.id, Report.id.type))
        statement = statement.where(tuple_(Report.created_at, Report.id) < key)
    found = db.session.execute(statement.order_by(Report.created_at.desc(), Report.id.desc()).limit(limit + 1)).all()
    more = len(found) > limit
    rows = [
        ReportRow(
            id=r.id,
            status=r.status,
            version=r.version,
            patient_id=r.patient_id,
            patient_name=f"{first} {last}",
            session_id=r.session_id,
            session_code=code,
            template_name=template_name,
            amends_report_id=r.amends_report_id,
            created_at=r.created_at,
            updated_at=r.updated_at,
            signed_at=r.signed_at,
            signed_by_name=signer_name,
        )
        for r, first, last, code, template_name, signer_name in found[:limit]
    ]
    if record:
        audit.record(
            "report.listed",
            organization_id=organization_id,
            actor=actor,
            target_type="report",
            details={"channel": channel, "results": len(rows), "report_ids": [row.id for row in rows]},
        )
    next_cursor = encode_cursor(rows[-1].id) if more else None
    return ReportPage(rows=rows, limit=limit, next_cursor=next_cursor, status=status, patient_id=patient_id)
