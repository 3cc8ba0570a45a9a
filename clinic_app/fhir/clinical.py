"""FHIR Encounter (consultations: ``consultations:read``) and DocumentReference (signed
reports: ``clinical:read``, 404 to roles without it). Encounter searches by ``patient``,
``date`` and ``status``; DocumentReference by ``patient`` and ``date``. Reads are audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Response, request
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from clinic_app.consultations.models import CANCELLED, COMPLETED, IN_PROGRESS, ConsultationSession
from clinic_app.core.access import requires
from clinic_app.core.errors import FieldError, Invalid, NotFound
from clinic_app.core.tenancy import current_organization_id
from clinic_app.extensions import db
from clinic_app.fhir import bp, common
from clinic_app.fhir.scheduling import patient_param
from clinic_app.reports.models import SIGNED, Report

ENCOUNTER_STATUS = {IN_PROGRESS: "in-progress", COMPLETED: "finished", CANCELLED: "cancelled"}
AMBULATORY = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"}
SHA256_EXTENSION = "urn:clinic-app:fhir:content-sha256"
SESSION_TYPES = {
    "new_patient": "New patient",
    "follow_up": "Follow-up",
    "consultation": "Consultation",
    "emergency": "Emergency",
}


def encounter_resource(session: ConsultationSession) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": common.fhir_id(session.id),
        "meta": {"lastUpdated": common.instant(session.updated_at)},
        "identifier": [{"system": "urn:clinic-app:consultation-code", "value": session.session_code}],
        "status": ENCOUNTER_STATUS.get(session.status, "unknown"),
        "class": AMBULATORY,
        "type": [{"text": SESSION_TYPES.get(session.session_type, session.session_type)}],
        "subject": common.reference("Patient", session.patient_id),
        "appointment": [common.reference("Appointment", session.appointment_id)] if session.appointment_id else None,
        "period": {"start": common.instant(session.started_at), "end": common.instant(session.ended_at)},
        "length": {
            "value": session.duration_seconds // 60,
            "unit": "min",
            "system": "http://unitsofmeasure.org",
            "code": "min",
        }
        if session.duration_seconds is not None
        else None,
    }


def document_resource(report: Report, superseded: bool) -> dict[str, Any]:
    pdf = f"{common.public_url()}/api/v1/reports/{report.id}/pdf"
    return {
        "resourceType": "DocumentReference",
        "id": common.fhir_id(report.id),
        "meta": {"lastUpdated": common.instant(report.updated_at)},
        "extension": [{"url": SHA256_EXTENSION, "valueString": report.content_sha256}]
        if report.content_sha256
        else None,
        "status": "superseded" if superseded else "current",
        "docStatus": "amended" if report.amends_report_id else "final",
        "type": {"text": "Clinical report"},
        "subject": common.reference("Patient", report.patient_id),
        "date": common.instant(report.signed_at),
        "relatesTo": [{"code": "replaces", "target": common.reference("DocumentReference", report.amends_report_id)}]
        if report.amends_report_id
        else None,
        "content": [{"attachment": {"contentType": "application/pdf", "url": pdf, "title": f"Report {report.id}"}}],
        "context": {"encounter": [common.reference("Encounter", report.session_id)]},
    }


def _superseded(report_ids: list[str]) -> set[str]:
    if not report_ids:
        return set()
    rows = db.session.scalars(select(Report.amends_report_id).where(Report.amends_report_id.in_(report_ids)))
    return {row for row in rows if row}


def _load(model: type, prefix: str, name: str, resource_id: str, *extra: Any) -> Any:
    internal = common.internal_id(resource_id)
    found = db.session.get(model, internal) if internal and internal.startswith(prefix) else None
    if found is None or found.organization_id != current_organization_id() or not all(c(found) for c in extra):
        raise NotFound(f"{name}/{resource_id[:64]} not found.")
    return found


def _page(
    model: type,
    when: InstrumentedAttribute[Any],
    filters: list[Any],
    limit: int,
) -> tuple[list[Any], str | None]:
    """One page ordered by ``when`` then id, after the cursor's position."""
    position = common.cursor_text()
    if position is not None:
        try:
            moment_text, last_id = position.split("|", 1)
            moment = datetime.fromisoformat(moment_text)
        except ValueError:
            raise Invalid(errors=[FieldError("_cursor", "This cursor is not valid.", "INVALID_SEARCH")]) from None
        filters.append(or_(when > moment, and_(when == moment, model.id > last_id)))  # type: ignore[attr-defined]
    rows = list(db.session.scalars(select(model).where(*filters).order_by(when, model.id).limit(limit + 1)))  # type: ignore[attr-defined]
    more, rows = len(rows) > limit, rows[:limit]
    return rows, (f"{getattr(rows[-1], when.key).isoformat()}|{rows[-1].id}" if more else None)


