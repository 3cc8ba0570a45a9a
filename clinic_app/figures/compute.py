"""Computing a patient's figures from their appointments (docs/rules.md), set-based.

``rows`` reads everything one recompute needs (one statement per chunk of patients, or one for the
whole organization, never one per patient) and returns the ``PatientAppointmentStats`` rows as
dicts, without writing anything: ``service.recompute`` stores them, ``service.stats_for`` can show
one that was never stored. The appointment counts are made here with ``appointments.service``'s
status rule; the engagement columns and risk are filled by ``engagement_columns``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from clinic_app.appointments.models import ATTENDED, BOOKED, CANCELLED, DID_NOT_ARRIVE, Appointment
from clinic_app.appointments.service import (
    RECENT,
    chunks,
    counted,
    late_cancellation_expression,
    status_expression,
)
from clinic_app.core.time import local_date, organization_zone, shifted
from clinic_app.extensions import db
from clinic_app.figures import engagement_columns, rules
from clinic_app.patients.models import Patient

# The smallest step of a stored time: an attendance exactly RECENT ago still counts as recent, so
# the figure changes one step after that moment, not at it.
_TICK = timedelta(microseconds=1)


def _aggregates(
    organization_id: str, patient_ids: Sequence[str] | None, now: datetime, window_start: datetime
) -> dict[str, Any]:
    """One row of figures per patient with counted appointments, keyed by patient id."""
    status = status_expression(now)
    cutoff = now - RECENT
    attended, booked = status == ATTENDED, status == BOOKED
    recent = and_(attended, Appointment.starts_at >= cutoff)
    in_window = Appointment.starts_at >= window_start
    attended_90 = and_(in_window, attended)
    missed_90 = and_(in_window, status == DID_NOT_ARRIVE)
    late_90 = and_(in_window, status == CANCELLED, late_cancellation_expression())
    query = (
        select(
            Appointment.patient_id,
            func.count().label("total"),
            func.sum(case((attended, 1), else_=0)).label("attended"),
            func.sum(case((status == CANCELLED, 1), else_=0)).label("cancelled"),
            func.sum(case((status == DID_NOT_ARRIVE, 1), else_=0)).label("did_not_arrive"),
            func.sum(case((booked, 1), else_=0)).label("upcoming"),
            func.sum(case((recent, 1), else_=0)).label("recent_attended"),
            func.min(case((status != CANCELLED, Appointment.starts_at))).label("first_appointment_at"),
            func.max(case((attended, Appointment.starts_at))).label("last_attended_at"),
            func.min(case((booked, Appointment.starts_at))).label("next_appointment_at"),
            func.min(case((recent, Appointment.starts_at))).label("oldest_recent_at"),
            func.sum(case((attended_90, 1), else_=0)).label("attended_90"),
            func.sum(case((missed_90, 1), else_=0)).label("did_not_arrive_90"),
            func.sum(case((late_90, 1), else_=0)).label("late_cancelled_90"),
            func.min(case((or_(attended_90, missed_90, late_90), Appointment.starts_at))).label("oldest_window_at"),
        )
        .where(*counted(organization_id), Appointment.patient_id.is_not(None))
        .group_by(Appointment.patient_id)
    )
    if patient_ids is None:
        return {row.patient_id: row for row in db.session.execute(query)}
    rows: dict[str, Any] = {}
    for chunk in chunks(patient_ids):
        rows.update({row.patient_id: row for row in db.session.execute(query.where(Appointment.patient_id.in_(chunk)))})
    return rows


def _patients(organization_id: str, patient_ids: Sequence[str] | None) -> list[Any]:
    """(id, archived, created_at) of the organization's patients among ``patient_ids``."""
    query = select(Patient.id, Patient.archived, Patient.created_at).where(Patient.organization_id == organization_id)
    if patient_ids is None:
        return list(db.session.execute(query))
    found: list[Any] = []
    for chunk in chunks(patient_ids):
        found += list(db.session.execute(query.where(Patient.id.in_(chunk))))
    return found


def _stats_row(organization_id: str, patient_id: str, archived: bool, figures: Any, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {
        "organization_id": organization_id,
        "patient_id": patient_id,
        "computed_at": now,
        "total": 0,
        "attended": 0,
        "cancelled": 0,
        "did_not_arrive": 0,
        "upcoming": 0,
        "recent_attended": 0,
        "first_appointment_at": None,
        "last_attended_at": None,
        "next_appointment_at": None,
        "valid_until": None,
    }
    if figures is not None:
        for name in ("total", "attended", "cancelled", "did_not_arrive", "upcoming", "recent_attended"):
            row[name] = int(getattr(figures, name) or 0)
        for name in ("first_appointment_at", "last_attended_at", "next_appointment_at"):
            row[name] = getattr(figures, name)
        # The first moment time alone changes a figure: the next booking starts, or the oldest
        # recent attendance leaves the window (just after it is RECENT old: the window includes
        # its start; stored at the boundary itself, the row would be stale again the moment it
        # was computed).
        moments = [figures.next_appointment_at]
        if figures.oldest_recent_at is not None:
            moments.append(shifted(figures.oldest_recent_at, RECENT + _TICK))
        row["valid_until"] = min((m for m in moments if m is not None), default=None)
    row["is_active"] = not archived and (row["recent_attended"] > 0 or row["upcoming"] > 0)
    return row


def rows(organization_id: str, patient_ids: Sequence[str] | None, now: datetime) -> list[dict[str, Any]]:
    """The ``PatientAppointmentStats`` rows (dicts keyed by column, without ``id``) of
    ``patient_ids`` (every patient of the organization when None) as of ``now``. Patients without
    appointments get a row of zeros; ids that are not the organization's patients get none.
    Reads only."""
    tz = organization_zone(organization_id)
    figures = _aggregates(organization_id, patient_ids, now, rules.window_start(now, tz))
    extras = engagement_columns.gather(organization_id, patient_ids, now)
    return _completed(organization_id, _patients(organization_id, patient_ids), figures, extras, now, tz)


def rows_of_new_patients(organization_id: str, patients: Sequence[Any], now: datetime) -> list[dict[str, Any]]:
    """``rows`` for patients registered in this transaction, given as (id, archived, created_at):
    no appointment and no contact can name a patient whose id did not exist before, so nothing is
    read and each gets what ``rows`` gives a patient with nothing recorded."""
    tz = organization_zone(organization_id)
    return _completed(organization_id, patients, {}, engagement_columns.NOTHING_RECORDED, now, tz)


def _completed(
    organization_id: str,
    patients: Sequence[Any],
    figures: dict[str, Any],
    extras: engagement_columns.Extras,
    now: datetime,
    tz: Any,
) -> list[dict[str, Any]]:
    today = local_date(now, tz)
    found = []
    for patient_id, archived, registered_at in patients:
        patient_figures = figures.get(patient_id)
        row = _stats_row(organization_id, patient_id, archived, patient_figures, now)
        engagement_columns.complete(
            row,
            figures=patient_figures,
            archived=archived,
            registered_at=registered_at,
            extras=extras,
            now=now,
            tz=tz,
            today=today,
        )
        found.append(row)
    return found
