"""Seed 001's active-patient JSON: pages of active patients with their contact details, figures
and appointments, and the figures summed over them.

A page is chosen exactly as the active-patients page chooses it (``caseload.active``: active
patients, soonest next appointment first) from the stored figures. Then, for the patients of the
page only: their phone and e-mail are decrypted (recorded once per request, with the patient ids,
as ``patient.listed``), their Cliniko ids looked up, and their recent and upcoming appointments
read in one query each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import aliased

from clinic_app.appointments import service as appointments
from clinic_app.appointments import timing
from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.caseload import active
from clinic_app.caseload.active import Stats
from clinic_app.caseload.references import References, practitioner_name, references
from clinic_app.core import audit, crypto
from clinic_app.core.crypto import Unreadable
from clinic_app.extensions import db
from clinic_app.figures import queries, rules
from clinic_app.patients.models import Patient
from clinic_app.patients.storage import read_field
from clinic_app.sync.models import ClinikoConnection, ClinikoLink

APPOINTMENTS_SHOWN = 10
ACTIVE = active.ActiveFilters()
NextType = aliased(AppointmentType, name="next_type")
PrimaryType = aliased(AppointmentType, name="primary_type")


@dataclass(frozen=True)
class PatientPage:
    patients: list[dict[str, Any]]  # the seed's patient fields, plus priority figures
    total: int


def type_ids_named(organization_id: str, name: str) -> list[str]:
    """The organization's appointment types called ``name``, whatever the case."""
    wanted = name.strip().lower()
    if not wanted:
        return []
    return list(
        db.session.scalars(
            select(AppointmentType.id).where(
                AppointmentType.organization_id == organization_id, func.lower(AppointmentType.name) == wanted
            )
        )
    )


def of_types(type_ids: Sequence[str]) -> list[ColumnElement[bool]]:
    """Patients whose next or primary appointment is one of ``type_ids``."""
    return [or_(Stats.next_appointment_type_id.in_(type_ids), Stats.primary_appointment_type_id.in_(type_ids))]


def active_patient_page(
    organization_id: str,
    *,
    limit: int,
    offset: int,
    actor: audit.Actor,
    now: datetime,
    listing: str,
    extra: Sequence[ColumnElement[bool]] = (),
) -> PatientPage:
    """A page of active patients (narrowed by ``extra``) in the seed's shape, recording
    ``patient.listed`` with the ids of the patients whose details were decrypted."""
    total = active.count(organization_id, ACTIVE, now, extra)
    found = list(
        db.session.execute(active.rows_statement(organization_id, ACTIVE, now, extra).limit(limit).offset(offset))
    )
    ids = [row.patient_id for row in found]
    details = _details(organization_id, ids, now)
    names = references(organization_id)
    patients = [_patient_fields(row, details, names, now) for row in found]
    audit.record(
        "patient.listed",
        organization_id=organization_id,
        actor=actor,
        target_type="patient",
        details={
            "list": listing,
            "channel": "api",
            "fields": ["phones", "email"],
            "results": len(ids),
            "patient_ids": ids,
        },
    )
    return PatientPage(patients=patients, total=total)


def _readable(value: Any) -> Any:
    return None if isinstance(value, Unreadable) else value


def _details(organization_id: str, ids: list[str], now: datetime) -> dict[str, dict[str, Any]]:
    """Per patient id: the patient row's contact details and timestamps, Cliniko id, and
    appointments (recent, upcoming)."""
    if not ids:
        return {}
    vault = crypto.vault_for(organization_id)
    details: dict[str, dict[str, Any]] = {}
    rows = db.session.execute(
        select(Patient.id, Patient.phones_enc, Patient.email_enc, Patient.created_at, Patient.updated_at).where(
            Patient.organization_id == organization_id, Patient.id.in_(ids)
        )
    )
    for row in rows:
        phones = _readable(read_field(vault, row, "phones"))
        details[row.id] = {
            "phone": phones[0].number if phones else None,
            "email": _readable(read_field(vault, row, "email")),
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "cliniko_patient_id": None,
            "last_synced_at": None,
            "recent_appointments": [],
            "upcoming_appointments": [],
        }
    last_sync = db.session.scalar(
        select(ClinikoConnection.last_successful_sync_at).where(ClinikoConnection.organization_id == organization_id)
    )
    links = db.session.execute(
        select(ClinikoLink.local_id, ClinikoLink.cliniko_id, ClinikoLink.updated_at).where(
            ClinikoLink.organization_id == organization_id,
            ClinikoLink.resource == "patients",
            ClinikoLink.local_id.in_(ids),
        )
    )
    for link in links:
        if link.local_id in details:
            details[link.local_id]["cliniko_patient_id"] = link.cliniko_id
            details[link.local_id]["last_synced_at"] = max(filter(None, (last_sync, link.updated_at)))
    for patient_id, key, briefs in _appointments(organization_id, ids, now):
        if patient_id in details:
            details[patient_id][key] = briefs
    return details