def _search(
    model: type, when: InstrumentedAttribute[Any], base: list[Any], allowed: tuple[str, ...]
) -> tuple[list[Any], str | None, dict[str, str]]:
    given = common.params(allowed)
    limit = common.count()
    filters = [model.organization_id == current_organization_id(), *base]  # type: ignore[attr-defined]
    if "patient" in given:
        filters.append(model.patient_id == patient_param(given["patient"]))  # type: ignore[attr-defined]
    span = common.date_range("date", request.args.getlist("date"))
    if span.start is not None:
        filters.append(when >= span.start)
    if span.end is not None:
        filters.append(when < span.end)
    rows, next_position = _page(model, when, filters, limit)
    return rows, next_position, given


def _audited(
    rows: list[Any], name: str, how: str, to_resource: Callable[[Any], dict[str, Any]]
) -> list[dict[str, Any]]:
    organization_id = current_organization_id()
    entries = []
    for row in rows:
        common.audit_read(organization_id, name, row.id, row.patient_id, how)
        entries.append(to_resource(row))
    return entries


@bp.get("/Encounter/<resource_id>")
@requires("consultations:read")
def read_encounter(resource_id: str) -> Response:
    session = _load(ConsultationSession, "con_", "Encounter", resource_id)
    return common.answer(_audited([session], "Encounter", "read", encounter_resource)[0])


@bp.get("/Encounter")
@requires("consultations:read")
def search_encounters() -> Response:
    status_filter: list[Any] = []
    wanted = request.args.get("status")
    if wanted is not None:
        ours = [ours for ours, fhir in ENCOUNTER_STATUS.items() if fhir in wanted.split(",")]
        if not ours:
            raise Invalid(errors=[FieldError("status", "Use in-progress, finished or cancelled.", "INVALID_SEARCH")])
        status_filter.append(ConsultationSession.status.in_(ours))
    rows, next_position, _ = _search(
        ConsultationSession, ConsultationSession.started_at, status_filter, ("patient", "date", "status")
    )
    return common.searchset("Encounter", _audited(rows, "Encounter", "search", encounter_resource), next_position)


@bp.get("/DocumentReference/<resource_id>")
@requires("clinical:read", hide=True)
def read_document(resource_id: str) -> Response:
    report = _load(Report, "rep_", "DocumentReference", resource_id, lambda r: r.status == SIGNED)
    superseded = _superseded([report.id])
    return common.answer(
        _audited([report], "DocumentReference", "read", lambda r: document_resource(r, r.id in superseded))[0]
    )


@bp.get("/DocumentReference")
@requires("clinical:read", hide=True)
def search_documents() -> Response:
    rows, next_position, _ = _search(Report, Report.signed_at, [Report.status == SIGNED], ("patient", "date"))
    superseded = _superseded([row.id for row in rows])
    entries = _audited(rows, "DocumentReference", "search", lambda r: document_resource(r, r.id in superseded))
    return common.searchset("DocumentReference", entries, next_position)
