"""The seed's sync and Cliniko endpoints: ``/api/v1/sync/*`` and ``/api/v1/cliniko/*``.

Every route is authenticated and organization-checked by the access layer: an organization id in
the path (or ``X-Organization-ID``, or the token's organization) must be one the caller belongs
to, else 404. Starting a sync while one runs answers 200 with the running one and
``sync_started: false`` — never a second run. With the job queue down a start answers 503.

Manual triggers without a mode (``POST /api/v1/sync/trigger``, ``/scheduler/trigger``) run a
comprehensive sync the first time and the changes since the last successful sync afterwards (the
schedule's rule: ``service.mode_for_trigger``).
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import func, select

from clinic_app.appointments import service as appointments
from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.core import periodic
from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.patients.models import Patient
from clinic_app.sync import bp, service
from clinic_app.sync.models import PATIENTS_ONLY, ClinikoLink, SyncRun
from clinic_app.sync.schemas import (
    BusinessOut,
    ClinikoDebugOut,
    ClinikoStatusOut,
    ClinikoSyncOut,
    ClinikoTestOut,
    DebugConnection,
    HistoryQuery,
    ModeQuery,
    RecordCounts,
    SchedulerStatusOut,
    SyncHistoryItem,
    SyncHistoryOut,
    SyncProgressOut,
    SyncRunMetadata,
    SyncTriggerOut,
)

SYNC_TAGS, CLINIKO_TAGS = ("sync",), ("cliniko",)
BUSY = {503: "The job queue is unavailable", 409: "Cliniko is not connected"}
MODE_WORDS = {
    "comprehensive": "Comprehensive",
    "basic": "Basic",
    "patients-only": "Patients-only",
    "incremental": "Incremental",
}


# --- shapes ------------------------------------------------------------------------------------


def started_fields(run: SyncRun, started: bool) -> dict[str, Any]:
    return {
        "organization_id": run.organization_id,
        "sync_id": run.id,
        "sync_started": started,
        "status": run.status,
        "timestamp": utcnow(),
    }


def _start_message(run: SyncRun, started: bool, what: str = "sync") -> str:
    if started:
        return f"{MODE_WORDS.get(run.mode, run.mode)} {what} started successfully"
    return f"A sync is already running ({run.id}); no second one was started"


def step_words(step: str | None) -> str | None:
    return f"Processing {step.replace('_', ' ')}" if step else None


def progress_out(run: SyncRun) -> SyncProgressOut:
    facts = service.progress_of(run)
    facts.update(
        current_step=step_words(run.current_step),
        current_step_id=run.current_step,
        duration_seconds=run.duration_seconds,
    )
    return SyncProgressOut.model_validate(facts)


def history_item(run: SyncRun) -> SyncHistoryItem:
    def processed(resource: str) -> int:
        return sum((run.counts or {}).get(resource, {}).values())

    success = run.created + run.updated + run.unchanged
    return SyncHistoryItem(
        sync_id=run.id,
        started_at=run.started_at,
        completed_at=run.finished_at,
        status=run.status,
        records_processed=success + run.failed,
        records_success=success,
        records_failed=run.failed,
        duration_seconds=run.duration_seconds,
        created=run.created,
        updated=run.updated,
        unchanged=run.unchanged,
        error_detail=run.error_detail,
        resumed_from_id=run.resumed_from_id,
        metadata=SyncRunMetadata(
            sync_type=run.mode,
            trigger=run.trigger,
            patients_processed=processed("patients"),
            appointments_processed=processed("appointments"),
        ),
    )


def scheduler_out(organization_id: str) -> SchedulerStatusOut:
    status = service.connection_status(organization_id)
    ticking = periodic.status(current_app)
    running = status["running_sync_id"]
    if not status["cliniko_connected"]:
        message = "Cliniko is not connected, so nothing is scheduled for this organization"
    elif not status["sync_enabled"]:
        message = "Scheduled syncs are off for this organization"
    elif not ticking["active"]:
        message = "Scheduled syncs are on, but no scheduler is running right now"
    else:
        message = "Scheduler status retrieved successfully"
    return SchedulerStatusOut(
        organization_id=organization_id,
        sync_running=running is not None,
        running_sync_id=running,
        last_sync_time=status.get("last_sync"),
        scheduler_active=ticking["active"],
        scheduler_backend=ticking["backend"],
        last_tick_at=ticking["last_tick_at"],
        scheduled_sync_enabled=bool(status.get("sync_enabled", False)),
        sync_interval_minutes=status.get("sync_interval_minutes"),
        message=message,
    )


# --- /api/v1/sync ------------------------------------------------------------------------------


@api_route(
    bp,
    "/api/v1/sync/trigger",
    methods=("POST",),
    response=SyncTriggerOut,
    summary="Trigger a manual sync",
    description="Starts a comprehensive sync if the organization has never completed one, else an incremental "
    "one. While a sync runs, answers with that sync and `sync_started: false`.",
    tags=SYNC_TAGS,
    extra_statuses=BUSY,
)
@requires("sync:run")
def trigger_sync() -> SyncTriggerOut:
    organization_id = current_organization_id()
    mode = service.mode_for_trigger(organization_id)
    run, started = service.start_sync(organization_id, mode, actor=current_actor(), trigger="api")
    return SyncTriggerOut(message=_start_message(run, started), sync_mode=run.mode, **started_fields(run, started))


@api_route(
    bp,
    "/api/v1/sync/scheduler/status",
    response=SchedulerStatusOut,
    summary="Scheduler status",
    description="Whether a sync runs, when the last one succeeded, and whether a scheduler is really ticking.",
    tags=SYNC_TAGS,
)
@requires("sync:read")
def scheduler_status() -> SchedulerStatusOut:
    return scheduler_out(current_organization_id())


@api_route(
    bp,
    "/api/v1/sync/scheduler/trigger",
    methods=("POST",),
    response=SyncTriggerOut,
    summary="Run the scheduled sync now",
    description="Starts what the scheduler would start for this organization, without waiting for its time: "
    "the nightly comprehensive sync if it is due, otherwise the changes since the last successful sync "
    "(everything, the first time). Recorded as a scheduled sync.",
    tags=SYNC_TAGS,
    extra_statuses=BUSY,
)
@requires("sync:run")
def trigger_scheduled_sync() -> SyncTriggerOut:
    organization_id = current_organization_id()
    mode = service.mode_for_scheduled_trigger(organization_id)
    run, started = service.start_sync(organization_id, mode, actor=current_actor(), trigger="scheduled")
    return SyncTriggerOut(message=_start_message(run, started), sync_mode=run.mode, **started_fields(run, started))


@api_route(
    bp,
    "/api/v1/sync/progress/<sync_id>",
    unpaged="the steps of one sync run",
    response=SyncProgressOut,
    summary="A sync's progress",
    description="Poll while `status` is starting or running. Another organization's sync is a 404.",
    tags=SYNC_TAGS,
)
@requires("sync:read")
def sync_progress(sync_id: str) -> SyncProgressOut:
    return progress_out(service.get_run(current_organization_id(), sync_id))


@api_route(
    bp,
    "/api/v1/sync/history/<organization_id>",
    query=HistoryQuery,
    response=SyncHistoryOut,
    paginated="cursor",
    summary="Sync history",
    description="Totals over every sync of the organization and its runs, newest first, `limit` at a time: "
    "follow `next_cursor` until it is null.",
    tags=SYNC_TAGS,
)
@requires("sync:read")
def sync_history(organization_id: str, query: HistoryQuery) -> SyncHistoryOut:
    summary = service.history_summary(organization_id, query.limit, query.cursor)
    summary["recent_syncs"] = [history_item(run) for run in summary["recent_syncs"]]
    return SyncHistoryOut(limit=query.limit, **summary)


# --- /api/v1/cliniko ---------------------------------------------------------------------------


def _cliniko_sync(organization_id: str, mode: str, what: str) -> ClinikoSyncOut:
    run, started = service.start_sync(organization_id, mode, actor=current_actor(), trigger="api")
    return ClinikoSyncOut(
        success=True,
        message=_start_message(run, started, what),
        sync_mode=run.mode,
        **started_fields(run, started),
    )


@api_route(
    bp,
    "/api/v1/cliniko/sync/<organization_id>",
    methods=("POST",),
    query=ModeQuery,
    response=ClinikoSyncOut,
    summary="Start a Cliniko sync",
    description="`mode`: comprehensive (default), basic, patients-only or incremental; anything else is a 422. "
    "While a sync runs, answers with that sync and `sync_started: false`.",
    tags=CLINIKO_TAGS,
    extra_statuses=BUSY,
)
@requires("sync:run")
def cliniko_sync(organization_id: str, query: ModeQuery) -> ClinikoSyncOut:
    return _cliniko_sync(organization_id, query.mode, "Cliniko sync")


@api_route(
    bp,
    "/api/v1/cliniko/import-patients/<organization_id>",
    methods=("POST",),
    response=ClinikoSyncOut,
    summary="Import patients from Cliniko",
    description="A patients-only sync: patient records and contact details, no appointments.",
    tags=CLINIKO_TAGS,
    extra_statuses=BUSY,
)
@requires("sync:run")
def cliniko_import_patients(organization_id: str) -> ClinikoSyncOut:
    return _cliniko_sync(organization_id, PATIENTS_ONLY, "patient import")


@api_route(
    bp,
    "/api/v1/cliniko/status/<organization_id>",
    response=ClinikoStatusOut,
    summary="Cliniko connection status",
    description="Whether Cliniko is connected, its shard, the key's hint (never the key), the last sync.",
    tags=CLINIKO_TAGS,
)
@requires("sync:read")
def cliniko_status(organization_id: str) -> ClinikoStatusOut:
    status = service.connection_status(organization_id)
    return ClinikoStatusOut(
        organization_id=organization_id,
        cliniko_connected=status["cliniko_connected"],
        api_region=status.get("api_region"),
        key_hint=status.get("key_hint"),
        last_sync=status.get("last_sync"),
        total_patients=status.get("total_patients", 0),
        sync_enabled=bool(status.get("sync_enabled", False)),
        sync_interval_minutes=status.get("sync_interval_minutes"),
        credentials_valid=status.get("credentials_valid"),
        last_tested_at=status.get("last_tested_at"),
        connected_at=status.get("connected_at"),
        running_sync_id=status["running_sync_id"],
    )


@api_route(
    bp,
    "/api/v1/cliniko/test-connection/<organization_id>",
    unpaged="the businesses of one Cliniko account, as Cliniko lists them",
    response=ClinikoTestOut,
    summary="Test the stored Cliniko key",
    description="Asks Cliniko for the account's businesses with the stored key. A refused key or an unreachable "
    "Cliniko is `success: false` with the reason in `error`; the outcome is recorded on the connection.",
    tags=CLINIKO_TAGS,
    extra_statuses={409: "Cliniko is not connected"},
)
@requires("admin:integrations")
def cliniko_test_connection(organization_id: str) -> ClinikoTestOut:
    result = service.test_connection(organization_id, actor=current_actor())
    return ClinikoTestOut(
        organization_id=organization_id,
        success=result["ok"],
        api_region=result["shard"],
        businesses=[BusinessOut.model_validate(business) for business in result["businesses"]],
        error=result["error"],
        message="Connection successful" if result["ok"] else "Connection failed",
        tested_at=utcnow(),
    )


def _count(*where: Any, model: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@api_route(
    bp,
    "/api/v1/cliniko/debug/<organization_id>",
    unpaged="diagnostics with the five latest runs (GET /api/v1/sync/history pages through all)",
    response=ClinikoDebugOut,
    summary="Cliniko diagnostics",
    description="For admins: connection facts, record counts, appointment statuses, the latest runs and the "
    "scheduler. Never the key, never a patient's details.",
    tags=CLINIKO_TAGS,
)
@requires("admin:integrations")
def cliniko_debug(organization_id: str) -> ClinikoDebugOut:
    status = service.connection_status(organization_id)
    connected = status["cliniko_connected"]
    links = ClinikoLink.organization_id == organization_id
    return ClinikoDebugOut(
        organization_id=organization_id,
        connection=DebugConnection(
            connected=connected,
            api_region=status.get("api_region"),
            key_hint=status.get("key_hint"),
            custom_base_url=bool(status.get("custom_base_url", False)),
            time_zone=status.get("time_zone"),
            businesses=len(status.get("businesses") or []),
            sync_enabled=bool(status.get("sync_enabled", False)),
            sync_interval_minutes=status.get("sync_interval_minutes"),
            connected_at=status.get("connected_at"),
            last_tested_at=status.get("last_tested_at"),
            credentials_valid=status.get("credentials_valid"),
            last_sync=status.get("last_sync"),
        ),
        record_counts=RecordCounts(
            patients=_count(Patient.organization_id == organization_id, model=Patient),
            patients_linked=_count(links, ClinikoLink.resource == "patients", model=ClinikoLink),
            appointments=_count(Appointment.organization_id == organization_id, model=Appointment),
            appointments_linked=_count(
                Appointment.organization_id == organization_id, Appointment.cliniko_id.is_not(None), model=Appointment
            ),
            practitioners=_count(Practitioner.organization_id == organization_id, model=Practitioner),
            appointment_types=_count(AppointmentType.organization_id == organization_id, model=AppointmentType),
        ),
        appointment_statuses=appointments.status_counts(organization_id),
        recent_syncs=[history_item(run) for run in service.history(organization_id, 5)],
        scheduler=scheduler_out(organization_id),
        timestamp=utcnow(),
    )
