"""Organization-wide re-engagement figures, from the stored per-patient figures (one aggregate
query each, read as they are stored). Archived patients are left out: they are never at risk."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func

from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.figures import contacts, queries, rules
from clinic_app.figures.models import PatientAppointmentStats
from clinic_app.patients.models import Patient

RECENT_CONTACTS = timedelta(days=7)


def _count(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _figures(organization_id: str) -> Any:
    stats = PatientAppointmentStats
    return db.session.execute(
        queries.with_patients(
            organization_id,
            func.count().label("patients"),
            _count(stats.total > 0).label("with_history"),
            _count(stats.upcoming == 0).label("without_upcoming"),
            *(_count(stats.risk_level == level).label(level) for level in rules.RISK_LEVELS),
            *(_count(stats.action_priority == p).label(f"priority_{p}") for p in (1, 2, 3, 4)),
            _count(stats.action_priority.between(1, 2) & stats.contacted_at.is_(None)).label("to_contact"),
            _count(stats.action_priority.between(1, 2) & stats.contacted_at.is_not(None)).label("hidden"),
            func.sum(stats.risk_score).label("score_total"),
            func.sum(stats.attended_90).label("attended_90"),
            func.sum(stats.did_not_arrive_90).label("did_not_arrive_90"),
            func.sum(stats.late_cancelled_90).label("late_cancelled_90"),
            func.min(stats.computed_at).label("computed_at"),
        ).where(Patient.archived.is_(False))
    ).one()


def _levels(row: Any) -> dict[str, int]:
    return {level: int(getattr(row, level) or 0) for level in rules.RISK_LEVELS}


def _priorities(row: Any) -> dict[str, int]:
    return {f"priority_{p}": int(getattr(row, f"priority_{p}") or 0) for p in (1, 2, 3, 4)}


def risk_metrics(organization_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Risk levels, priorities, average score and 90-day attendance over the organization's
    patients (not archived)."""
    row = _figures(organization_id)
    patients = int(row.patients or 0)
    attended, missed, late = (
        int(row.attended_90 or 0),
        int(row.did_not_arrive_90 or 0),
        int(row.late_cancelled_90 or 0),
    )
    return {
        "organization_id": organization_id,
        "total_patients": patients,
        "patients_with_history": int(row.with_history or 0),
        "patients_without_upcoming": int(row.without_upcoming or 0),
        "risk_levels": _levels(row),
        "action_priorities": _priorities(row),
        "average_risk_score": rules.average(int(row.score_total or 0), patients),
        "attended_90_days": attended,
        "did_not_arrive_90_days": missed,
        "late_cancelled_90_days": late,
        "missed_90_days": missed + late,
        "attendance_rate_90_days": round(rules.attendance_rate(attended, missed, late), 3),
        "computed_at": row.computed_at,
    }


def worklist_summary(organization_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """How many patients are on the worklist, by level and priority, and the contacts of the last
    7 days by outcome."""
    now = now or utcnow()
    row = _figures(organization_id)
    outcomes = contacts.outcomes_since(organization_id, now - RECENT_CONTACTS)
    return {
        "organization_id": organization_id,
        "total_patients": int(row.patients or 0),
        "to_contact": int(row.to_contact or 0),
        "risk_levels": _levels(row),
        "action_priorities": _priorities(row),
        "hidden_by_contact": int(row.hidden or 0),
        "contacted_last_7_days": sum(outcomes.values()),
        "outcomes_last_7_days": outcomes,
    }
