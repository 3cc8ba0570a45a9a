"""Booking pages: the booking form (with its patient picker), rescheduling and cancelling with
confirmation. Thin: the forms parse the clinic's local date and time, ``booking`` decides and
writes, its field errors go back on the form (422); a clash with another booking is a 409 with
the form and the message. Success answers with the calendar of the new time (HX-Redirect for htmx).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import make_response, render_template, request
from flask.typing import ResponseReturnValue

from clinic_app.appointments import booking, bp, schedule
from clinic_app.appointments import practitioners as setup
from clinic_app.appointments.forms import FIELD_FOR, BookingForm, CancelForm, RescheduleForm
from clinic_app.appointments.views import _zone, calendar_url, local, local_day
from clinic_app.core.access import requires
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import in_zone, shifted, utcnow
from clinic_app.core.web import done, put_errors, render_page
from clinic_app.patients import service as patients

PICKER_LIMIT = 8


def _choices(organization_id: str, keep: tuple[str | None, str | None] = (None, None)) -> dict[str, Any]:
    """Select options: bookable practitioners and types (plus the ones an appointment has now)."""
    people = setup.list_practitioners(organization_id)
    kinds = setup.list_types(organization_id)
    if booking.cliniko_connected(organization_id):  # bookings go to Cliniko: only its practitioners and types
        people = [p for p in people if p.cliniko_id is not None]
        kinds = [t for t in kinds if t.cliniko_id is not None]
    if keep[0] and all(p.id != keep[0] for p in people):
        people.append(setup.get_practitioner(organization_id, keep[0]))
    if keep[1] and all(t.id != keep[1] for t in kinds):
        kinds.append(setup.get_type(organization_id, keep[1]))
    return {
        "practitioners": [(p.id, p.display_name or "Unnamed practitioner") for p in people],
        "types": [(t.id, f"{t.name} ({t.duration_minutes} min)" if t.duration_minutes else t.name) for t in kinds],
    }


def _fill_choices(form: BookingForm | RescheduleForm, choices: dict[str, Any]) -> None:
    form.practitioner_id.choices = choices["practitioners"]
    form.appointment_type_id.choices = choices["types"]


def _ends(starts_at: datetime, length: timedelta | None) -> datetime | None:
    return starts_at + length if length is not None else None


# --- the patient picker -----------------------------------------------------------------------------


def _patient_options(organization_id: str, q: str, chosen_id: str | None) -> tuple[list[Any], Any]:
    """Active patients whose names start with ``q`` (the patient search, audited as a search), and
    the chosen patient (kept checked even when the search no longer finds them)."""
    rows: list[Any] = []
    if q:
        rows = patients.search_patients(
            organization_id, q=q[:200], status="active", limit=PICKER_LIMIT, actor=current_actor()
        ).rows
    chosen = None
    if chosen_id:
        chosen = next((row for row in rows if row.id == chosen_id), None)
        if chosen is None:
            chosen = patients.get_patient(organization_id, chosen_id)  # 404 for another organization's
    return rows, chosen


@bp.get("/appointments/patient-options")
@requires("appointments:write")
def patient_options() -> ResponseReturnValue:
    """The picker's choices for what was typed (an htmx fragment of radio buttons)."""
    organization_id = current_organization_id()
    q = request.args.get("patient_q", "").strip()
    rows, chosen = _patient_options(organization_id, q, request.args.get("patient_id") or None)
    return render_template("appointments/_patient_options.html", rows=rows, chosen=chosen, q=q)


# --- booking ----------------------------------------------------------------------------------------


def _booking_page(form: BookingForm, status: int, **context: Any) -> ResponseReturnValue:
    organization_id = current_organization_id()
    rows, chosen = _patient_options(organization_id, (form.patient_q.data or "").strip(), form.patient_id.data or None)
    context.setdefault("view", request.values.get("view", schedule.WEEK_VIEW))
    page = render_page(
        "appointments/new.html",
        "appointments/_booking_form.html",
        form=form,
        rows=rows,
        chosen=chosen,
        q=(form.patient_q.data or "").strip(),
        bookable=True,  # a clinic connected to Cliniko books here too: the outbox sends it to Cliniko
        **context,
    )
    return make_response(page, status)


@bp.route("/appointments/new", methods=["GET", "POST"])
@requires("appointments:write")
def new() -> ResponseReturnValue:
    organization_id = current_organization_id()
    form = BookingForm()
    _fill_choices(form, _choices(organization_id))
    if request.method == "GET":
        today = schedule.local_today(organization_id, utcnow())
        form.patient_id.data = request.args.get("patient") or None
        form.practitioner_id.data = request.args.get("practitioner") or None
        form.date.data = request.args.get("date") or today.isoformat()
        form.time.data = request.args.get("time") or ""
        return _booking_page(form, 200)
    form.patient_id.data = request.form.get("patient_id") or None
    if request.form.get("find"):  # without JavaScript: "Find" shows the matches in the form
        return _booking_page(form, 200)
    try:
        starts_at, length = _read_times(form, required=("patient_id", "practitioner_id", "appointment_type_id"))
        appointment = booking.book(
            organization_id,
            patient_id=form.patient_id.data or "",
            practitioner_id=form.practitioner_id.data or "",
            appointment_type_id=form.appointment_type_id.data or "",
            starts_at=starts_at,
            ends_at=_ends(starts_at, length),
            notes=form.notes.data,
            actor=current_actor(),
        )
    except booking.DoubleBooked as error:
        put_errors(form, error.errors, renames=FIELD_FOR)
        return _booking_page(form, 409)
    except Invalid as error:
        put_errors(form, error.errors, renames=FIELD_FOR)
        return _booking_page(form, 422)
    patient = patients.get_patient(organization_id, appointment.patient_id or "")
    return done(
        f"Booked {patient.first_name} {patient.last_name} for {local(appointment.starts_at)}.",
        calendar_url(
            appointment.practitioner_id,
            local_day(appointment.starts_at),
            request.form.get("view", schedule.WEEK_VIEW),
        ),
    )


