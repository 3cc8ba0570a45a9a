"""Appointment pages: the calendar (a practitioner's day or week), one appointment, and its
actions (mark arrived or did not arrive). Booking, rescheduling and cancelling are in
``booking_views``, practitioners and appointment types in ``setup_views``. Thin: parse, call
the services, render; htmx requests get the fragment the page includes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.appointments import booking, bp, grid, schedule
from clinic_app.appointments import practitioners as setup
from clinic_app.appointments.forms import CancelForm
from clinic_app.appointments.models import Practitioner
from clinic_app.auth.identity import current_identity
from clinic_app.core.access import requires
from clinic_app.core.crypto import Unreadable
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.memo import per_request
from clinic_app.core.tenancy import current_actor, current_organization_id, current_user_id
from clinic_app.core.time import day_in_range, in_zone, organization_zone, out_of_range, utcnow
from clinic_app.core.web import done, render_page
from clinic_app.patients.validation import format_phone

STATUS_LABELS = {
    "booked": "Booked",
    "attended": "Attended",
    "cancelled": "Cancelled",
    "did_not_arrive": "Did not arrive",
}


def _zone() -> Any:
    memo = per_request("appointments")
    if memo is None:
        return organization_zone(current_organization_id())
    if "zone" not in memo:
        memo["zone"] = organization_zone(current_organization_id())
    return memo["zone"]


def local(value: datetime | None, pattern: str = "%a %d %b %Y, %H:%M") -> str:
    """A time on the clinic's wall clock, as the pages write times."""
    if value is None:
        return ""
    return in_zone(value, _zone()).strftime(pattern)


def local_day(value: datetime) -> date:
    """The clinic's calendar day of ``value``."""
    return in_zone(value, _zone()).date()


def _in_organization() -> bool:
    identity = current_identity()
    return identity is not None and identity.organization_id is not None


@bp.context_processor
def _appointment_template_helpers() -> dict[str, Any]:
    return {
        "status_label": lambda status: STATUS_LABELS.get(status, status),
        "is_unreadable": lambda value: isinstance(value, Unreadable),
        "format_phone": format_phone,  # the patient picker tells same-named patients apart by phone
    }


@bp.app_context_processor
def _patient_page_hooks() -> dict[str, Any]:
    # The patient page includes appointments/_patient_appointments.html, rendered outside this
    # blueprint: it loads its data through these (once per request, only for callers who may read
    # appointments) and writes times the way these pages do.
    return {
        "load_patient_appointments": _patient_appointments,
        "appointment_time": local,
        "appointment_status_label": lambda status: STATUS_LABELS.get(status, status),
        "appointments_bookable": _bookable_here,
    }


def _patient_appointments(patient_id: str) -> schedule.PatientSchedule | None:
    identity = current_identity()
    if identity is None or identity.organization_id is None or not identity.can("appointments:read"):
        return None
    memo = per_request("patient_appointments")
    if memo is None:
        return schedule.patient_schedule(identity.organization_id, patient_id, now=utcnow())
    if patient_id not in memo:
        memo[patient_id] = schedule.patient_schedule(identity.organization_id, patient_id, now=utcnow())
    return memo[patient_id]


def _bookable_here() -> bool:
    """Whether this organization books in the app: every organization does (one connected to
    Cliniko books through the sync's outbox, which sends the booking to Cliniko)."""
    return _in_organization()


def _cliniko_calendar() -> bool:
    """Whether this organization's calendar is Cliniko's (it is connected)."""
    if not _in_organization():
        return False
    memo = per_request("appointments")
    if memo is None:
        return booking.cliniko_connected(current_organization_id())
    if "connected" not in memo:
        memo["connected"] = booking.cliniko_connected(current_organization_id())
    return bool(memo["connected"])


# --- the calendar ---------------------------------------------------------------------------------


def _day_from(raw: str | None, today: date) -> date:
    """The day asked for; today when none (or no date) is given. Raises Invalid for a day
    outside the accepted range (the week around it could run off the calendar's end)."""
    try:
        day = date.fromisoformat(raw or "")
    except ValueError:
        return today
    if not day_in_range(day):
        raise Invalid(errors=[FieldError("date", out_of_range("a date"))])
    return day


