"""JSON shapes of the dashboard: seed 001's ``/api/v1/dashboard/...`` exactly (field names and
types: integers, floats where it shows floats, ISO-8601 UTC times with a ``Z``), and seed 002's
``/api/v1/patients/dashboard-stats``, which that seed names but never describes (designed here: the
same summary plus the page's other figures and weekly series).

Ids are our public ids (strings such as ``sync_…``). Nothing here is PHI: counts, rates, words.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field


class ActivityQuery(Schema):
    limit: int = limit_field(20, 100)
    cursor: str | None = cursor_field()


class DashboardSummary(Schema):
    """Seed: the ``summary`` object. Patient counts are of patients who are not archived; the
    averages are over active patients (docs/rules.md)."""

    organization_id: str
    total_patients: int = Field(description="Patients who are not archived")
    active_patients: int = Field(description="With a recent attended or an upcoming appointment")
    patients_with_upcoming: int
    patients_with_recent: int
    total_upcoming_appointments: int = Field(description="Upcoming appointments of active patients")
    total_recent_appointments: int = Field(description="Attended in the last 30 days, of active patients")
    total_all_appointments: int = Field(description="Every counted appointment (not archived or deleted)")
    avg_upcoming_per_patient: float = Field(description="Per active patient, 2 decimals")
    avg_recent_per_patient: float = Field(description="Per active patient, 2 decimals")
    avg_total_per_patient: float = Field(description="Active patients' appointments per active patient, 2 decimals")
    engagement_rate: float = Field(description="Active ÷ total patients * 100, 1 decimal")
    last_sync_time: Timestamp | None = Field(description="End of the last successful Cliniko sync")
    synced_patients: int = Field(description="Patients (not archived) linked to a Cliniko record")
    sync_percentage: float = Field(description="Synced ÷ total patients * 100, 1 decimal")
    integration_status: Literal["Connected", "Partial", "Not Connected"]
    activity_status: Literal["Active", "Inactive"]
    generated_at: Timestamp = Field(description="When these figures were counted")


class ActivityItem(Schema):
    """Seed: one ``recent_activity`` item. Sync runs have ``activity_type`` "sync"; events of the
    clinic (a patient registered, an appointment booked) have the first word of their action."""

    id: str
    source_system: str = Field(description='"cliniko" for syncs, "clinic" for events in this app')
    operation_type: str = Field(description='e.g. "comprehensive_sync", "patient.created"')
    status: str
    records_processed: int
    records_success: int
    records_failed: int
    started_at: Timestamp | None
    completed_at: Timestamp | None
    activity_type: str
    description: str
    minutes_ago: float = Field(description="Minutes since it ended (or started), 1 decimal")


class DashboardOut(Schema):
    """Seed: "Get Dashboard Summary"."""

    success: bool
    organization_id: str
    summary: DashboardSummary
    recent_activity: list[ActivityItem] = Field(description="The latest 10 items, newest first")
    timestamp: Timestamp


class DashboardSummaryOut(Schema):
    """Seed: "Get Dashboard Summary Only"."""

    success: bool
    organization_id: str
    summary: DashboardSummary
    timestamp: Timestamp


class DashboardActivityOut(Schema):
    """Seed: "Get Recent Activity Only"."""

    success: bool
    organization_id: str
    recent_activity: list[ActivityItem]
    limit: int
    count: int
    timestamp: Timestamp
    next_cursor: str | None = next_cursor_field()


# --- seed 002: GET /api/v1/patients/dashboard-stats ---------------------------------------------


class UpcomingWeek(Schema):
    appointments: int = Field(description="Upcoming appointments in the next 7 * 24 hours (patients not archived)")
    patients: int = Field(description="How many patients those appointments are for")
    days: int
    until: Timestamp


class Attendance(Schema):
    attended: int
    did_not_arrive: int
    late_cancelled: int = Field(description="Cancelled less than 24 hours before the start")
    appointments: int = Field(description="attended + did_not_arrive + late_cancelled")
    rate: float = Field(description="attended ÷ appointments, 0 to 1 (1.0 when there are none)")
    percentage: float = Field(description="rate * 100, 1 decimal")
    since: Timestamp = Field(description="Start of the 90-day window (midnight in the organization's time zone)")
    days: int


class WeekFigures(Schema):
    week_start: date = Field(description="Monday of the week, in the organization's time zone")
    starts_at: Timestamp
    ends_at: Timestamp
    attended: int
    cancelled: int
    did_not_arrive: int
    booked: int = Field(description="Still upcoming (only this week can have any)")
    patients: int = Field(description="Patients with an appointment that week that was not cancelled")
    new_patients: int = Field(description="Of those, patients whose first appointment was that week")
    returning_patients: int


class TypeFigures(Schema):
    appointment_type_id: str | None = Field(description="null for appointments without a type and for the rest")
    name: str
    appointments: int = Field(description="Not cancelled, in the 12 weeks of `weeks`")


class DashboardStatsOut(Schema):
    """The dashboard's figures for the caller's organization (seed 002 named this endpoint)."""

    success: bool
    organization_id: str
    time_zone: str
    summary: DashboardSummary
    upcoming_next_7_days: UpcomingWeek
    attendance_90_days: Attendance
    weeks: list[WeekFigures] = Field(description="12 weeks, oldest first; the last is this week")
    appointment_types: list[TypeFigures]
    generated_at: Timestamp
    timestamp: Timestamp