REQUIRED_MESSAGES = {
    "patient_id": "Choose the patient.",
    "practitioner_id": "Choose the practitioner.",
    "appointment_type_id": "Choose the appointment type.",
}


def _read_times(form: BookingForm | RescheduleForm, *, required: tuple[str, ...]) -> tuple[datetime, timedelta | None]:
    """The start (clinic's local time) and typed length, after checking the choices are made;
    every problem at once, as Invalid."""
    errors = [FieldError(name, REQUIRED_MESSAGES[name]) for name in required if not getattr(form, name).data]
    starts_at, length = None, None
    try:
        starts_at = form.starts_at(_zone())
    except Invalid as error:
        errors += error.errors
    try:
        length = form.length()
    except Invalid as error:
        errors += error.errors
    if errors or starts_at is None:
        raise Invalid(errors=errors)
    return starts_at, length


# --- rescheduling -----------------------------------------------------------------------------------


def _summary(appointment: Any) -> str:
    patient = (
        patients.get_patient(appointment.organization_id, appointment.patient_id) if appointment.patient_id else None
    )
    who = f"{patient.first_name} {patient.last_name}" if patient else "The patient"
    return f"{who}, {local(appointment.starts_at)}"


def _reschedule_page(form: RescheduleForm, appointment: Any, status: int) -> ResponseReturnValue:
    organization_id = current_organization_id()
    problem = booking.why_unchangeable(organization_id, appointment, utcnow(), moving=True)
    page = render_page(
        "appointments/reschedule.html",
        "appointments/_reschedule_form.html",
        form=form,
        appointment=appointment,
        summary=_summary(appointment),
        problem=problem,
        view=request.values.get("view", schedule.WEEK_VIEW),
    )
    return make_response(page, status)


@bp.route("/appointments/<appointment_id>/reschedule", methods=["GET", "POST"])
@requires("appointments:write")
def reschedule(appointment_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    appointment = booking.get_appointment(organization_id, appointment_id)
    form = RescheduleForm()
    _fill_choices(form, _choices(organization_id, keep=(appointment.practitioner_id, appointment.appointment_type_id)))
    if request.method == "GET":
        start = in_zone(appointment.starts_at, _zone())
        end = appointment.ends_at or shifted(appointment.starts_at, booking.DEFAULT_LENGTH)
        form.practitioner_id.data = appointment.practitioner_id
        form.appointment_type_id.data = appointment.appointment_type_id
        form.date.data, form.time.data = start.date().isoformat(), start.strftime("%H:%M")
        form.length_minutes.data = int((end - appointment.starts_at).total_seconds() // 60)
        return _reschedule_page(form, appointment, 200)
    try:
        starts_at, length = _read_times(form, required=("practitioner_id", "appointment_type_id"))
        moved = booking.reschedule(
            organization_id,
            appointment_id,
            starts_at=starts_at,
            ends_at=_ends(starts_at, length),
            practitioner_id=form.practitioner_id.data,
            appointment_type_id=form.appointment_type_id.data,
            actor=current_actor(),
        )
    except booking.DoubleBooked as error:
        put_errors(form, error.errors, renames=FIELD_FOR)
        return _reschedule_page(form, appointment, 409)
    except Invalid as error:
        put_errors(form, error.errors, renames=FIELD_FOR)
        return _reschedule_page(form, appointment, 422)
    return done(
        f"Moved to {local(moved.starts_at)}.",
        calendar_url(
            moved.practitioner_id,
            local_day(moved.starts_at),
            request.form.get("view", schedule.WEEK_VIEW),
        ),
    )


# --- cancelling ---------------------------------------------------------------------------------------


def _cancel_page(form: CancelForm, appointment: Any, status: int, *, confirm: bool = False) -> ResponseReturnValue:
    organization_id = current_organization_id()
    page = render_page(
        "appointments/cancel.html",
        "appointments/_cancel_fields.html",
        form=form,
        appointment=appointment,
        summary=_summary(appointment),
        problem=booking.why_unchangeable(organization_id, appointment, utcnow(), moving=True),
        confirm=confirm,
        view=request.values.get("view", schedule.WEEK_VIEW),
    )
    return make_response(page, status)


@bp.route("/appointments/<appointment_id>/cancel", methods=["GET", "POST"])
@requires("appointments:write")
def cancel(appointment_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    appointment = booking.get_appointment(organization_id, appointment_id)
    form = CancelForm()
    if request.method == "GET":
        return _cancel_page(form, appointment, 200)
    if not (form.reason.data or "").strip():
        put_errors(form, [FieldError("reason", "Say why the appointment is cancelled.")], renames=FIELD_FOR)
        return _cancel_page(form, appointment, 422)
    if request.form.get("confirmed") != "yes":
        # htmx asks with hx-confirm and sends confirmed=yes; a plain form gets this page first.
        return _cancel_page(form, appointment, 200, confirm=True)
    practitioner_id, day = appointment.practitioner_id, local_day(appointment.starts_at)
    summary = _summary(appointment)
    try:
        booking.cancel(organization_id, appointment_id, reason=form.reason.data or "", actor=current_actor())
    except Invalid as error:
        put_errors(form, error.errors, renames=FIELD_FOR)
        return _cancel_page(form, appointment, 422)
    return done(
        f"Cancelled: {summary}.", calendar_url(practitioner_id, day, request.form.get("view", schedule.WEEK_VIEW))
    )
