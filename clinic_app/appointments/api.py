"""The appointments JSON API: upcoming appointments (per organization in the path, and seed 002's
``/api/v1/appointments/upcoming`` for the token's organization), their summary, booking and
changing one appointment, and the practitioners and appointment types to book with.

The access layer checks ``organization_id`` in the path against the caller's memberships (404
otherwise); another organization's appointment, patient, practitioner or type is a 404 too. A
double booking is a 409 naming the clash; Cliniko's appointments are read-only (409) while the
organization is connected. Shapes and rules: docs/appointments.md.
"""

from __future__ import annotations

from datetime import datetime

from clinic_app.appointments import booking, bp, schedule, timing
from clinic_app.appointments import practitioners as setup
from clinic_app.appointments.models import AppointmentType, Practitioner
from clinic_app.appointments.schemas import (
    AppointmentCreate,
    AppointmentOut,
    AppointmentTypeListOut,
    AppointmentTypeOut,
    AppointmentTypeRef,
    AppointmentUpdate,
    CancelBody,
    DayCount,
    ListQuery,
    PatientRef,
    PractitionerCount,
    PractitionerListOut,
    PractitionerOut,
    PractitionerRef,
    SummaryQuery,
    TypeCount,
    UpcomingAppointment,
    UpcomingOut,
    UpcomingQuery,
    UpcomingSummaryOut,
)
from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.crypto import Unreadable
from clinic_app.core.pagination import bad_cursor, decode_cursor, encode_cursor
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import utcnow
from clinic_app.orgs import service as orgs

TAGS = ("appointments",)
CHANGES = {409: "Double booking, or the appointment cannot change (cancelled, started, or Cliniko's)"}


# --- shapes ------------------------------------------------------------------------------------------


def _source(cliniko_id: str | None) -> str:
    return "cliniko" if cliniko_id else "app"


def _text(value: object) -> str | None:
    return None if isinstance(value, Unreadable) or value is None else str(value)


def appointment_out(view: booking.AppointmentView) -> AppointmentOut:
    a = view.appointment
    patient = view.patient
    return AppointmentOut(
        id=a.id,
        organization_id=a.organization_id,
        patient=PatientRef(
            id=patient.id,
            first_name=patient.first_name,
            last_name=patient.last_name,
            name=f"{patient.first_name} {patient.last_name}".strip(),
        )
        if patient
        else None,
        practitioner=PractitionerRef(id=view.practitioner.id, name=view.practitioner.display_name)
        if view.practitioner
        else None,
        appointment_type=AppointmentTypeRef(
            id=view.appointment_type.id,
            name=view.appointment_type.name,
            duration_minutes=view.appointment_type.duration_minutes,
        )
        if view.appointment_type
        else None,
        starts_at=a.starts_at,
        ends_at=a.ends_at,
        status=view.status,
        patient_arrived=a.patient_arrived,
        did_not_arrive=a.did_not_arrive,
        cancelled_at=a.cancelled_at,
        cancellation_reason=_text(view.cancellation_reason),
        notes=_text(view.notes),
        source=_source(a.cliniko_id),
        read_only=view.read_only,
        unreadable_fields=[
            name
            for name, value in (("notes", view.notes), ("cancellation_reason", view.cancellation_reason))
            if isinstance(value, Unreadable)
        ],
        created_at=a.created_at,
        updated_at=a.updated_at,
    )


def _upcoming_item(entry: schedule.Entry, now: datetime) -> UpcomingAppointment:
    return UpcomingAppointment(
        id=entry.id,
        patient_id=entry.patient_id,
        patient_name=entry.patient_name,
        practitioner_id=entry.practitioner_id,
        practitioner_name=entry.practitioner_name,
        appointment_type_id=entry.appointment_type_id,
        appointment_type=entry.appointment_type,
        starts_at=entry.starts_at,
        ends_at=entry.ends_at,
        status=entry.status,
        priority=timing.priority(entry.starts_at, now) or timing.LOW,
        hours_until=timing.hours_until(entry.starts_at, now) or 0.0,
        days_until=timing.days_until(entry.starts_at, now) or 0.0,
    )


# --- upcoming ------------------------------------------------------------------------------------------


def _after(cursor: str) -> tuple[datetime, str]:
    try:
        moment, appointment_id = decode_cursor(cursor).split("|", 1)
        return datetime.fromisoformat(moment), appointment_id
    except ValueError:
        raise bad_cursor() from None


def _upcoming(organization_id: str, query: UpcomingQuery) -> UpcomingOut:
    now = utcnow()
    after = _after(query.cursor) if query.cursor else None
    found, total = schedule.upcoming(
        organization_id, now=now, days_ahead=query.days_ahead, limit=query.limit + 1, after=after
    )
    entries = found[: query.limit]
    more = len(found) > query.limit
    return UpcomingOut(
        organization_id=organization_id,
        days_ahead=query.days_ahead,
        appointments=[_upcoming_item(entry, now) for entry in entries],
        total_count=total,
        has_more=more,
        timestamp=now,
        next_cursor=encode_cursor(f"{entries[-1].starts_at.isoformat()}|{entries[-1].id}") if more else None,
    )


