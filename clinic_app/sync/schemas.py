"""JSON shapes of the sync, Cliniko and admin endpoints: the seed documents' fields and names,
plus what a client needs to act on them (the run's id, pagination).

Ids are our public ids, strings such as ``sync_…`` and ``pat_…``, where the seed showed integers
or UUIDs. Times are ISO-8601 UTC with a ``Z``. No schema here carries the API key (only its hint)
or anything about a patient beyond what the endpoint is for.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field

ID_NOTE = "Our public id (a string), where the seed system used integers"
ManualMode = Literal["comprehensive", "basic", "patients-only", "incremental"]


# --- queries ---------------------------------------------------------------------------------


class HistoryQuery(Schema):
    limit: int = limit_field(10, 100)
    cursor: str | None = cursor_field()


class ModeQuery(Schema):
    mode: ManualMode = Field(
        default="comprehensive",
        description="comprehensive (everything), basic (appointments of the last 30 days onwards), "
        "patients-only, or incremental (changes since the last successful sync)",
    )


class PageQuery(Schema):
    limit: int = limit_field(25, 100)
    cursor: str | None = cursor_field()


# --- starting syncs --------------------------------------------------------------------------


class _Started(Schema):
    organization_id: str
    sync_id: str = Field(description="The run started, or the one already running (" + ID_NOTE + ")")
    sync_started: bool = Field(description="False when a sync was already running: no second one is started")
    status: str = Field(description="starting, running, completed, failed or cancelled")
    timestamp: Timestamp


class SyncTriggerOut(_Started):
    """Answer to a manual or scheduler trigger (seed: "Trigger Manual Sync")."""

    message: str
    sync_mode: str


class ClinikoSyncOut(_Started):
    """Answer to ``POST /api/v1/cliniko/sync`` and ``import-patients`` (seed: "Trigger Cliniko Sync").
    ``success`` is true when a sync of the organization is under way after the call, whether it
    started now or was already running (``sync_started`` tells which)."""

    success: bool
    message: str
    sync_mode: str


class ForceSyncOut(_Started):
    """Answer to ``POST /api/v1/admin/sync/schedule`` (seed 003: "Force Sync")."""

    sync_scheduled: bool = Field(description="True when this call started the sync")
    message: str
    sync_mode: str


# --- runs ------------------------------------------------------------------------------------


class SyncProgressOut(Schema):
    """One run's progress (seed: "Get Sync Progress") and its counts so far."""

    sync_id: str = Field(description=ID_NOTE)
    organization_id: str
    status: str = Field(description="starting, running, completed, failed or cancelled")
    progress_percentage: float
    current_step: str | None = Field(description='In words, e.g. "Processing appointments"')
    current_step_id: str | None = Field(description="businesses, practitioners, appointment_types, patients, ...")
    total_steps: int
    completed_steps: int
    steps: list[str]
    started_at: Timestamp | None
    estimated_completion: Timestamp | None
    finished_at: Timestamp | None
    records_processed: int = Field(description="Records of the current step read so far")
    records_total: int = Field(description="Records of the current step, as Cliniko counts them")
    pages: int
    mode: str
    trigger: str = Field(description="manual, scheduled, api or cli")
    created: int
    updated: int
    unchanged: int
    failed: int
    counts: dict[str, dict[str, int]] = Field(description="Per kind of record: created, updated, unchanged, failed")
    phones_total: int
    phones_normalised: int = Field(description="Phone numbers stored in E.164")
    emails_dropped: int
    error_detail: str | None = Field(description="Why it stopped, for admins (no patient data, never the key)")
    resumed_from_id: str | None
    duration_seconds: float | None
    created_at: Timestamp


class SyncRunMetadata(Schema):
    sync_type: str = Field(description="The mode")
    trigger: str
    patients_processed: int
    appointments_processed: int


class SyncHistoryItem(Schema):
    sync_id: str = Field(description=ID_NOTE)
    started_at: Timestamp | None
    completed_at: Timestamp | None
    status: str
    records_processed: int = Field(description="Records read in all (created + updated + unchanged + failed)")
    records_success: int
    records_failed: int
    duration_seconds: float | None
    created: int
    updated: int
    unchanged: int
    error_detail: str | None
    resumed_from_id: str | None
    metadata: SyncRunMetadata


class SyncHistoryOut(Schema):
    """Seed: "Get Sync History". The totals cover every run; ``recent_syncs`` the latest ``limit``."""

    organization_id: str
    total_syncs: int
    successful_syncs: int
    failed_syncs: int
    last_sync_at: Timestamp | None
    last_successful_sync_at: Timestamp | None
    average_sync_duration_seconds: float | None = Field(description="Over completed runs; null before the first")
    recent_syncs: list[SyncHistoryItem]
    limit: int
    next_cursor: str | None = next_cursor_field()


class SchedulerStatusOut(Schema):
    """Seed: "Get Scheduler Status". ``scheduler_active`` is true only when a scheduler is really
    ticking: the in-process thread is alive, or a worker's tick was seen within three intervals."""

    organization_id: str
    sync_running: bool
    running_sync_id: str | None
    last_sync_time: Timestamp | None = Field(description="End of the last successful sync")
    scheduler_active: bool
    scheduler_backend: str = Field(description="thread (embedded), rq (workers) or off")
    last_tick_at: Timestamp | None
    scheduled_sync_enabled: bool
    sync_interval_minutes: int | None
    message: str


# --- Cliniko connection ----------------------------------------------------------------------


