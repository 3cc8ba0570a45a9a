"""The one way lists read patients with their stored figures.

The active-patients page and its JSON (``caseload``), the re-engagement worklist (``engagement``)
and the admin JSON (``sync.admin_api``) all start from ``with_patients``: the organization's
figures rows joined to their patients. Each adds its own filter and order (soonest next
appointment, action priority, or name) on top; ``ACTIVE`` is what "active patients" selects,
and ``active_totals`` is what they add up to. Nothing here writes, and nothing is decrypted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select, true

from clinic_app.extensions import db
from clinic_app.figures.models import PatientAppointmentStats
from clinic_app.patients.models import Patient

Stats = PatientAppointmentStats
# The active patients (docs/rules.md); ``is_active`` already leaves archived patients out, so the
# count needs no patient row and reads the (organization_id, is_active) index alone.
ACTIVE: ColumnElement[bool] = Stats.is_active == true()


def with_patients(organization_id: str, *columns: Any) -> Select[Any]:
    """SELECT ``columns`` FROM the organization's figures JOIN their patients."""
    return (
        select(*columns)
        .select_from(Stats)
        .join(Patient, Patient.id == Stats.patient_id)
        .where(Stats.organization_id == organization_id, Patient.organization_id == organization_id)
    )


def count_statement(organization_id: str, where: Sequence[ColumnElement[bool]], *, with_patient: bool) -> Select[Any]:
    """SELECT how many of the organization's figures rows ``where`` selects; ``with_patient`` when
    a condition reads the patient row (else the count reads the figures alone). It never
    correlates: embedded in a page's statement (``.scalar_subquery()``) it counts on its own."""
    if with_patient:
        query = with_patients(organization_id, func.count())
    else:
        query = select(func.count()).select_from(Stats).where(Stats.organization_id == organization_id)
    return query.where(*where).correlate(None)


def count(organization_id: str, where: Sequence[ColumnElement[bool]], *, with_patient: bool) -> int:
    """How many of the organization's figures rows ``where`` selects (``count_statement``)."""
    return int(db.session.scalar(count_statement(organization_id, where, with_patient=with_patient)) or 0)


def active_totals(organization_id: str) -> Any:
    """What the active patients add up to: ``active`` (how many), ``with_recent`` and
    ``with_upcoming`` (how many have a recent / an upcoming appointment), ``recent`` and ``total``
    (their recent and all appointments) and ``avg_recent`` / ``avg_total`` (the database's
    averages of those per patient)."""
    return db.session.execute(
        select(
            func.count().label("active"),
            func.sum(case((Stats.recent_attended > 0, 1), else_=0)).label("with_recent"),
            func.sum(case((Stats.upcoming > 0, 1), else_=0)).label("with_upcoming"),
            func.sum(Stats.recent_attended).label("recent"),
            func.sum(Stats.total).label("total"),
            func.avg(Stats.recent_attended).label("avg_recent"),
            func.avg(Stats.total).label("avg_total"),
        ).where(Stats.organization_id == organization_id, ACTIVE)
    ).one()