UPCOMING_DESCRIPTION = (
    "Appointments that are booked (not cancelled, not started) and start within `days_ahead` days, soonest "
    "first, each with its priority (high within 24 h, medium within 72 h, else low) and the hours and days until "
    "it starts. `total_count` counts the whole window; the list gives `limit` at a time: follow `next_cursor` "
    "until it is null."
)


@api_route(
    bp,
    "/api/v1/appointments/<organization_id>/upcoming",
    paginated="cursor",
    query=UpcomingQuery,
    response=UpcomingOut,
    summary="Upcoming appointments of an organization",
    description=UPCOMING_DESCRIPTION,
    tags=TAGS,
)
@requires("appointments:read")
def api_upcoming(organization_id: str, query: UpcomingQuery) -> UpcomingOut:
    return _upcoming(organization_id, query)


@api_route(
    bp,
    "/api/v1/appointments/upcoming",
    paginated="cursor",
    query=UpcomingQuery,
    response=UpcomingOut,
    summary="Upcoming appointments (the token's organization)",
    description=UPCOMING_DESCRIPTION + " The organization is the token's (or `X-Organization-ID`).",
    tags=TAGS,
)
@requires("appointments:read")
def api_upcoming_current(query: UpcomingQuery) -> UpcomingOut:
    return _upcoming(current_organization_id(), query)


@api_route(
    bp,
    "/api/v1/appointments/<organization_id>/upcoming/summary",
    unpaged="counts over the window: one row per day (at most 91), appointment type and practitioner",
    query=SummaryQuery,
    response=UpcomingSummaryOut,
    summary="Counts of upcoming appointments per day, type and practitioner",
    description="Over the same window as the list: every calendar day of the organization (its time zone) "
    "from today, zeros included; types and practitioners most booked first; the next start and its priority.",
    tags=TAGS,
)
@requires("appointments:read")
def api_upcoming_summary(organization_id: str, query: SummaryQuery) -> UpcomingSummaryOut:
    now = utcnow()
    figures = schedule.upcoming_summary(organization_id, now=now, days_ahead=query.days_ahead)
    next_at = figures["next_starts_at"]
    return UpcomingSummaryOut(
        organization_id=organization_id,
        days_ahead=query.days_ahead,
        time_zone=orgs.get_organization(organization_id).time_zone,
        total_upcoming=figures["total"],
        next_appointment_time=next_at,
        hours_until_next_appointment=timing.hours_until(next_at, now),
        next_appointment_priority=timing.priority(next_at, now),
        by_day=[DayCount(date=day.isoformat(), count=count) for day, count in figures["days"]],
        by_type=[TypeCount(appointment_type_id=i, appointment_type=n, count=c) for i, n, c in figures["types"]],
        by_practitioner=[
            PractitionerCount(practitioner_id=i, practitioner_name=n, count=c) for i, n, c in figures["practitioners"]
        ],
        timestamp=now,
    )


# --- one appointment -------------------------------------------------------------------------------


@api_route(
    bp,
    "/api/v1/appointments",
    methods=("POST",),
    body=AppointmentCreate,
    response=AppointmentOut,
    status=201,
    summary="Book an appointment",
    description="For clinics without Cliniko. The patient, practitioner and type must be your organization's "
    "(404 otherwise) and not archived (422). A practitioner is never double-booked: an overlap with another of "
    "their appointments that is not cancelled is a 409 naming it (`conflicting_appointment_id`).",
    tags=TAGS,
    extra_statuses=CHANGES,
)
@requires("appointments:write")
def api_book(body: AppointmentCreate) -> AppointmentOut:
    organization_id, actor = current_organization_id(), current_actor()
    appointment = booking.book(
        organization_id,
        patient_id=body.patient_id,
        practitioner_id=body.practitioner_id,
        appointment_type_id=body.appointment_type_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        notes=body.notes,
        actor=actor,
    )
    # The answer echoes what the caller just sent: not a read of anything new.
    return appointment_out(
        booking.view_appointment(organization_id, appointment.id, actor=actor, channel="api", record_view=False)
    )


@api_route(
    bp,
    "/api/v1/appointments/<appointment_id>",
    response=AppointmentOut,
    summary="One appointment",
    description="With its notes and cancellation reason decrypted; the read is recorded in the audit trail.",
    tags=TAGS,
)
@requires("appointments:read")
def api_get(appointment_id: str) -> AppointmentOut:
    view = booking.view_appointment(current_organization_id(), appointment_id, actor=current_actor(), channel="api")
    return appointment_out(view)