def _chosen_practitioner(organization_id: str, people: list[Practitioner], raw: str | None) -> Practitioner | None:
    """The practitioner asked for (the organization's, archived ones too), else the one linked to
    the signed-in person, else the first."""
    if raw:
        chosen = next((p for p in people if p.id == raw), None)
        if chosen is None:
            chosen = setup.get_practitioner(organization_id, raw)  # 404 for another organization's
        return chosen
    mine = current_user_id()
    return next((p for p in people if mine and p.user_id == mine), None) or (people[0] if people else None)


def calendar_url(practitioner_id: str | None, day: date, view: str, **extra: Any) -> str:
    """The calendar around ``day``; around today when ``day`` is outside the accepted range (an
    appointment stored before the range was enforced)."""
    shown = day.isoformat() if day_in_range(day) else None
    return url_for("appointments.index", practitioner=practitioner_id or None, date=shown, view=view, **extra)


@bp.get("/appointments")
@requires("appointments:read")
def index() -> ResponseReturnValue:
    organization_id, now = current_organization_id(), utcnow()
    view = request.args.get("view", schedule.WEEK_VIEW)
    view = view if view in schedule.VIEWS else schedule.WEEK_VIEW
    today = schedule.local_today(organization_id, now)
    day = _day_from(request.args.get("date"), today)
    people = setup.list_practitioners(organization_id)
    practitioner = _chosen_practitioner(organization_id, people, request.args.get("practitioner"))
    if practitioner is not None and practitioner not in people:
        people = [*people, practitioner]  # an archived one asked for by id: still shown
    days = schedule.days_shown(day, view)
    step = timedelta(days=1 if view == schedule.DAY_VIEW else 7)
    bookable = _bookable_here() and practitioner is not None and practitioner.archived_at is None
    if bookable and _cliniko_calendar() and practitioner is not None and practitioner.cliniko_id is None:
        bookable = False  # bookings go to Cliniko, which does not know this practitioner
    layout = None
    if practitioner is not None:
        entries = schedule.practitioner_days(organization_id, practitioner.id, days, now=now)
        layout = grid.build(entries, _zone(), now=now, offer_free=bookable)
    context = {
        "practitioners": people,
        "practitioner": practitioner,
        "view": view,
        "day": day,
        "today": today,
        "days": days,
        "grid": layout,
        "bookable": bookable,
        "connected": _cliniko_calendar(),
        "previous_url": calendar_url(practitioner.id if practitioner else None, day - step, view),
        "next_url": calendar_url(practitioner.id if practitioner else None, day + step, view),
        "today_url": calendar_url(practitioner.id if practitioner else None, today, view),
        "calendar_url": calendar_url,
        "local": local,
    }
    return render_page("appointments/calendar.html", "appointments/_calendar.html", **context)


# --- one appointment ----------------------------------------------------------------------------


@bp.get("/appointments/<appointment_id>")
@requires("appointments:read")
def detail(appointment_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    view = booking.view_appointment(organization_id, appointment_id, actor=current_actor())
    appointment = view.appointment
    return render_page(
        "appointments/detail.html",
        "appointments/_detail.html",
        item=view,
        local=local,
        now=utcnow(),
        cancel_form=CancelForm(formdata=None),
        view=request.args.get("view", schedule.WEEK_VIEW),
        back_url=calendar_url(
            appointment.practitioner_id,
            local_day(appointment.starts_at),
            request.args.get("view", schedule.WEEK_VIEW),
        ),
    )


def _marked(appointment_id: str, arrived: bool) -> ResponseReturnValue:
    organization_id = current_organization_id()
    change = booking.mark_arrived if arrived else booking.mark_did_not_arrive
    appointment = change(organization_id, appointment_id, actor=current_actor())
    message = "Marked as arrived." if arrived else "Marked as did not arrive."
    return done(message, url_for("appointments.detail", appointment_id=appointment.id))


@bp.post("/appointments/<appointment_id>/arrived")
@requires("appointments:write")
def arrived(appointment_id: str) -> ResponseReturnValue:
    return _marked(appointment_id, True)


@bp.post("/appointments/<appointment_id>/did-not-arrive")
@requires("appointments:write")
def did_not_arrive(appointment_id: str) -> ResponseReturnValue:
    return _marked(appointment_id, False)
