"""Patient figures: recomputing, locking, refreshing what time made stale, and reading one
patient's row (docs/rules.md).

Who recomputes, and when (a GET never writes figures):

* appointments booked, moved, cancelled or marked here (``appointments.signals.appointments_changed``)
  and a patient registered, archived or restored (``patients.signals.patient_changed``): the
  receivers below recompute those patients in the same transaction;
* a sync, the seeders and a recorded contact call ``recompute`` themselves;
* time alone (a booking starts, a visit leaves the 30- or 90-day window, a contact stops hiding
  someone): ``refresh_stale_figures``, a periodic task, recomputes the rows whose ``valid_until``
  passed.

Every recompute ends with ``signals.figures_changed`` (the dashboard subscribes). Functions take the
organization explicitly and only flush (the periodic task commits its own work).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, select, text

from clinic_app.appointments.service import chunks, refresh_statuses
from clinic_app.appointments.signals import appointments_changed
from clinic_app.core import periodic
from clinic_app.core.errors import NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.figures import bulk, compute, rules
from clinic_app.figures.models import PatientAppointmentStats
from clinic_app.figures.signals import figures_changed, patients_flagged
from clinic_app.patients.models import Patient
from clinic_app.patients.signals import patient_changed

Stats = PatientAppointmentStats


# --- writing ----------------------------------------------------------------------------------


def lock(organization_id: str, *, wait: bool = True) -> bool:
    """Take the organization's figures lock until the transaction ends (PostgreSQL; SQLite
    already lets one writer in at a time). Two recomputes of the same patients would otherwise
    both delete and re-insert their rows, and the second insert would hit the unique key.
    With ``wait=False``, returns False at once when another transaction holds it."""
    if db.session.get_bind().dialect.name != "postgresql":
        return True
    key = {"key": f"patient_appointment_stats:{organization_id}"}
    if wait:
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), key)
        return True
    return bool(db.session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"), key))


def recompute(organization_id: str, patient_ids: Iterable[str] | None = None, *, now: datetime | None = None) -> int:
    """Recompute ``PatientAppointmentStats`` as of ``now`` for ``patient_ids`` (every patient of
    the organization when None), refreshing the appointments' stored statuses first
    (docs/rules.md). Takes the organization's figures lock (``lock``) and sends
    ``figures_changed``. Returns how many patients were computed."""
    now = now or utcnow()
    lock(organization_id)
    wanted = None if patient_ids is None else sorted(set(patient_ids))
    if wanted is None:
        bulk.widen_memory_for_this_transaction()
    refresh_statuses(organization_id, now=now, patient_ids=wanted)
    rows = compute.rows(organization_id, wanted, now)
    before = _at_risk_levels(organization_id, wanted)
    if wanted is None:
        db.session.execute(delete(Stats).where(Stats.organization_id == organization_id))
    else:
        for chunk in chunks(wanted):
            db.session.execute(
                delete(Stats).where(Stats.organization_id == organization_id, Stats.patient_id.in_(chunk))
            )
    bulk.write_rows(rows)  # the table's INSERT (COPY for many rows on PostgreSQL): no per-row ORM work
    db.session.flush()
    figures_changed.send(__name__, organization_id=organization_id, patient_ids=wanted)
    flagged = [row["patient_id"] for row in rows if _rose(before.get(row["patient_id"]), row["risk_level"])]
    if flagged:
        patients_flagged.send(__name__, organization_id=organization_id, patient_ids=flagged)
    return len(rows)


_AT_RISK = {rules.MEDIUM: 1, rules.HIGH: 2}


def _at_risk_levels(organization_id: str, patient_ids: list[str] | None) -> dict[str, str]:
    """The stored risk level of the patients (all when None) who are on the worklist's levels now."""
    query = select(Stats.patient_id, Stats.risk_level).where(
        Stats.organization_id == organization_id, Stats.risk_level.in_(tuple(_AT_RISK))
    )
    if patient_ids is None:
        return dict(db.session.execute(query).tuples().all())
    levels: dict[str, str] = {}
    for chunk in chunks(patient_ids):
        levels.update(db.session.execute(query.where(Stats.patient_id.in_(chunk))).tuples().all())
    return levels


def _rose(before: str | None, after: str) -> bool:
    return _AT_RISK.get(after, 0) > _AT_RISK.get(before or "", 0)


def stale_patient_ids(organization_id: str, *, now: datetime | None = None) -> list[str]:
    """Patients whose figures time has changed since they were computed (see ``valid_until``)."""
    return list(
        db.session.scalars(
            select(Stats.patient_id).where(
                Stats.organization_id == organization_id, Stats.valid_until <= (now or utcnow())
            )
        )
    )


def refresh_stale(organization_id: str, now: datetime | None = None) -> int:
    """Recompute the organization's patients whose stored figures time has overtaken
    (``valid_until`` passed), so they are true at ``now``. Cheap when nothing is stale (one index
    lookup). When another transaction is already recomputing this organization, it does not
    wait (that one will). Returns how many patients were recomputed; only flushes."""
    now = now or utcnow()
    stale = select(Stats.patient_id).where(Stats.organization_id == organization_id, Stats.valid_until <= now)
    if db.session.scalar(stale.limit(1)) is None:
        return 0
    if not lock(organization_id, wait=False):
        return 0
    patient_ids = list(db.session.scalars(stale))  # again, under the lock: someone may have done it
    if not patient_ids:
        return 0
    return recompute(organization_id, patient_ids, now=now)