def _appointments(organization_id: str, ids: list[str], now: datetime) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(patient id, "recent_appointments" or "upcoming_appointments", briefs): the patients'
    attended appointments of the last 30 days (latest first) and upcoming ones (soonest first),
    at most ``APPOINTMENTS_SHOWN`` of each."""
    status = appointments.status_expression(now)
    recent = (status == appointments.ATTENDED) & (Appointment.starts_at >= now - appointments.RECENT)
    upcoming = status == appointments.BOOKED
    rows = db.session.execute(
        select(
            Appointment.id,
            Appointment.patient_id,
            Appointment.starts_at,
            status.label("status"),
            AppointmentType.name.label("type_name"),
            Practitioner.title,
            Practitioner.first_name,
            Practitioner.last_name,
        )
        .outerjoin(AppointmentType, AppointmentType.id == Appointment.appointment_type_id)
        .outerjoin(Practitioner, Practitioner.id == Appointment.practitioner_id)
        .where(*appointments.counted(organization_id), Appointment.patient_id.in_(ids), recent | upcoming)
        .order_by(Appointment.patient_id, Appointment.starts_at, Appointment.id)
    )
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        key = "upcoming_appointments" if row.status == appointments.BOOKED else "recent_appointments"
        grouped.setdefault((row.patient_id, key), []).append(
            {
                "id": row.id,
                "starts_at": row.starts_at,
                "type": row.type_name,
                "practitioner": practitioner_name(row.title, row.first_name, row.last_name),
                "status": row.status,
            }
        )
    found = []
    for (patient_id, key), briefs in grouped.items():
        if key == "recent_appointments":
            briefs = briefs[::-1]  # latest first
        found.append((patient_id, key, briefs[:APPOINTMENTS_SHOWN]))
    return found


def _patient_fields(found: Any, details: dict[str, dict[str, Any]], names: References, now: datetime) -> dict[str, Any]:
    row = active.row_of(found, now, names)
    extra = details.get(row.patient_id, {})
    next_at = row.next_appointment_at
    return {
        "id": row.patient_id,
        "name": row.display_name,
        "phone": extra.get("phone"),
        "email": extra.get("email"),
        "cliniko_patient_id": extra.get("cliniko_patient_id"),
        "is_active": row.is_active,
        "activity_status": row.activity_status,
        "recent_appointment_count": row.recent,
        "upcoming_appointment_count": row.upcoming,
        "total_appointment_count": row.total,
        "first_appointment_date": found.first_appointment_at,
        "last_appointment_date": row.last_attended_at,
        "next_appointment_time": next_at,
        "next_appointment_type": row.next_type,
        "primary_appointment_type": row.primary_type,
        "treatment_notes": None,
        "recent_appointments": extra.get("recent_appointments", []),
        "upcoming_appointments": extra.get("upcoming_appointments", []),
        "last_synced_at": extra.get("last_synced_at"),
        "created_at": extra.get("created_at"),
        "updated_at": extra.get("updated_at"),
        "priority": row.priority,
        "hours_until_next_appointment": timing.hours_until(next_at, now),
        "days_until_next_appointment": timing.days_until(next_at, now),
    }


# --- figures ----------------------------------------------------------------------------------


def active_summary(organization_id: str, *, now: datetime) -> dict[str, Any]:
    """Counts and averages over the active patients (averages two decimals, ``figures.rules``)."""
    row = queries.active_totals(organization_id)
    count = int(row.active or 0)
    return {
        "total_active_patients": count,
        "patients_with_recent_appointments": int(row.with_recent or 0),
        "patients_with_upcoming_appointments": int(row.with_upcoming or 0),
        "avg_recent_appointments": rules.average(int(row.recent or 0), count),
        "avg_total_appointments": rules.average(int(row.total or 0), count),
        "last_sync_date": db.session.scalar(
            select(ClinikoConnection.last_successful_sync_at).where(
                ClinikoConnection.organization_id == organization_id
            )
        ),
    }


def appointment_types_summary(organization_id: str, *, now: datetime) -> list[dict[str, Any]]:
    """Active patients grouped by (next appointment type, primary type), largest group first."""
    next_name, primary_name = NextType.name, PrimaryType.name
    rows = db.session.execute(
        select(
            next_name.label("next_type"),
            primary_name.label("primary_type"),
            func.count().label("patients"),
            func.sum(case((Stats.upcoming > 0, 1), else_=0)).label("with_upcoming"),
            func.min(Stats.next_appointment_at).label("earliest"),
            func.max(Stats.next_appointment_at).label("latest"),
        )
        .outerjoin(NextType, NextType.id == Stats.next_appointment_type_id)
        .outerjoin(PrimaryType, PrimaryType.id == Stats.primary_appointment_type_id)
        .where(Stats.organization_id == organization_id, queries.ACTIVE)
        .group_by(next_name, primary_name)
        .order_by(func.count().desc(), next_name, primary_name)
    )
    return [
        {
            "next_appointment_type": row.next_type,
            "primary_appointment_type": row.primary_type,
            "patient_count": int(row.patients),
            "patients_with_upcoming": int(row.with_upcoming or 0),
            "earliest_upcoming": row.earliest,
            "latest_upcoming": row.latest,
        }
        for row in rows
    ]
