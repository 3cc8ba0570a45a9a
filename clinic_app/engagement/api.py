"""Re-engagement JSON: ``/api/v1/reengagement/{organization_id}/...`` (docs/engagement.md).

The organization in the path must be the caller's (another one answers 404, like a patient of
another organization). Thin: validate, call the services, shape the answer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.errors import FieldError, Invalid, NotFound
from clinic_app.core.pagination import INVALID_CURSOR
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import organization_zone, utcnow
from clinic_app.engagement import bp, metrics, worklist
from clinic_app.engagement.schemas import (
    ContactIn,
    ContactOut,
    ContactRecordedOut,
    DashboardSummaryOut,
    PatientDetailsOut,
    PrioritizedOut,
    PrioritizedPatient,
    PrioritizedQuery,
    RiskMetricsOut,
)
from clinic_app.extensions import db
from clinic_app.figures import contacts
from clinic_app.figures import service as figures
from clinic_app.patients.models import Patient

TAGS = ("re-engagement",)
BASE = "/api/v1/reengagement/<organization_id>"


def _organization(organization_id: str) -> str:
    # The access check already answered 404 for an organization that is not the caller's.
    if organization_id != current_organization_id():
        raise NotFound("The requested resource was not found.")
    return organization_id


def _prioritized(row: worklist.WorklistRow) -> PrioritizedPatient:
    return PrioritizedPatient(
        patient_id=row.patient_id,
        name=f"{row.first_name} {row.last_name}".strip(),
        first_name=row.first_name,
        last_name=row.last_name,
        risk_level=row.risk_level,  # type: ignore[arg-type]
        risk_score=row.risk_score,
        action_priority=row.action_priority,
        reasons=list(row.reasons),
        days_since_last_contact=row.days_since_last_contact,
        last_appointment_date=row.last_attended_at,
        next_appointment_time=row.next_appointment_at,
        attended_90_days=row.attended_90,
        did_not_arrive_90_days=row.did_not_arrive_90,
        late_cancelled_90_days=row.late_cancelled_90,
        attendance_rate=round(row.attendance_rate, 3),
        total_appointment_count=row.total_appointments,
    )


def _contact(view: contacts.ContactView) -> ContactOut:
    return ContactOut(
        id=view.id,
        contacted_at=view.contacted_at,
        outcome=view.outcome,  # type: ignore[arg-type]
        note=view.note,
        contacted_by=view.user_id,
        risk_level_at_contact=view.risk_level,  # type: ignore[arg-type]
    )


@api_route(
    bp,
    f"{BASE}/risk-metrics",
    response=RiskMetricsOut,
    summary="Re-engagement risk across the organization",
    description="Counts per risk level and action priority, the average risk score and attendance over the "
    "last 90 days, over patients who are not archived.",
    tags=TAGS,
)
@requires("dashboard:read")
def risk_metrics(organization_id: str) -> RiskMetricsOut:
    figures: dict[str, Any] = metrics.risk_metrics(_organization(organization_id))
    return RiskMetricsOut(**figures, timestamp=utcnow())


def _keyset_errors(query: PrioritizedQuery) -> list[FieldError]:
    errors = []
    for field in ("cursor", "before"):
        value = getattr(query, field)
        if value is not None and worklist.decode_cursor(value) is None:
            message = "Not a cursor of this list: pass next_cursor or prev_cursor of an answer."
            errors.append(FieldError(field, message, INVALID_CURSOR))
    if query.cursor is not None and query.before is not None:
        errors.append(FieldError("before", "Pass cursor or before, not both.", "CONFLICTING_PARAMETERS"))
    if (query.cursor is not None or query.before is not None) and query.offset:
        errors.append(
            FieldError("offset", "Leave offset out when paging with cursor or before.", "CONFLICTING_PARAMETERS")
        )
    return errors


@api_route(
    bp,
    f"{BASE}/prioritized",
    paginated="offset-seed",
    offset_reason="earlier clients of this API page the worklist with `offset`",
    query=PrioritizedQuery,
    response=PrioritizedOut,
    summary="Patients to re-engage, ranked",
    description="The worklist: by action priority, then risk score (highest first), then patient id. Patients "
    "hidden by a recorded contact and archived patients are left out. Page with `limit` and `offset`, or "
    "with keyset cursors: `cursor` = `next_cursor` for the page after, `before` = `prev_cursor` for the page "
    "before (stable while patients join or leave the list).",
    tags=TAGS,
)
@requires("dashboard:read")
def prioritized(organization_id: str, query: PrioritizedQuery) -> PrioritizedOut:
    organization_id = _organization(organization_id)
    errors = _keyset_errors(query)
    if errors:
        raise Invalid(errors=errors)
    if query.cursor is not None or query.before is not None:
        page = worklist.worklist_page(
            organization_id, risk=query.risk, cursor=query.cursor, before=query.before, limit=query.limit
        )
        rows, total = page.rows, worklist.worklist_count(organization_id, risk=query.risk)
        next_cursor, prev_cursor = page.next_cursor, page.prev_cursor
        has_more = next_cursor is not None
    else:
        rows, total = worklist.worklist_offset(organization_id, risk=query.risk, limit=query.limit, offset=query.offset)
        has_more = query.offset + len(rows) < total
        next_cursor = worklist.encode_cursor(rows[-1]) if rows and has_more else None
        prev_cursor = worklist.encode_cursor(rows[0]) if rows and query.offset else None
    return PrioritizedOut(
        organization_id=organization_id,
        risk=query.risk,
        patients=[_prioritized(row) for row in rows],
        total_count=total,
        limit=query.limit,
        offset=query.offset,
        has_more=has_more,
        next_cursor=next_cursor,
        prev_cursor=prev_cursor,
        timestamp=utcnow(),
    )


@api_route(
    bp,
    f"{BASE}/dashboard-summary",
    response=DashboardSummaryOut,
    summary="Re-engagement summary for a dashboard",
    description="How many patients are on the worklist, by risk level and action priority, how many a contact "
    "hides, and the contacts of the last 7 days by outcome.",
    tags=TAGS,
)
@requires("dashboard:read")
def dashboard_summary(organization_id: str) -> DashboardSummaryOut:
    figures = metrics.worklist_summary(_organization(organization_id))
    return DashboardSummaryOut(**figures, timestamp=utcnow())


def _details(organization_id: str, patient_id: str) -> PatientDetailsOut:
    now = utcnow()
    stats = figures.stats_for(organization_id, patient_id, now=now)
    patient = db.session.scalar(select(Patient).where(Patient.id == patient_id))
    assert patient is not None  # stats_for answered 404 otherwise
    row = worklist.row_of(stats, patient, now, organization_zone(organization_id))
    history = contacts.contact_history(organization_id, patient_id, actor=current_actor())
    return PatientDetailsOut(
        organization_id=organization_id,
        patient_id=patient_id,
        name=f"{patient.first_name} {patient.last_name}".strip(),
        activity_status=stats.activity_status,
        risk_level=stats.risk_level,  # type: ignore[arg-type]
        risk_score=stats.risk_score,
        action_priority=stats.action_priority,
        reasons=list(stats.risk_reasons or ()),
        days_since_last_contact=row.days_since_last_contact,
        last_appointment_date=stats.last_attended_at,
        next_appointment_time=stats.next_appointment_at,
        upcoming_appointment_count=stats.upcoming,
        recent_appointment_count=stats.recent_attended,
        total_appointment_count=stats.total,
        attended_90_days=stats.attended_90,
        did_not_arrive_90_days=stats.did_not_arrive_90,
        late_cancelled_90_days=stats.late_cancelled_90,
        attendance_rate=round(row.attendance_rate, 3),
        on_worklist=stats.action_priority <= 2 and stats.contacted_at is None and not patient.archived,
        contacted_at=stats.contacted_at,
        contact_history=[_contact(view) for view in history],
        computed_at=stats.computed_at,
        timestamp=now,
    )


@api_route(
    bp,
    f"{BASE}/patient/<patient_id>/details",
    unpaged="one patient's figures with their latest 20 contacts",
    response=PatientDetailsOut,
    summary="One patient's re-engagement risk, reasons, figures and contact history",
    description="Contact notes are patient information: reading them is written to the audit trail. "
    "Another organization's patient is a 404.",
    tags=TAGS,
)
@requires("dashboard:read")
def patient_details(organization_id: str, patient_id: str) -> PatientDetailsOut:
    return _details(_organization(organization_id), patient_id)


@api_route(
    bp,
    f"{BASE}/patient/<patient_id>/contact",
    methods=("POST",),
    body=ContactIn,
    response=ContactRecordedOut,
    status=201,
    summary="Record a contact outcome",
    description="Records who contacted the patient, when, the outcome and an optional note (stored encrypted; "
    "the audit trail keeps the outcome, never the note). The patient then leaves the worklist until "
    "something changes (docs/rules.md).",
    tags=TAGS,
    extra_statuses={422: "Unknown outcome or note too long"},
)
@requires("engagement:write")
def record_contact(organization_id: str, patient_id: str, body: ContactIn) -> ContactRecordedOut:
    organization_id = _organization(organization_id)
    actor = current_actor()
    contact = contacts.record_contact(organization_id, patient_id, outcome=body.outcome, note=body.note, actor=actor)
    stats = figures.stats_for(organization_id, patient_id)
    return ContactRecordedOut(
        organization_id=organization_id,
        patient_id=patient_id,
        contact=ContactOut(
            id=contact.id,
            contacted_at=contact.contacted_at,
            outcome=contact.outcome,  # type: ignore[arg-type]
            note=(body.note or "").strip() or None,
            contacted_by=contact.user_id,
            risk_level_at_contact=contact.risk_level,  # type: ignore[arg-type]
        ),
        on_worklist=stats.action_priority <= 2 and stats.contacted_at is None,
        timestamp=utcnow(),
    )
