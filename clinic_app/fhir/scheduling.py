"""FHIR Practitioner and Appointment: read, and search. Appointment takes ``patient``,
``practitioner``, ``date`` (with ``ge``/``gt``/``le``/``lt``/``eq`` prefixes, repeatable) and
``status`` (``booked``, ``fulfilled``, ``cancelled``, ``noshow``; comma-separated). Both need
``appointments:read``; appointments of a patient are audited as that patient's data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, request
from sqlalchemy import and_, or_, select

from clinic_app.appointments import service as appointments
from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.core.access import requires
from clinic_app.core.errors import FieldError, Invalid, NotFound
from clinic_app.core.tenancy import current_organization_id
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.fhir import bp, common

# Our status (docs/rules.md) and FHIR's Appointment.status.
STATUS = {"booked": "booked", "attended": "fulfilled", "cancelled": "cancelled", "did_not_arrive": "noshow"}
FROM_FHIR = {fhir: ours for ours, fhir in STATUS.items()}


def practitioner_resource(practitioner: Practitioner) -> dict[str, Any]:
    name: dict[str, Any] = {"use": "official", "family": practitioner.last_name or None}
    if practitioner.first_name:
        name["given"] = [practitioner.first_name]
    if practitioner.title:
        name["prefix"] = [practitioner.title]
    return {
        "resourceType": "Practitioner",
        "id": common.fhir_id(practitioner.id),
        "meta": {"lastUpdated": common.instant(practitioner.updated_at)},
        "active": practitioner.active and practitioner.archived_at is None,
        "name": [{k: v for k, v in name.items() if v}],
        "qualification": [{"code": {"text": practitioner.designation}}] if practitioner.designation else None,
    }


def _get(model: type, prefix: str, resource_type: str, organization_id: str, resource_id: str) -> Any:
    internal = common.internal_id(resource_id)
    found = db.session.get(model, internal) if internal and internal.startswith(prefix) else None
    if found is None or found.organization_id != organization_id or getattr(found, "deleted_at", None) is not None:
        raise NotFound(f"{resource_type}/{resource_id[:64]} not found.")
    return found


@bp.get("/Practitioner/<resource_id>")
@requires("appointments:read")
def read_practitioner(resource_id: str) -> Response:
    found = _get(Practitioner, "prc_", "Practitioner", current_organization_id(), resource_id)
    return common.answer(practitioner_resource(found))


@bp.get("/Practitioner")
@requires("appointments:read")
def search_practitioners() -> Response:
    organization_id = current_organization_id()
    given = common.params(("name", "_id"))
    limit = common.count()
    filters: list[Any] = [Practitioner.organization_id == organization_id]
    if "name" in given:
        words = given["name"].strip().lower()
        filters.append(
            or_(
                Practitioner.first_name.ilike(f"{words}%", escape="\\"),
                Practitioner.last_name.ilike(f"{words}%", escape="\\"),
            )
        )
    if "_id" in given:
        filters.append(Practitioner.id == (common.internal_id(given["_id"]) or ""))
    position = common.cursor_text()
    if position is not None:
        filters.append(Practitioner.id > position)
    rows = list(db.session.scalars(select(Practitioner).where(*filters).order_by(Practitioner.id).limit(limit + 1)))
    more, rows = len(rows) > limit, rows[:limit]
    return common.searchset("Practitioner", [practitioner_resource(p) for p in rows], rows[-1].id if more else None)


def appointment_resource(appointment: Appointment, type_name: str | None, now: datetime) -> dict[str, Any]:
    status = appointments.appointment_status(
        starts_at=appointment.starts_at,
        cancelled_at=appointment.cancelled_at,
        did_not_arrive=appointment.did_not_arrive,
        patient_arrived=appointment.patient_arrived,
        now=now,
    )
    participants = []
    if appointment.patient_id:
        participants.append({"actor": common.reference("Patient", appointment.patient_id), "status": "accepted"})
    if appointment.practitioner_id:
        participants.append(
            {"actor": common.reference("Practitioner", appointment.practitioner_id), "status": "accepted"}
        )
    if not participants:  # FHIR wants at least one participant
        participants.append({"type": [{"text": "patient"}], "status": "needs-action"})
    minutes = None
    if appointment.ends_at is not None and appointment.ends_at > appointment.starts_at:
        minutes = int((appointment.ends_at - appointment.starts_at).total_seconds() // 60) or None
    return {
        "resourceType": "Appointment",
        "id": common.fhir_id(appointment.id),
        "meta": {"lastUpdated": common.instant(appointment.updated_at)},
        "status": STATUS.get(status, "booked"),
        "serviceType": [{"text": type_name}] if type_name else None,
        "start": common.instant(appointment.starts_at),
        "end": common.instant(appointment.ends_at),
        "minutesDuration": minutes,
        "created": appointment.created_at.date().isoformat() if appointment.created_at else None,
        "participant": participants,
    }


def _type_names(rows: list[Appointment]) -> dict[str, str]:
    ids = {row.appointment_type_id for row in rows if row.appointment_type_id}
    if not ids:
        return {}
    found = db.session.execute(select(AppointmentType.id, AppointmentType.name).where(AppointmentType.id.in_(ids)))
    return dict(found.tuples().all())


def patient_param(value: str, name: str = "patient") -> str:
    """The app's patient id named by ``Patient/pat-...`` or ``pat-...``."""
    internal = common.internal_id(value.removeprefix("Patient/"))
    if internal is None or not internal.startswith("pat_"):
        raise Invalid(errors=[FieldError(name, "Name a patient as Patient/<id>.", "INVALID_SEARCH")])
    return internal


