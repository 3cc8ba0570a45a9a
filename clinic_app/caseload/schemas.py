"""JSON shapes of seed 001's active-patient endpoints (``/api/v1/patients/{organization_id}/...``):
the seed's field names and types, plus the paging facts a client needs (``limit``, ``offset``,
``has_more``). Ids are our public ids (strings); times are ISO-8601 UTC with a ``Z``."""

from __future__ import annotations

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field

ID_NOTE = "our public id, a string"


MAX_OFFSET = 1_000_000


class PatientsQuery(Schema):
    limit: int = limit_field(50, 200)
    cursor: str | None = cursor_field()
    offset: int = Field(
        default=0,
        ge=0,
        le=MAX_OFFSET,
        description="How many patients to skip (kept for earlier clients; leave it out when paging with `cursor`)",
    )


class CaseloadAppointmentBrief(Schema):
    id: str = Field(description="The appointment's id (" + ID_NOTE + ")")
    starts_at: Timestamp
    type: str | None = Field(description="The appointment type's name")
    practitioner: str | None = Field(description="The practitioner's name")
    status: str = Field(description="attended, booked, cancelled or did_not_arrive (docs/rules.md)")


class PatientActivityOut(Schema):
    id: str = Field(description="The patient's id (" + ID_NOTE + ")")
    name: str
    phone: str | None = Field(description="Primary phone in E.164 (decrypted; the read is audited)")
    email: str | None = Field(description="Decrypted; the read is audited")
    cliniko_patient_id: str | None = Field(description="Cliniko's id of the patient, when synced from Cliniko")
    is_active: bool = Field(description="A recent attended or an upcoming appointment (docs/rules.md)")
    activity_status: str = Field(description="active, recently_active, upcoming_only or inactive")
    recent_appointment_count: int = Field(description="Attended in the last 30 days")
    upcoming_appointment_count: int = Field(description="In the future and not cancelled")
    total_appointment_count: int = Field(description="Every counted appointment, whatever its status")
    first_appointment_date: Timestamp | None = Field(description="Earliest appointment that was not cancelled")
    last_appointment_date: Timestamp | None = Field(description="Latest attended appointment")
    next_appointment_time: Timestamp | None = Field(description="Earliest upcoming appointment")
    next_appointment_type: str | None
    primary_appointment_type: str | None = Field(
        description="The patient's most frequent appointment type (not counting cancelled ones)"
    )
    treatment_notes: str | None = Field(
        description="Always null: clinical free text is not sent in lists. Read one patient's record "
        "(GET /api/v1/patients/{patient_id}) for their notes; that read is audited per patient."
    )
    recent_appointments: list[CaseloadAppointmentBrief] = Field(
        description="Attended in the last 30 days, latest first (10)"
    )
    upcoming_appointments: list[CaseloadAppointmentBrief] = Field(description="Upcoming, soonest first (at most 10)")
    last_synced_at: Timestamp | None = Field(
        description="When the record was last confirmed against Cliniko (the last successful sync); "
        "null for patients not from Cliniko"
    )
    created_at: Timestamp
    updated_at: Timestamp


class PatientActivityWithPriorityOut(PatientActivityOut):
    priority: str | None = Field(description="high (within 24 h), medium (within 72 h), low; null when none booked")
    hours_until_next_appointment: float | None = Field(description="One decimal")
    days_until_next_appointment: float | None = Field(description="Hours / 24, one decimal")


class _ActivityPage(Schema):
    organization_id: str
    total_count: int = Field(description="How many patients match, over all pages")
    limit: int
    offset: int
    has_more: bool
    timestamp: Timestamp
    next_cursor: str | None = next_cursor_field()


class PatientActivityPageOut(_ActivityPage):
    patients: list[PatientActivityOut]


class PatientActivityWithPriorityPageOut(_ActivityPage):
    patients: list[PatientActivityWithPriorityOut]


class PatientActivityByTypePageOut(_ActivityPage):
    appointment_type: str = Field(description="The type name asked for (matched without regard to case)")
    patients: list[PatientActivityOut]


class ActivePatientsSummaryOut(Schema):
    organization_id: str
    total_active_patients: int
    patients_with_recent_appointments: int
    patients_with_upcoming_appointments: int
    avg_recent_appointments: float = Field(description="Over active patients, two decimals")
    avg_total_appointments: float = Field(description="Over active patients, two decimals")
    last_sync_date: Timestamp | None = Field(description="The last successful Cliniko sync")
    timestamp: Timestamp


class ActivePatientsTypeGroup(Schema):
    next_appointment_type: str | None
    primary_appointment_type: str | None
    patient_count: int = Field(description="Active patients with this pair of next and primary type")
    patients_with_upcoming: int
    earliest_upcoming: Timestamp | None = Field(description="The soonest of these patients' next appointments")
    latest_upcoming: Timestamp | None = Field(description="The latest of these patients' next appointments")


class ActivePatientsByTypeOut(Schema):
    organization_id: str
    appointment_types: list[ActivePatientsTypeGroup]
    total_types: int
    timestamp: Timestamp
