"""Seed 003's ``/api/v1/admin/...`` endpoints: force a sync, the active patients and contacts with
their appointment figures, the summary and the sync dashboard.

"Active", "recent" and "upcoming" are the one rule of docs/rules.md, read from the statistics the
sync computes (``PatientAppointmentStats``, as of ``statistics_computed_at``) and from the
appointments service's status expression; nothing here has its own idea of them. Lists that show
a patient's phone or e-mail decrypt only the page shown, need ``patients:read``, and record which
patients were shown in the audit trail, as the patient list does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, literal, select, tuple_

from clinic_app.appointments import service as appointments
from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.core import audit, crypto
from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.crypto import Unreadable
from clinic_app.core.pagination import bad_cursor, decode_cursor, encode_cursor
from clinic_app.core.tenancy import current_actor
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.figures import queries
from clinic_app.figures.models import PatientAppointmentStats
from clinic_app.patients.models import Patient
from clinic_app.patients.storage import PatientRow, row_of
from clinic_app.sync import bp, service
from clinic_app.sync.api import started_fields
from clinic_app.sync.models import ClinikoLink
from clinic_app.sync.schemas import (
    ActivePatientMetrics,
    ActivePatientOut,
    ActivePatientsOut,
    ActiveSummaryOut,
    AppointmentBrief,
    ContactMetrics,
    ContactOut,
    ContactsOut,
    ForceSyncOut,
    HealthIndicators,
    ModeQuery,
    PageQuery,
    ServiceStatus,
    SyncDashboardOut,
)

TAGS = ("admin",)
RECENT_APPOINTMENTS_SHOWN = 10
RECENT_SYNC = timedelta(hours=25)  # the nightly sync plus an hour's grace
HIGH_LINK_RATE = 90.0


@api_route(
    bp,
    "/api/v1/admin/sync/schedule/<organization_id>",
    methods=("POST",),
    query=ModeQuery,
    response=ForceSyncOut,
    summary="Force a sync now",
    description="Starts a sync at once (comprehensive unless `mode` says otherwise) with duplicate prevention: "
    "while one runs, answers with that one and `sync_scheduled: false`.",
    tags=TAGS,
    extra_statuses={503: "The job queue is unavailable", 409: "Cliniko is not connected"},
)
@requires("sync:run")
def force_sync(organization_id: str, query: ModeQuery) -> ForceSyncOut:
    run, started = service.start_sync(organization_id, query.mode, actor=current_actor(), trigger="api")
    message = "Sync started successfully" if started else f"A sync is already running ({run.id}); none was added"
    return ForceSyncOut(sync_scheduled=started, message=message, sync_mode=run.mode, **started_fields(run, started))


# --- pages of patients with their figures -----------------------------------------------------


def _anchor(organization_id: str, cursor: str) -> Patient:
    problem = bad_cursor()
    try:
        patient_id = decode_cursor(cursor)
    except ValueError:
        raise problem from None
    patient = db.session.get(Patient, patient_id) if patient_id.startswith("pat_") else None
    if patient is None or patient.organization_id != organization_id:
        raise problem
    return patient


def _activity_page(
    organization_id: str, *, active_only: bool, query: PageQuery
) -> tuple[list[tuple[Patient, PatientAppointmentStats]], str | None, int]:
    """One page (by name) of the active patients, or of every patient with an appointment."""
    stats = PatientAppointmentStats
    scope = [queries.ACTIVE if active_only else stats.total > 0]
    keys = (Patient.last_name_key, Patient.first_name_key, Patient.id)
    rows: Select[Any] = queries.with_patients(organization_id, Patient, stats).where(*scope)
    if query.cursor:
        anchor = _anchor(organization_id, query.cursor)
        values = [literal(getattr(anchor, key.key), key.type) for key in keys]
        rows = rows.where(tuple_(*keys) > tuple_(*values))
    found = [(row[0], row[1]) for row in db.session.execute(rows.order_by(*keys).limit(query.limit + 1))]
    total = queries.count(organization_id, scope, with_patient=True)
    more = len(found) > query.limit
    found = found[: query.limit]
    return found, (encode_cursor(found[-1][0].id) if more else None), total


def _recent_appointments(organization_id: str, patient_ids: list[str], now: datetime) -> dict[str, list[Any]]:
    """Each patient's attended appointments of the last 30 days, latest first (one query a page)."""
    if not patient_ids:
        return {}
    status = appointments.status_expression(now)
    rows = db.session.execute(
        select(
            Appointment.id,
            Appointment.patient_id,
            Appointment.starts_at,
            Appointment.ends_at,
            status.label("status"),
            AppointmentType.name.label("type_name"),
            Practitioner,
        )
        .outerjoin(AppointmentType, AppointmentType.id == Appointment.appointment_type_id)
        .outerjoin(Practitioner, Practitioner.id == Appointment.practitioner_id)
        .where(
            *appointments.counted(organization_id),
            Appointment.patient_id.in_(patient_ids),
            status == appointments.ATTENDED,
            Appointment.starts_at >= now - timedelta(days=appointments.RECENT_DAYS),
        )
        .order_by(Appointment.patient_id, Appointment.starts_at.desc(), Appointment.id)
    )
    recent: dict[str, list[Any]] = {}
    for row in rows:
        shown = recent.setdefault(row.patient_id, [])
        if len(shown) < RECENT_APPOINTMENTS_SHOWN:
            shown.append(
                AppointmentBrief(
                    id=row.id,
                    starts_at=row.starts_at,
                    ends_at=row.ends_at,
                    status=row.status,
                    appointment_type=row.type_name,
                    practitioner=row.Practitioner.display_name if row.Practitioner is not None else None,
                )
            )
    return recent