@bp.get("/Appointment/<resource_id>")
@requires("appointments:read")
def read_appointment(resource_id: str) -> Response:
    organization_id = current_organization_id()
    found = _get(Appointment, "apt_", "Appointment", organization_id, resource_id)
    if found.patient_id:
        common.audit_read(organization_id, "Appointment", found.id, found.patient_id, "read")
    return common.answer(appointment_resource(found, _type_names([found]).get(found.appointment_type_id), utcnow()))


@bp.get("/Appointment")
@requires("appointments:read")
def search_appointments() -> Response:
    organization_id = current_organization_id()
    given = common.params(("patient", "practitioner", "date", "status", "_id"))
    limit, now = common.count(), utcnow()
    filters: list[Any] = [Appointment.organization_id == organization_id, Appointment.deleted_at.is_(None)]
    if "patient" in given:
        filters.append(Appointment.patient_id == patient_param(given["patient"]))
    if "practitioner" in given:
        filters.append(Appointment.practitioner_id == (common.internal_id(given["practitioner"].split("/")[-1]) or ""))
    if "_id" in given:
        filters.append(Appointment.id == (common.internal_id(given["_id"]) or ""))
    span = common.date_range("date", request.args.getlist("date"))
    if span.start is not None:
        filters.append(Appointment.starts_at >= span.start)
    if span.end is not None:
        filters.append(Appointment.starts_at < span.end)
    if "status" in given:
        wanted = [FROM_FHIR.get(code.strip()) for code in given["status"].split(",")]
        if None in wanted:
            raise Invalid(
                errors=[FieldError("status", "Use booked, fulfilled, cancelled or noshow.", "INVALID_SEARCH")]
            )
        filters.append(appointments.status_expression(now).in_(wanted))
    position = common.cursor_text()
    if position is not None:
        try:
            moment_text, last_id = position.split("|", 1)
            moment = datetime.fromisoformat(moment_text)
        except ValueError:
            raise Invalid(errors=[FieldError("_cursor", "This cursor is not valid.", "INVALID_SEARCH")]) from None
        filters.append(
            or_(Appointment.starts_at > moment, and_(Appointment.starts_at == moment, Appointment.id > last_id))
        )
    rows = list(
        db.session.scalars(
            select(Appointment).where(*filters).order_by(Appointment.starts_at, Appointment.id).limit(limit + 1)
        )
    )
    more, rows = len(rows) > limit, rows[:limit]
    names = _type_names(rows)
    entries = []
    for row in rows:
        if row.patient_id:
            common.audit_read(organization_id, "Appointment", row.id, row.patient_id, "search")
        entries.append(appointment_resource(row, names.get(row.appointment_type_id or ""), now))
    next_position = f"{rows[-1].starts_at.isoformat()}|{rows[-1].id}" if more else None
    return common.searchset("Appointment", entries, next_position)
