"""The recent-activity feed: sync runs in the seed's ``recent_activity`` shape, and the
organization's events worth telling staff about (a patient registered, an appointment booked...).

Only words, ids, counts and times: never a patient's name or details (the audit trail holds ids
only, and the feed says what happened, not to whom).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from clinic_app.core.audit import SUCCESS, AuditEvent
from clinic_app.core.time import isoformat
from clinic_app.extensions import db
from clinic_app.sync.models import SyncRun

KEPT = 100  # items stored with the snapshot: the API's largest ``limit``
EVENTS_WITHIN = timedelta(days=90)  # older events are not "recent"; bounds the index walk

SYNC_WORDS = {
    "comprehensive": "Comprehensive patient and appointment sync",
    "basic": "Basic sync: patients, and appointments from 30 days ago on",
    "patients-only": "Patient import from Cliniko (no appointments)",
    "incremental": "Incremental sync: changes since the last sync",
}

# Audit actions shown in the feed, with their words. Reads (viewed, listed, searched) are not
# activity; denials and failures of these actions are left out too.
EVENT_WORDS = {
    "patient.created": "Patient registered",
    "patient.bulk_seeded": "Patients added in bulk",
    "patient.archived": "Patient archived",
    "patient.unarchived": "Patient restored from the archive",
    "intake.submitted": "Intake completed",
    "appointment.booked": "Appointment booked",
    "appointment.rescheduled": "Appointment rescheduled",
    "appointment.cancelled": "Appointment cancelled",
    "appointment.arrived": "Patient arrived for an appointment",
    "appointment.did_not_arrive": "Patient did not arrive for an appointment",
    "engagement.contacted": "Re-engagement contact recorded",
    "cliniko.connected": "Cliniko connected",
    "cliniko.disconnected": "Cliniko disconnected",
}


def _sync_item(run: SyncRun) -> dict[str, Any]:
    success = (run.created or 0) + (run.updated or 0) + (run.unchanged or 0)
    return {
        "id": run.id,
        "source_system": "cliniko",
        "operation_type": f"{run.mode.replace('-', '_')}_sync",
        "status": run.status,
        "records_processed": success + (run.failed or 0),
        "records_success": success,
        "records_failed": run.failed or 0,
        "started_at": isoformat(run.started_at or run.created_at),
        "completed_at": isoformat(run.finished_at),
        "activity_type": "sync",
        "description": SYNC_WORDS.get(run.mode, "Cliniko sync"),
    }


def _event_item(event: AuditEvent) -> dict[str, Any]:
    count = (event.details or {}).get("count")
    records = count if isinstance(count, int) and count >= 0 else 1
    return {
        "id": event.id,
        "source_system": "clinic",
        "operation_type": event.action,
        "status": "completed",
        "records_processed": records,
        "records_success": records,
        "records_failed": 0,
        "started_at": isoformat(event.created_at),
        "completed_at": isoformat(event.created_at),
        "activity_type": event.action.split(".", 1)[0],
        "description": EVENT_WORDS[event.action],
    }


def recent(organization_id: str, now: datetime, limit: int = KEPT) -> list[dict[str, Any]]:
    """The latest ``limit`` items, newest first (sync runs by their start, events by their time)."""
    runs = db.session.scalars(
        select(SyncRun)
        .where(SyncRun.organization_id == organization_id)
        .order_by(SyncRun.created_at.desc(), SyncRun.id)
        .limit(limit)
    ).all()
    events = db.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.organization_id == organization_id,
            AuditEvent.created_at >= now - EVENTS_WITHIN,
            AuditEvent.action.in_(tuple(EVENT_WORDS)),
            AuditEvent.outcome == SUCCESS,
        )
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id)
        .limit(limit)
    ).all()
    items = [_sync_item(run) for run in runs] + [_event_item(event) for event in events]
    items.sort(key=lambda item: (item["started_at"] or "", item["id"]), reverse=True)
    return items[:limit]


def minutes_ago(item: dict[str, Any], now: datetime) -> float:
    """Minutes from the item's end (or start) to ``now``, one decimal, never negative."""
    moment = item.get("completed_at") or item.get("started_at")
    if not moment:
        return 0.0
    seconds = (now - datetime.fromisoformat(moment)).total_seconds()
    return round(max(seconds, 0.0) / 60, 1)