@periodic.every_tick("figures.refresh_stale")
def refresh_stale_figures(now: datetime) -> dict[str, int]:
    """The periodic task: ``refresh_stale`` for every organization with stale figures, each in
    its own committed transaction. Returns how many organizations and patients it recomputed."""
    organizations = list(db.session.scalars(select(Stats.organization_id).where(Stats.valid_until <= now).distinct()))
    done = {"organizations": 0, "patients": 0}
    for organization_id in sorted(organizations):
        recomputed = refresh_stale(organization_id, now)
        db.session.commit()
        if recomputed:
            done["organizations"] += 1
            done["patients"] += recomputed
    return done


# --- the events that make figures stale -------------------------------------------------------


def _appointments_changed(_sender: Any, *, organization_id: str, patient_ids: Iterable[str], **_: Any) -> None:
    wanted = [patient_id for patient_id in patient_ids if patient_id]
    if wanted:
        recompute(organization_id, wanted)
    else:  # appointments of no known patient: no row to recompute, the organization's figures moved
        figures_changed.send(__name__, organization_id=organization_id, patient_ids=[])


def _patient_changed(sender: Any, *, organization_id: str, patient_id: str, change: str = "", **_: Any) -> None:
    # Registered (a row of zeros, "never attended" from today), archived (never active nor at
    # risk) or restored: that one patient's figures.
    if change == "registered" and isinstance(sender, Patient) and sender.created_at is not None:
        record_registered(organization_id, [(patient_id, bool(sender.archived), sender.created_at)])
    else:
        recompute(organization_id, [patient_id])


def record_registered(organization_id: str, patients: list[tuple[str, bool, datetime]]) -> int:
    """``recompute`` for patients registered in this transaction, given as (id, archived,
    registered at): nothing can be recorded about them yet, so their rows are computed without
    reading (``compute.rows_of_new_patients``), stored, and announced as ``recompute`` does."""
    now = utcnow()
    lock(organization_id)
    rows = compute.rows_of_new_patients(organization_id, patients, now)
    bulk.write_rows(rows)
    db.session.flush()
    wanted = sorted(patient_id for patient_id, _archived, _registered in patients)
    figures_changed.send(__name__, organization_id=organization_id, patient_ids=wanted)
    flagged = [row["patient_id"] for row in rows if _rose(None, row["risk_level"])]
    if flagged:
        patients_flagged.send(__name__, organization_id=organization_id, patient_ids=flagged)
    return len(rows)


appointments_changed.connect(_appointments_changed)
patient_changed.connect(_patient_changed)


# --- reading ----------------------------------------------------------------------------------


def patient_stats(organization_id: str, patient_id: str) -> PatientAppointmentStats | None:
    """The patient's stored figures, or None when none were computed yet."""
    return db.session.scalar(
        select(Stats).where(Stats.organization_id == organization_id, Stats.patient_id == patient_id)
    )


def _organization_patient(organization_id: str, patient_id: str) -> None:
    found = db.session.scalar(
        select(Patient.id).where(Patient.organization_id == organization_id, Patient.id == patient_id)
    )
    if found is None:
        raise NotFound("No such patient.")


def stats_for(organization_id: str, patient_id: str, *, now: datetime | None = None) -> PatientAppointmentStats:
    """The patient's stored figures; when none were stored yet, the figures computed at ``now``
    without storing them (a read never writes). Raises NotFound for a patient of another
    organization (or none)."""
    _organization_patient(organization_id, patient_id)
    row = patient_stats(organization_id, patient_id)
    if row is None:
        computed = compute.rows(organization_id, [patient_id], now or utcnow())
        row = PatientAppointmentStats(**computed[0])  # transient: never added to the session
    return row


def current_stats(organization_id: str, patient_id: str, *, now: datetime | None = None) -> PatientAppointmentStats:
    """For a change about to use them: the patient's figures made true at ``now`` (recomputed when
    missing or stale). Raises NotFound for a patient of another organization (or none)."""
    _organization_patient(organization_id, patient_id)
    now = now or utcnow()
    row = patient_stats(organization_id, patient_id)
    if row is None or (row.valid_until is not None and row.valid_until <= now):
        recompute(organization_id, [patient_id], now=now)
        if row is not None:
            db.session.expire(row)  # its id may be reused by the row just written
        row = patient_stats(organization_id, patient_id)
    assert row is not None
    return row


def activity_summary(organization_id: str) -> dict[str, Any]:
    """Organization-wide figures from the stored figures (as of their ``computed_at``)."""
    row = db.session.execute(
        select(
            func.count().label("patients"),
            func.sum(case((Stats.is_active.is_(True), 1), else_=0)).label("active"),
            func.sum(case((Stats.recent_attended > 0, 1), else_=0)).label("with_recent"),
            func.sum(case((Stats.upcoming > 0, 1), else_=0)).label("with_upcoming"),
            func.sum(Stats.recent_attended).label("recent_total"),
            func.sum(Stats.upcoming).label("upcoming_total"),
            func.sum(Stats.total).label("appointments_total"),
            func.max(Stats.computed_at).label("computed_at"),
        ).where(Stats.organization_id == organization_id)
    ).one()
    return {
        "patients": int(row.patients or 0),
        "active_patients": int(row.active or 0),
        "patients_with_recent": int(row.with_recent or 0),
        "patients_with_upcoming": int(row.with_upcoming or 0),
        "total_recent_appointments": int(row.recent_total or 0),
        "total_upcoming_appointments": int(row.upcoming_total or 0),
        "total_appointments": int(row.appointments_total or 0),
        "computed_at": row.computed_at,
    }
