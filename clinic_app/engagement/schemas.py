"""JSON shapes of the re-engagement endpoints (``/api/v1/reengagement/{organization_id}/...``).

The seed system had these routes but never documented their bodies (and served them without
authentication), so the shapes are ours, in the seed's style: ``organization_id`` and a
``timestamp`` on every answer, snake_case, ISO-8601 UTC times with a ``Z``, ``*_date`` /
``*_time`` names for appointment times as the seed's patient endpoints use. docs/engagement.md
describes each field; docs/rules.md says how every figure is worked out.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field

RiskLevel = Literal["high", "medium", "low"]
RiskFilter = Literal["at_risk", "high", "medium", "low", "all"]
Outcome = Literal["reached_booked", "reached_declined", "left_message", "no_answer", "wrong_number", "do_not_contact"]


# --- queries and bodies -----------------------------------------------------------------------


class PrioritizedQuery(Schema):
    risk: RiskFilter = Field(
        default="at_risk",
        description="at_risk (high and medium, the default), high, medium, low (action priority 3 and 4) or all",
    )
    limit: int = limit_field(50, 200)
    offset: int = Field(default=0, ge=0, le=1_000_000, description="How many ranked patients to skip, 0 to 1,000,000")
    cursor: str | None = cursor_field(max_length=100)
    before: str | None = Field(
        default=None,
        max_length=100,
        description="`prev_cursor` of an answer: the page before it (keyset; leave `offset` out)",
    )


class ContactIn(Schema):
    outcome: Outcome = Field(description="What happened when the patient was contacted")
    note: str | None = Field(default=None, max_length=2000, description="Optional free text (stored encrypted)")


# --- answers ----------------------------------------------------------------------------------


class RiskCounts(Schema):
    high: int
    medium: int
    low: int


class PriorityCounts(Schema):
    priority_1: int = Field(description="High risk: act first")
    priority_2: int = Field(description="Medium risk")
    priority_3: int = Field(description="Low risk, nothing booked")
    priority_4: int = Field(description="Something booked (or archived): nothing to do")


class RiskMetricsOut(Schema):
    """Risk across the organization's patients (not archived), as of the stored figures."""

    organization_id: str
    total_patients: int = Field(description="Patients not archived")
    patients_with_history: int = Field(description="Patients with at least one counted appointment")
    patients_without_upcoming: int
    risk_levels: RiskCounts
    action_priorities: PriorityCounts
    average_risk_score: float = Field(description="Mean risk score over the patients, 2 decimals")
    attended_90_days: int
    did_not_arrive_90_days: int
    late_cancelled_90_days: int
    missed_90_days: int = Field(description="Did not arrive + cancelled less than 24 h before the start")
    attendance_rate_90_days: float = Field(
        description="attended / (attended + did not arrive + late cancelled) over all patients, 0-1, "
        "3 decimals; 1.0 when there is none"
    )
    computed_at: Timestamp | None = Field(description="When the oldest of the figures was computed")
    timestamp: Timestamp


class PrioritizedPatient(Schema):
    patient_id: str
    name: str
    first_name: str
    last_name: str
    risk_level: RiskLevel
    risk_score: int = Field(ge=0, le=100)
    action_priority: int = Field(ge=1, le=4, description="1 = act first")
    reasons: list[str] = Field(description="The conditions that produced the level, with their numbers")
    days_since_last_contact: int | None = Field(
        description="Calendar days (organization time zone) since the last attended appointment, or since "
        "registration for a patient who never attended"
    )
    last_appointment_date: Timestamp | None = Field(description="Start of the last attended appointment")
    next_appointment_time: Timestamp | None
    attended_90_days: int
    did_not_arrive_90_days: int
    late_cancelled_90_days: int
    attendance_rate: float = Field(description="Over the last 90 days, 0-1, 3 decimals; 1.0 when none")
    total_appointment_count: int


class PrioritizedOut(Schema):
    organization_id: str
    risk: RiskFilter
    patients: list[PrioritizedPatient]
    total_count: int = Field(description="Patients on the worklist for this filter")
    limit: int
    offset: int
    has_more: bool
    next_cursor: str | None = next_cursor_field()
    prev_cursor: str | None = Field(description="Pass as `before` for the page before this one; null on the first page")
    timestamp: Timestamp


class DashboardSummaryOut(Schema):
    organization_id: str
    total_patients: int = Field(description="Patients not archived")
    to_contact: int = Field(description="On the worklist now: high or medium risk and not hidden by a contact")
    risk_levels: RiskCounts
    action_priorities: PriorityCounts
    hidden_by_contact: int = Field(description="At risk, but kept off the worklist by a recorded contact")
    contacted_last_7_days: int = Field(description="Contacts recorded in the last 7 days")
    outcomes_last_7_days: dict[str, int] = Field(description="Those contacts by outcome (every outcome present)")
    timestamp: Timestamp


class ContactOut(Schema):
    id: str
    contacted_at: Timestamp
    outcome: Outcome
    note: str | None
    contacted_by: str | None = Field(description="The staff member's user id (null for an API client)")
    risk_level_at_contact: RiskLevel


class PatientDetailsOut(Schema):
    organization_id: str
    patient_id: str
    name: str
    activity_status: str = Field(description="active, recently_active, upcoming_only or inactive")
    risk_level: RiskLevel
    risk_score: int
    action_priority: int
    reasons: list[str]
    days_since_last_contact: int | None
    last_appointment_date: Timestamp | None
    next_appointment_time: Timestamp | None
    upcoming_appointment_count: int
    recent_appointment_count: int
    total_appointment_count: int
    attended_90_days: int
    did_not_arrive_90_days: int
    late_cancelled_90_days: int
    attendance_rate: float
    on_worklist: bool = Field(description="High or medium risk, not archived and not hidden by a contact")
    contacted_at: Timestamp | None = Field(description="The contact that hides the patient from the worklist, if any")
    contact_history: list[ContactOut] = Field(description="The latest 20 contacts, newest first")
    computed_at: Timestamp
    timestamp: Timestamp


class ContactRecordedOut(Schema):
    organization_id: str
    patient_id: str
    contact: ContactOut
    on_worklist: bool = Field(description="Whether the patient is still on the worklist after this contact")
    timestamp: Timestamp