def _cliniko_ids(organization_id: str, patient_ids: list[str]) -> dict[str, str]:
    if not patient_ids:
        return {}
    rows = db.session.execute(
        select(ClinikoLink.local_id, ClinikoLink.cliniko_id).where(
            ClinikoLink.organization_id == organization_id,
            ClinikoLink.resource == "patients",
            ClinikoLink.local_id.in_(patient_ids),
        )
    )
    return {row.local_id: row.cliniko_id for row in rows}


def _readable(value: Any) -> Any:
    return None if isinstance(value, Unreadable) else value


def _phone(row: PatientRow) -> str | None:
    phone = _readable(row.primary_phone)
    return phone.number if phone is not None else None


def _figures(stats: PatientAppointmentStats, recent: list[Any], cliniko_id: str | None) -> dict[str, Any]:
    return {
        "recent_appointment_count": stats.recent_attended,
        "upcoming_appointment_count": stats.upcoming,
        "total_appointment_count": stats.total,
        "last_appointment_date": stats.last_attended_at,
        "next_appointment_date": stats.next_appointment_at,
        "recent_appointments": recent,
        "cliniko_patient_id": cliniko_id,
    }


def _shown_page(
    organization_id: str, *, active_only: bool, query: PageQuery, listing: str
) -> tuple[list[tuple[Patient, PatientAppointmentStats, PatientRow, dict[str, Any]]], dict[str, Any]]:
    """The page's patients decrypted (list fields only) with their figures, and the paging facts.
    Records ``patient.listed`` naming the patients shown."""
    found, next_cursor, total = _activity_page(organization_id, active_only=active_only, query=query)
    ids = [patient.id for patient, _ in found]
    now, vault = utcnow(), crypto.vault_for(organization_id)
    recent, cliniko = _recent_appointments(organization_id, ids, now), _cliniko_ids(organization_id, ids)
    shown = [
        (patient, stats, row_of(patient, vault), _figures(stats, recent.get(patient.id, []), cliniko.get(patient.id)))
        for patient, stats in found
    ]
    audit.record(
        "patient.listed",
        organization_id=organization_id,
        actor=current_actor(),
        target_type="patient",
        details={"list": listing, "channel": "api", "results": len(ids), "patient_ids": ids},
    )
    computed = max((stats.computed_at for _, stats in found), default=None)
    paging = {
        "organization_id": organization_id,
        "total_count": total,
        "limit": query.limit,
        "next_cursor": next_cursor,
        "has_more": next_cursor is not None,
        "statistics_computed_at": computed,
        "timestamp": now,
    }
    return shown, paging


@api_route(
    bp,
    "/api/v1/admin/active-patients/<organization_id>",
    paginated="cursor",
    query=PageQuery,
    response=ActivePatientsOut,
    summary="Active patients with their contact details",
    description="Active = attended in the last 30 days or booked in the future (docs/rules.md), by name, a page "
    "at a time: follow `next_cursor` while `has_more`. Reading it is recorded in the audit trail.",
    tags=TAGS,
)
@requires("patients:read")
def active_patients(organization_id: str, query: PageQuery) -> ActivePatientsOut:
    shown, paging = _shown_page(organization_id, active_only=True, query=query, listing="active_patients")
    items = [
        ActivePatientOut(
            id=patient.id,
            contact_id=patient.id,
            contact_name=row.display_name,
            contact_phone=_phone(row),
            created_at=patient.created_at,
            updated_at=patient.updated_at,
            **figures,
        )
        for patient, _stats, row, figures in shown
    ]
    return ActivePatientsOut(active_patients=items, **paging)