@api_route(
    bp,
    "/api/v1/appointments/<appointment_id>",
    methods=("PATCH",),
    body=AppointmentUpdate,
    response=AppointmentOut,
    summary="Reschedule an appointment, change its notes or mark attendance",
    description="Fields left out stay as they are. Time, practitioner or type fields reschedule it (only before "
    "it starts; a clash is a 409). `attendance` is `arrived` or `did_not_arrive` (the latter only once it has "
    "started). Everything in one request succeeds or nothing changes.",
    tags=TAGS,
    extra_statuses=CHANGES,
)
@requires("appointments:write")
def api_update(appointment_id: str, body: AppointmentUpdate) -> AppointmentOut:
    organization_id, actor = current_organization_id(), current_actor()
    booking.get_appointment(organization_id, appointment_id)  # 404 before anything else is said about it
    sent = body.model_fields_set
    if sent & {"starts_at", "ends_at", "practitioner_id", "appointment_type_id"}:
        current = booking.get_appointment(organization_id, appointment_id)
        booking.reschedule(
            organization_id,
            appointment_id,
            starts_at=body.starts_at or current.starts_at,
            ends_at=body.ends_at,
            practitioner_id=body.practitioner_id,
            appointment_type_id=body.appointment_type_id,
            actor=actor,
        )
    if "notes" in sent:
        booking.change_notes(organization_id, appointment_id, notes=body.notes, actor=actor)
    if body.attendance == "arrived":
        booking.mark_arrived(organization_id, appointment_id, actor=actor)
    elif body.attendance == "did_not_arrive":
        booking.mark_did_not_arrive(organization_id, appointment_id, actor=actor)
    return appointment_out(
        booking.view_appointment(organization_id, appointment_id, actor=actor, channel="api", record_view=False)
    )


@api_route(
    bp,
    "/api/v1/appointments/<appointment_id>/cancel",
    methods=("POST",),
    body=CancelBody,
    response=AppointmentOut,
    summary="Cancel an appointment",
    description="Only before it starts (after that, mark it did not arrive). The reason is stored encrypted; "
    "the audit trail records the cancellation, never the reason.",
    tags=TAGS,
    extra_statuses=CHANGES,
)
@requires("appointments:write")
def api_cancel(appointment_id: str, body: CancelBody) -> AppointmentOut:
    organization_id, actor = current_organization_id(), current_actor()
    booking.cancel(organization_id, appointment_id, reason=body.reason or "", actor=actor)
    return appointment_out(
        booking.view_appointment(organization_id, appointment_id, actor=actor, channel="api", record_view=False)
    )


# --- practitioners and types ---------------------------------------------------------------------------


def _practitioner_out(person: Practitioner) -> PractitionerOut:
    return PractitionerOut(
        id=person.id,
        name=person.display_name,
        title=person.title,
        first_name=person.first_name,
        last_name=person.last_name,
        designation=person.designation,
        user_id=person.user_id,
        archived=person.archived_at is not None or not person.active,
        source=_source(person.cliniko_id),
    )


def _type_out(kind: AppointmentType) -> AppointmentTypeOut:
    return AppointmentTypeOut(
        id=kind.id,
        name=kind.name,
        duration_minutes=kind.duration_minutes,
        category=kind.category,
        color=kind.color,
        archived=kind.archived_at is not None,
        source=_source(kind.cliniko_id),
    )


@api_route(
    bp,
    "/api/v1/practitioners",
    unpaged="the clinic's practitioners: its own staff list, returned whole for pickers",
    query=ListQuery,
    response=PractitionerListOut,
    summary="The organization's practitioners",
    description="By name; archived ones only with `include_archived=true`.",
    tags=TAGS,
)
@requires("appointments:read")
def api_practitioners(query: ListQuery) -> PractitionerListOut:
    organization_id = current_organization_id()
    people = setup.list_practitioners(organization_id, include_archived=query.include_archived)
    return PractitionerListOut(
        organization_id=organization_id,
        practitioners=[_practitioner_out(person) for person in people],
        total_count=len(people),
        timestamp=utcnow(),
    )


@api_route(
    bp,
    "/api/v1/appointment-types",
    unpaged="the clinic's appointment types: a short catalogue, returned whole for pickers",
    query=ListQuery,
    response=AppointmentTypeListOut,
    summary="The organization's appointment types",
    description="By name; archived ones only with `include_archived=true`.",
    tags=TAGS,
)
@requires("appointments:read")
def api_appointment_types(query: ListQuery) -> AppointmentTypeListOut:
    organization_id = current_organization_id()
    kinds = setup.list_types(organization_id, include_archived=query.include_archived)
    return AppointmentTypeListOut(
        organization_id=organization_id,
        appointment_types=[_type_out(kind) for kind in kinds],
        total_count=len(kinds),
        timestamp=utcnow(),
    )
