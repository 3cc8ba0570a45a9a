"""JSON shapes of the appointments API: upcoming appointments and their summary (designed in the
style of seed 001: ``organization_id``, a list, ``total_count``, ``timestamp``), one appointment,
booking and changing it, and the practitioners and appointment types it refers to.

Ids are our public ids (``apt_…``, ``pat_…``, ``prc_…``, ``aty_…``). Times are ISO-8601 UTC with a
``Z``; a time sent to us must carry its offset (``Z`` or ``+10:00``), so nobody's local time is
guessed, and fall within the accepted range (``core.time``: 1900-01-01 to 2100-12-31). Days in
the summary are the organization's calendar days (its time zone).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from clinic_app.core.api import BoundedDateTime, Schema, Timestamp
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field
from clinic_app.core.time import RANGE_TEXT

Status = Literal["booked", "attended", "cancelled", "did_not_arrive"]
Priority = Literal["high", "medium", "low"]


# --- queries and bodies ------------------------------------------------------------------------------


class UpcomingQuery(Schema):
    days_ahead: int = Field(default=7, ge=1, le=90, description="How many days ahead to look, 1 to 90")
    limit: int = limit_field(50, 500)
    cursor: str | None = cursor_field()


class SummaryQuery(Schema):
    days_ahead: int = Field(default=7, ge=1, le=90, description="How many days ahead to count, 1 to 90")


class ListQuery(Schema):
    include_archived: bool = Field(default=False, description="Also list archived ones")


class AppointmentCreate(Schema):
    patient_id: str = Field(min_length=1, max_length=40)
    practitioner_id: str = Field(min_length=1, max_length=40)
    appointment_type_id: str = Field(min_length=1, max_length=40)
    starts_at: BoundedDateTime = Field(description=f"With its offset, e.g. 2025-07-02T10:00:00Z; {RANGE_TEXT}")
    ends_at: BoundedDateTime | None = Field(default=None, description="Default: the start plus the type's duration")
    notes: str | None = Field(default=None, max_length=2000)


class AppointmentUpdate(Schema):
    """Fields left out stay as they are. Any of the time, practitioner or type fields reschedules
    (refused once the appointment has started); ``attendance`` marks arrival or a no-show."""

    starts_at: BoundedDateTime | None = Field(default=None, description=f"With its offset; {RANGE_TEXT}")
    ends_at: BoundedDateTime | None = Field(default=None, description="Default: keeps the length (or the new type's)")
    practitioner_id: str | None = Field(default=None, min_length=1, max_length=40)
    appointment_type_id: str | None = Field(default=None, min_length=1, max_length=40)
    notes: str | None = Field(default=None, max_length=2000, description="Null clears them")
    attendance: Literal["arrived", "did_not_arrive"] | None = None


class CancelBody(Schema):
    # Required, but checked after the appointment is found: another organization's id is a 404
    # whatever the body says.
    reason: str | None = Field(
        default=None, max_length=500, description="Why it is cancelled (required; stored encrypted)"
    )


# --- one appointment ------------------------------------------------------------------------------


class PatientRef(Schema):
    id: str
    first_name: str
    last_name: str
    name: str


class PractitionerRef(Schema):
    id: str
    name: str


class AppointmentTypeRef(Schema):
    id: str
    name: str
    duration_minutes: int | None


class AppointmentOut(Schema):
    id: str
    organization_id: str
    patient: PatientRef | None = Field(description="Null while Cliniko's patient is not synced yet")
    practitioner: PractitionerRef | None
    appointment_type: AppointmentTypeRef | None
    starts_at: Timestamp
    ends_at: Timestamp | None
    status: Status = Field(description="The rule of docs/rules.md at the time of the answer")
    patient_arrived: bool
    did_not_arrive: bool
    cancelled_at: Timestamp | None
    cancellation_reason: str | None
    notes: str | None
    source: Literal["app", "cliniko"]
    read_only: bool = Field(description="True for Cliniko's appointments while Cliniko is connected")
    unreadable_fields: list[str] = Field(description="Encrypted fields that could not be decrypted (null above)")
    created_at: Timestamp
    updated_at: Timestamp


# --- upcoming ----------------------------------------------------------------------------------------


class UpcomingAppointment(Schema):
    id: str
    patient_id: str | None
    patient_name: str
    practitioner_id: str | None
    practitioner_name: str | None
    appointment_type_id: str | None
    appointment_type: str | None
    starts_at: Timestamp
    ends_at: Timestamp
    status: Status
    priority: Priority = Field(description="high within 24 h, medium within 72 h, else low")
    hours_until: float = Field(description="Hours from now to the start, one decimal")
    days_until: float = Field(description="hours_until / 24, one decimal")


class UpcomingOut(Schema):
    organization_id: str
    days_ahead: int
    appointments: list[UpcomingAppointment]
    total_count: int = Field(description="Upcoming appointments in the window (the list may stop at `limit`)")
    has_more: bool
    timestamp: Timestamp
    next_cursor: str | None = next_cursor_field()


class DayCount(Schema):
    date: str = Field(description="The organization's calendar day, YYYY-MM-DD")
    count: int


class TypeCount(Schema):
    appointment_type_id: str | None
    appointment_type: str | None
    count: int


class PractitionerCount(Schema):
    practitioner_id: str | None
    practitioner_name: str | None
    count: int


class UpcomingSummaryOut(Schema):
    organization_id: str
    days_ahead: int
    time_zone: str
    total_upcoming: int
    next_appointment_time: Timestamp | None
    hours_until_next_appointment: float | None
    next_appointment_priority: Priority | None
    by_day: list[DayCount] = Field(description="Every day of the window, today first, zeros included")
    by_type: list[TypeCount] = Field(description="Most booked first")
    by_practitioner: list[PractitionerCount] = Field(description="Most booked first")
    timestamp: Timestamp


# --- practitioners and types ---------------------------------------------------------------------------


class PractitionerOut(Schema):
    id: str
    name: str
    title: str | None
    first_name: str
    last_name: str
    designation: str | None
    user_id: str | None = Field(description="The staff member who is this practitioner, when linked")
    archived: bool
    source: Literal["app", "cliniko"]


class PractitionerListOut(Schema):
    organization_id: str
    practitioners: list[PractitionerOut]
    total_count: int
    timestamp: Timestamp


class AppointmentTypeOut(Schema):
    id: str
    name: str
    duration_minutes: int | None
    category: str | None
    color: str | None
    archived: bool
    source: Literal["app", "cliniko"]


class AppointmentTypeListOut(Schema):
    organization_id: str
    appointment_types: list[AppointmentTypeOut]
    total_count: int
    timestamp: Timestamp