@api_route(
    bp,
    "/api/v1/admin/contacts/<organization_id>/with-appointments",
    paginated="cursor",
    query=PageQuery,
    response=ContactsOut,
    summary="Contacts that have appointments",
    description="Every patient with at least one appointment (cancelled ones count), by name, a page at a "
    "time. Reading it is recorded in the audit trail.",
    tags=TAGS,
)
@requires("patients:read")
def contacts_with_appointments(organization_id: str, query: PageQuery) -> ContactsOut:
    shown, paging = _shown_page(organization_id, active_only=False, query=query, listing="contacts_with_appointments")
    items = [
        ContactOut(
            contact_id=patient.id, name=row.display_name, phone=_phone(row), email=_readable(row.email), **figures
        )
        for patient, _stats, row, figures in shown
    ]
    return ContactsOut(contacts_with_appointments=items, **paging)


# --- figures without patient details ----------------------------------------------------------


def _average(value: Any) -> float:
    return round(float(value or 0), 1)


@api_route(
    bp,
    "/api/v1/admin/active-patients/<organization_id>/summary",
    response=ActiveSummaryOut,
    summary="Active patients in figures",
    description="Counts and averages over the active patients (docs/rules.md); no patient details.",
    tags=TAGS,
)
@requires("dashboard:read")
def active_patients_summary(organization_id: str) -> ActiveSummaryOut:
    figures = queries.active_totals(organization_id)
    return ActiveSummaryOut(
        organization_id=organization_id,
        total_active_patients=int(figures.active or 0),
        patients_with_recent_appointments=int(figures.with_recent or 0),
        patients_with_upcoming_appointments=int(figures.with_upcoming or 0),
        last_sync_date=service.connection_status(organization_id).get("last_sync"),
        avg_recent_appointments=_average(figures.avg_recent),
        avg_total_appointments=_average(figures.avg_total),
        timestamp=utcnow(),
    )


@api_route(
    bp,
    "/api/v1/admin/sync/dashboard/<organization_id>",
    response=SyncDashboardOut,
    summary="Sync dashboard",
    description="How many patients are linked to Cliniko, the active patients in figures, the connection and "
    "simple health indicators.",
    tags=TAGS,
)
@requires("sync:read")
def sync_dashboard(organization_id: str) -> SyncDashboardOut:
    status = service.connection_status(organization_id)
    live = (Patient.organization_id == organization_id, Patient.archived.is_(False))
    linked_ids = select(ClinikoLink.local_id).where(
        ClinikoLink.organization_id == organization_id, ClinikoLink.resource == "patients"
    )
    total = int(db.session.scalar(select(func.count()).select_from(Patient).where(*live)) or 0)
    linked = int(
        db.session.scalar(select(func.count()).select_from(Patient).where(*live, Patient.id.in_(linked_ids))) or 0
    )
    percentage = round(100.0 * linked / total, 1) if total else 0.0
    figures = queries.active_totals(organization_id)
    stats = PatientAppointmentStats
    most_recent = db.session.scalar(
        select(func.max(stats.last_attended_at)).where(stats.organization_id == organization_id)
    )
    last_sync = status.get("last_sync")
    connected = status["cliniko_connected"]
    return SyncDashboardOut(
        organization_id=organization_id,
        contact_metrics=ContactMetrics(
            total_contacts=total, cliniko_linked=linked, unlinked=total - linked, link_percentage=percentage
        ),
        active_patient_metrics=ActivePatientMetrics(
            total_active=int(figures.active or 0),
            avg_recent_appointments=_average(figures.avg_recent),
            most_recent_appointment=most_recent,
            last_sync=last_sync,
        ),
        service_status=ServiceStatus(
            cliniko_configured=connected,
            sync_enabled=bool(status.get("sync_enabled", False)),
            is_active=connected and status.get("credentials_valid") is not False,
            sync_running=status["running_sync_id"] is not None,
        ),
        health_indicators=HealthIndicators(
            has_contacts=total > 0,
            has_active_patients=int(figures.active or 0) > 0,
            recent_sync=last_sync is not None and utcnow() - last_sync <= RECENT_SYNC,
            high_link_rate=percentage >= HIGH_LINK_RATE,
        ),
        timestamp=utcnow(),
    )