class BusinessOut(Schema):
    id: str | None = Field(description="Cliniko's id of the business")
    name: str | None
    time_zone: str | None


class ClinikoStatusOut(Schema):
    """Seed: "Get Cliniko Status". ``total_patients``: patients linked to a Cliniko record."""

    organization_id: str
    cliniko_connected: bool
    api_region: str | None = Field(description="The shard, e.g. au4")
    key_hint: str | None = Field(description="The key masked, e.g. ••••••••abcd-au4; the key itself is never sent")
    last_sync: Timestamp | None
    total_patients: int
    sync_enabled: bool
    sync_interval_minutes: int | None
    credentials_valid: bool | None = Field(description="Outcome of the last connection test; null before one")
    last_tested_at: Timestamp | None
    connected_at: Timestamp | None
    running_sync_id: str | None


class ClinikoTestOut(Schema):
    """Seed: "Test Cliniko Connection". A refused key is ``success: false`` with ``error`` in words."""

    organization_id: str
    success: bool
    api_region: str
    businesses: list[BusinessOut]
    error: str | None
    message: str
    tested_at: Timestamp


class DebugConnection(Schema):
    connected: bool
    api_region: str | None
    key_hint: str | None
    custom_base_url: bool
    time_zone: str | None
    businesses: int
    sync_enabled: bool
    sync_interval_minutes: int | None
    connected_at: Timestamp | None
    last_tested_at: Timestamp | None
    credentials_valid: bool | None
    last_sync: Timestamp | None


class RecordCounts(Schema):
    patients: int
    patients_linked: int = Field(description="Patients with a Cliniko id")
    appointments: int
    appointments_linked: int
    practitioners: int
    appointment_types: int


class ClinikoDebugOut(Schema):
    """Seed: "Debug Cliniko Data", for admins: connection facts, record counts and the latest runs.
    Never the key, never a patient's details."""

    organization_id: str
    connection: DebugConnection
    record_counts: RecordCounts
    appointment_statuses: dict[str, int] = Field(description="booked, attended, cancelled, did_not_arrive")
    recent_syncs: list[SyncHistoryItem]
    scheduler: SchedulerStatusOut
    timestamp: Timestamp


# --- active patients and contacts (seed 003) -------------------------------------------------


class AppointmentBrief(Schema):
    id: str = Field(description=ID_NOTE)
    starts_at: Timestamp
    ends_at: Timestamp | None
    status: str = Field(description="attended, booked, cancelled or did_not_arrive (docs/rules.md)")
    appointment_type: str | None
    practitioner: str | None


class _Activity(Schema):
    recent_appointment_count: int = Field(description="Attended in the last 30 days (docs/rules.md)")
    upcoming_appointment_count: int = Field(description="In the future and not cancelled")
    total_appointment_count: int
    last_appointment_date: Timestamp | None = Field(description="Last attended appointment")
    next_appointment_date: Timestamp | None
    recent_appointments: list[AppointmentBrief] = Field(description="Attended in the last 30 days, latest first")
    cliniko_patient_id: str | None


class ActivePatientOut(_Activity):
    id: str = Field(description="The patient's id (" + ID_NOTE + ")")
    contact_id: str = Field(description="The same patient id: a contact here is a patient record")
    contact_name: str
    contact_phone: str | None = Field(description="Primary phone (mobile first), E.164 with a leading +")
    created_at: Timestamp
    updated_at: Timestamp


class _Page(Schema):
    organization_id: str
    total_count: int
    limit: int
    next_cursor: str | None = next_cursor_field()
    has_more: bool
    statistics_computed_at: Timestamp | None = Field(description="When the activity figures were last computed")
    timestamp: Timestamp


class ActivePatientsOut(_Page):
    active_patients: list[ActivePatientOut]


class ContactOut(_Activity):
    contact_id: str = Field(description="The patient's id (" + ID_NOTE + ")")
    name: str
    phone: str | None = Field(description="Primary phone (mobile first), E.164 with a leading +")
    email: str | None


class ContactsOut(_Page):
    contacts_with_appointments: list[ContactOut]


class ActiveSummaryOut(Schema):
    organization_id: str
    total_active_patients: int
    patients_with_recent_appointments: int
    patients_with_upcoming_appointments: int
    last_sync_date: Timestamp | None
    avg_recent_appointments: float = Field(description="Per active patient")
    avg_total_appointments: float = Field(description="Per active patient")
    timestamp: Timestamp


class ContactMetrics(Schema):
    total_contacts: int = Field(description="Patients not archived")
    cliniko_linked: int
    unlinked: int
    link_percentage: float


class ActivePatientMetrics(Schema):
    total_active: int
    avg_recent_appointments: float
    most_recent_appointment: Timestamp | None
    last_sync: Timestamp | None


class ServiceStatus(Schema):
    cliniko_configured: bool
    sync_enabled: bool = Field(description="Scheduled syncs are on")
    is_active: bool = Field(description="Connected and the last connection test did not fail")
    sync_running: bool


class HealthIndicators(Schema):
    has_contacts: bool
    has_active_patients: bool
    recent_sync: bool = Field(description="A sync completed in the last 25 hours")
    high_link_rate: bool = Field(description="At least 90 % of patients are linked to Cliniko")


class SyncDashboardOut(Schema):
    organization_id: str
    contact_metrics: ContactMetrics
    active_patient_metrics: ActivePatientMetrics
    service_status: ServiceStatus
    health_indicators: HealthIndicators
    timestamp: Timestamp
