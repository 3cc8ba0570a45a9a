"""Forms of the appointment pages. They parse (and carry the CSRF token); the booking and
practitioner services decide what is valid, and their field errors are put back on these fields.

Dates and times on the forms are the organization's local time: ``starts_at`` turns them into an
aware datetime in that zone (the services store UTC).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from clinic_app.appointments.clashes import LONGEST_MINUTES
from clinic_app.appointments.practitioners import COLOR_CHOICES
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.time import EARLIEST_DAY, LATEST_DAY, day_in_range, out_of_range

# The date picker offers only the accepted range (the server checks it again).
DATE_INPUT = {"type": "date", "min": EARLIEST_DAY.isoformat(), "max": LATEST_DAY.isoformat()}

# Service field names → the form field that shows the message.
FIELD_FOR = {
    "starts_at": "time",
    "ends_at": "length_minutes",
    "patient_id": "patient_id",
    "practitioner_id": "practitioner_id",
    "appointment_type_id": "appointment_type_id",
    "notes": "notes",
    "reason": "reason",
}


def local_moment(day: date, at: time, zone: tzinfo) -> datetime:
    """``day`` at ``at`` on the clinic's wall clock, as an aware datetime. A time skipped by a
    daylight-saving change is moved forward by the gap (02:30 on the spring-forward night is 03:30),
    as a clock on the wall would read."""
    moment = datetime.combine(day, at, tzinfo=zone)
    from datetime import UTC

    round_trip = moment.astimezone(UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != moment.replace(tzinfo=None):
        return round_trip
    return moment


class _TimesMixin:
    """Date, time and length fields, read as the clinic's local time."""

    def starts_at(self, zone: tzinfo) -> datetime:
        """The start as an aware datetime, or Invalid naming the date/time fields."""
        errors: list[FieldError] = []
        day = at = None
        raw_day = (self.date.data or "").strip()  # type: ignore[attr-defined]
        raw_time = (self.time.data or "").strip()  # type: ignore[attr-defined]
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            errors.append(FieldError("date", "Give the date (YYYY-MM-DD)." if raw_day else "Choose a date."))
        else:
            if not day_in_range(day):
                errors.append(FieldError("date", out_of_range("a date")))
        try:
            at = time.fromisoformat(raw_time)
        except ValueError:
            errors.append(FieldError("time", "Give the time as HH:MM." if raw_time else "Choose a time."))
        if errors:
            raise Invalid(errors=errors)
        assert day is not None and at is not None
        return local_moment(day, at.replace(second=0, microsecond=0, tzinfo=None), zone)

    def length(self) -> timedelta | None:
        """The length the person typed, or None to use the appointment type's duration."""
        raw = "".join(self.length_minutes.raw_data or []).strip()  # type: ignore[attr-defined]
        if not raw:
            return None
        try:
            minutes = int(raw)
        except ValueError:
            raise Invalid(errors=[FieldError("ends_at", "Give the length in whole minutes.")]) from None
        if minutes <= 0:
            raise Invalid(errors=[FieldError("ends_at", "The end must be after the start.")])
        if minutes > LONGEST_MINUTES:  # checked here too: a length of any size never becomes a timedelta
            message = f"Give a length of 1 to {LONGEST_MINUTES} minutes (12 hours)."
            raise Invalid(errors=[FieldError("ends_at", message)])
        return timedelta(minutes=minutes)


class BookingForm(_TimesMixin, FlaskForm):
    patient_q = StringField(
        "Find the patient",
        render_kw={"autocomplete": "off", "spellcheck": "false", "maxlength": 200, "placeholder": "Start of a name"},
    )
    patient_id = HiddenField("Patient")
    practitioner_id = SelectField("Practitioner", choices=[], validate_choice=False)
    appointment_type_id = SelectField("Appointment type", choices=[], validate_choice=False)
    date = StringField("Date", render_kw=DATE_INPUT)
    time = StringField("Start time", render_kw={"type": "time", "step": 300})
    length_minutes = IntegerField(
        "Length in minutes",
        validators=[Optional()],
        render_kw={"min": 5, "max": LONGEST_MINUTES, "step": 5, "inputmode": "numeric"},
    )
    notes = TextAreaField("Notes", render_kw={"rows": 3, "maxlength": 2000})


class RescheduleForm(_TimesMixin, FlaskForm):
    practitioner_id = SelectField("Practitioner", choices=[], validate_choice=False)
    appointment_type_id = SelectField("Appointment type", choices=[], validate_choice=False)
    date = StringField("Date", render_kw=DATE_INPUT)
    time = StringField("Start time", render_kw={"type": "time", "step": 300})
    length_minutes = IntegerField(
        "Length in minutes",
        validators=[Optional()],
        render_kw={"min": 5, "max": LONGEST_MINUTES, "step": 5, "inputmode": "numeric"},
    )


class CancelForm(FlaskForm):
    reason = TextAreaField("Reason for cancelling", render_kw={"rows": 3, "maxlength": 500})


class PractitionerForm(FlaskForm):
    title = StringField("Title", render_kw={"maxlength": 40, "placeholder": "Dr"})
    first_name = StringField("First name", render_kw={"maxlength": 100})
    last_name = StringField("Last name", render_kw={"maxlength": 100})
    designation = StringField("Designation", render_kw={"maxlength": 200, "placeholder": "Physiotherapist"})
    user_id = SelectField("Staff member (optional)", choices=[], validate_choice=False)


class AppointmentTypeForm(FlaskForm):
    name = StringField("Name", render_kw={"maxlength": 200})
    duration_minutes = IntegerField(
        "Usual length in minutes", validators=[Optional()], render_kw={"min": 5, "max": 480, "step": 5}
    )
    category = StringField("Category (optional)", render_kw={"maxlength": 200})
    color = SelectField(
        "Colour on the calendar", choices=[("", "Default"), *[(c, c.capitalize()) for c in COLOR_CHOICES]]
    )
