"""The Cliniko connection and sync runs: connect, test, start, cancel, resume, read, schedule.

Every function takes the organization explicitly; another organization's run is ``NotFound``,
exactly like one that does not exist. Functions only flush: the request, job or command commits
(a started sync is queued when that commit happens). The API key is encrypted at rest, only its
hint (``••••••••abcd-au4``) is ever shown, logged or audited.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from flask import current_app
from sqlalchemy import case, exists, func, select

from clinic_app.core import audit, crypto, jobs
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound, Unavailable
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.orgs.models import Organization
from clinic_app.sync.client import (
    DEFAULT_SHARD,
    ClinikoAuthError,
    ClinikoClient,
    ClinikoError,
    mask_key,
    shard_of,
)
from clinic_app.sync.models import (
    ACTIVE_STATUSES,
    API_KEY_FIELD,
    CANCELLED,
    COMPLETED,
    COMPREHENSIVE,
    FAILED,
    INCREMENTAL,
    MODES,
    STARTING,
    STEPS,
    SYNC_KIND,
    TRIGGERS,
    ClinikoConnection,
    ClinikoLink,
    SyncRun,
)

log = logging.getLogger("clinic_app.sync")

STALE_AFTER = timedelta(minutes=15)
STALE_DETAIL = (
    "The sync stopped: the worker stopped responding (no progress for 15 minutes). "
    "Resume it to continue from where it stopped."
)
INCREMENTAL_OVERLAP = timedelta(minutes=5)
NIGHTLY_AT = time(2, 0)
NIGHTLY_WINDOW = timedelta(hours=6)  # a missed 02:00 run still happens until 08:00, never at noon
QUIET_AFTER_RUN = timedelta(minutes=10)
INTERVAL_RANGE = (15, 24 * 60)
NOT_CONNECTED = "Cliniko is not connected for this organization. Connect it with an API key first."


# --- the connection ---------------------------------------------------------------------------


def _connection(organization_id: str) -> ClinikoConnection | None:
    return db.session.scalar(select(ClinikoConnection).where(ClinikoConnection.organization_id == organization_id))


def _require_connection(organization_id: str) -> ClinikoConnection:
    connection = _connection(organization_id)
    if connection is None:
        raise Conflict(NOT_CONNECTED)
    return connection


def _client(api_key: str, template: str | None) -> ClinikoClient:
    """A client with the app's options (``SYNC_CLIENT_OPTIONS``: pacing, retries, timeouts)."""
    options = {"requests_per_minute": current_app.config.get("CLINIKO_REQUESTS_PER_MINUTE", 200)}
    options |= current_app.config.get("SYNC_CLIENT_OPTIONS", {})
    return ClinikoClient(api_key, base_url=template, **options)


def client_for(organization_id: str) -> ClinikoClient:
    """A client with the organization's stored key. Raises Conflict when not connected (or, in
    production, when the stored address is not Cliniko's own), Unavailable when the stored key
    cannot be decrypted."""
    connection = _require_connection(organization_id)
    template = connection.base_url_template
    if template is not None and current_app.config.get("PRODUCTION", False) and not is_cliniko_address(template):
        raise Conflict("The stored Cliniko address is not Cliniko's own. Connect Cliniko again with the API key.")
    vault = crypto.vault_for(organization_id)
    key = vault.decrypt(API_KEY_FIELD, connection.api_key_enc, target_id=connection.id)
    if not isinstance(key, str):
        raise Unavailable("The stored Cliniko API key cannot be read. Connect Cliniko again with the key.")
    return _client(key, template)


def _clean_key(api_key: str) -> str:
    key = (api_key or "").strip()
    if not key or len(key) > 200 or any(ch.isspace() for ch in key):
        raise Invalid(errors=[FieldError("api_key", "Paste the API key from Cliniko (My Info -> Manage API keys).")])
    return key


# Cliniko's API lives on one host per shard: api.au1.cliniko.com, api.uk2.cliniko.com ...
CLINIKO_HOST = re.compile(r"^api\.[a-z]{2}[0-9]{1,2}\.cliniko\.com$")
CLINIKO_EXAMPLE = "https://api.{shard}.cliniko.com/v1"
UNREACHABLE = "Could not reach Cliniko at that address. Check the address and try again."


def is_cliniko_address(template: str) -> bool:
    """Whether ``template`` (``{shard}`` allowed) is Cliniko's own API: https, a Cliniko shard's
    host, the default port, the path ``/v1``, nothing else."""
    try:
        url = httpx.URL(template.strip().rstrip("/").replace("{shard}", DEFAULT_SHARD))
    except httpx.InvalidURL:
        return False
    return (
        url.scheme == "https"
        and CLINIKO_HOST.match(url.host or "") is not None
        and url.port in (None, 443)
        and url.path == "/v1"
        and not url.query
        and not url.fragment
        and not url.userinfo
    )


def _clean_template(template: str | None) -> str | None:
    """A non-default API address. Production accepts only Cliniko's own (``is_cliniko_address``);
    development and tests also take any http(s) address (the sandbox's)."""
    if template is None or not template.strip():
        return None
    text = template.strip().rstrip("/")
    if current_app.config.get("PRODUCTION", False):
        if len(text) > 300 or not is_cliniko_address(text):
            message = f"Give Cliniko's https address, e.g. {CLINIKO_EXAMPLE}."
            raise Invalid(errors=[FieldError("base_url", message)])
        return text
    try:
        url = httpx.URL(text.replace("{shard}", DEFAULT_SHARD))
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("https", "http") or not url.host or len(text) > 300:
        raise Invalid(errors=[FieldError("base_url", f"Give an http(s) address, e.g. {CLINIKO_EXAMPLE}.")])
    return text


def _try(client: ClinikoClient) -> dict[str, Any]:
    """``client.test_connection()`` with Cliniko's errors as domain errors.

    A refused key (401) is said as such; every other failure, whether nothing listens at the
    address, something else answers there, or Cliniko is down, is the one sentence ``UNREACHABLE``
    with the same status: what a remote server says is never echoed, and the answer does not tell
    a closed port from an open one."""
    try:
        return client.test_connection()
    except ClinikoAuthError as error:
        raise Invalid(errors=[FieldError("api_key", str(error))]) from None
    except ClinikoError as error:
        _log_unreachable(error)
        raise Unavailable(UNREACHABLE) from None
    finally:
        client.close()


def _log_unreachable(error: ClinikoError) -> None:
    # The kind of failure and the status, for whoever runs the servers; never the body.
    log.warning(
        "cliniko connection test failed",
        extra={"event": "cliniko_test_failed", "error": type(error).__name__, "status": error.status_code},
    )


def connect(
    organization_id: str,
    api_key: str,
    *,
    base_url_template: str | None = None,
    actor: audit.Actor,
    test: bool = True,
) -> ClinikoConnection:
    """Store (or replace) the organization's Cliniko key, encrypted, after proving it works
    (unless ``test`` is off). Records ``cliniko.connected`` with the shard and key hint.

    Raises Invalid (key refused, e.g. the wrong shard; or a bad address), Unavailable (Cliniko
    unreachable), Conflict (a sync is running), NotFound (no such organization). Nothing is
    stored when it raises.
    """
    orgs.get_organization(organization_id)
    key, template = _clean_key(api_key), _clean_template(base_url_template)
    if running_run(organization_id) is not None:
        raise Conflict("A sync is running. Wait for it to finish (or cancel it) before changing the key.")
    found = _try(_client(key, template)) if test else {"businesses": []}
    sealed = crypto.vault_for(organization_id).encrypt(API_KEY_FIELD, key) or ""
    connection = _connection(organization_id)
    replaced = connection is not None
    if replaced and test and _business_ids(connection.businesses) != _business_ids(found["businesses"]):
        # Another Cliniko account: "changed since the last sync" means nothing for it, so the
        # next incremental reads everything.
        connection.last_incremental_cursor = None
    if connection is None:
        connection = ClinikoConnection(organization_id=organization_id, api_key_enc=sealed)
        db.session.add(connection)
    now = utcnow()
    connection.api_key_enc = sealed
    connection.key_hint, connection.shard, connection.base_url_template = mask_key(key), shard_of(key), template
    connection.businesses = found["businesses"]
    connection.time_zone = next((b["time_zone"] for b in found["businesses"] if b.get("time_zone")), None)
    connection.connected_by_id, connection.connected_at = actor.user_id, now
    connection.last_tested_at, connection.last_test_ok = (now, True) if test else (None, None)
    db.session.flush()
    audit.record(
        "cliniko.connected",
        organization_id=organization_id,
        actor=actor,
        target_type="cliniko_connection",
        target_id=connection.id,
        details={"shard": connection.shard, "key_hint": connection.key_hint, "tested": test, "replaced": replaced},
    )
    return connection


def _business_ids(businesses: list[dict[str, Any]] | None) -> set[str]:
    return {str(business.get("id")) for business in businesses or []}


def disconnect(organization_id: str, *, actor: audit.Actor) -> None:
    """Forget the key (synced records stay). Raises Conflict when not connected or a sync runs."""
    connection = _require_connection(organization_id)
    if running_run(organization_id) is not None:
        raise Conflict("A sync is running. Cancel it before disconnecting Cliniko.")
    hint = connection.key_hint
    db.session.delete(connection)
    db.session.flush()
    audit.record(
        "cliniko.disconnected",
        organization_id=organization_id,
        actor=actor,
        target_type="cliniko_connection",
        target_id=connection.id,
        details={"key_hint": hint},
    )


def test_connection(organization_id: str, *, actor: audit.Actor | None = None) -> dict[str, Any]:
    """Try the stored key now. Returns ``{"ok", "shard", "businesses", "error"}`` (never raises
    for Cliniko's answer, so the failed test is recorded on the connection). Raises Conflict when
    not connected."""
    connection = _require_connection(organization_id)
    result: dict[str, Any] = {"ok": False, "shard": connection.shard, "businesses": connection.businesses}
    result["error"] = None
    try:
        with client_for(organization_id) as client:
            result.update(ok=True, businesses=client.test_connection()["businesses"])
    except ClinikoAuthError as error:
        result["error"] = str(error)
    except ClinikoError as error:
        _log_unreachable(error)
        result["error"] = UNREACHABLE  # as in ``_try``: nothing the remote end said, one sentence
    connection.last_tested_at, connection.last_test_ok = utcnow(), result["ok"]
    if result["ok"]:
        connection.businesses = result["businesses"]
    audit.record(
        "cliniko.tested",
        organization_id=organization_id,
        actor=actor,
        target_type="cliniko_connection",
        target_id=connection.id,
        outcome=audit.SUCCESS if result["ok"] else audit.FAILURE,
    )
    return result


def configure_schedule(
    organization_id: str, *, enabled: bool, interval_minutes: int, actor: audit.Actor
) -> ClinikoConnection:
    """Turn scheduled syncs on or off and set how often the incremental runs (15 to 1440 minutes)."""
    connection = _require_connection(organization_id)
    low, high = INTERVAL_RANGE
    if not isinstance(interval_minutes, int) or not low <= interval_minutes <= high:
        raise Invalid(errors=[FieldError("sync_interval_minutes", f"Choose from {low} to {high} minutes.")])
    connection.scheduled_sync_enabled, connection.sync_interval_minutes = bool(enabled), interval_minutes
    db.session.flush()
    audit.record(
        "cliniko.schedule_changed",
        organization_id=organization_id,
        actor=actor,
        target_type="cliniko_connection",
        target_id=connection.id,
        details={"enabled": bool(enabled), "interval_minutes": interval_minutes},
    )
    return connection


def connection_status(organization_id: str) -> dict[str, Any]:
    """What an admin page or the status API shows (times are aware UTC datetimes; no key)."""
    connection = _connection(organization_id)
    running = running_run(organization_id)
    status: dict[str, Any] = {
        "organization_id": organization_id,
        "cliniko_connected": connection is not None,
        "running_sync_id": running.id if running else None,
    }
    if connection is None:
        return status
    linked = db.session.scalar(
        select(func.count()).where(ClinikoLink.organization_id == organization_id, ClinikoLink.resource == "patients")
    )
    return status | {
        "api_region": connection.shard,
        "key_hint": connection.key_hint,
        "custom_base_url": connection.base_url_template is not None,
        "businesses": connection.businesses,
        "time_zone": connection.time_zone,
        "sync_enabled": connection.scheduled_sync_enabled,
        "sync_interval_minutes": connection.sync_interval_minutes,
        "connected_at": connection.connected_at,
        "last_tested_at": connection.last_tested_at,
        "credentials_valid": connection.last_test_ok,
        "last_sync": connection.last_successful_sync_at,
        "total_patients": int(linked or 0),
    }


# --- runs -------------------------------------------------------------------------------------


def running_run(organization_id: str) -> SyncRun | None:
    """The organization's starting or running sync, if any (there is at most one)."""
    return db.session.scalar(
        select(SyncRun).where(SyncRun.organization_id == organization_id, SyncRun.status.in_(ACTIVE_STATUSES))
    )


def get_run(organization_id: str, sync_id: str) -> SyncRun:
    """The organization's run. Raises NotFound for an unknown id or another organization's."""
    run = db.session.get(SyncRun, sync_id) if sync_id else None
    if run is None or run.organization_id != organization_id:
        raise NotFound("No such sync.")
    return run


def history(organization_id: str, limit: int = 20) -> list[SyncRun]:
    """The latest runs, newest first."""
    return list(
        db.session.scalars(
            select(SyncRun)
            .where(SyncRun.organization_id == organization_id)
            .order_by(SyncRun.created_at.desc(), SyncRun.id)
            .limit(max(1, min(limit, 100)))
        )
    )


def history_summary(organization_id: str, limit: int = 10) -> dict[str, Any]:
    """Totals over every run plus the latest ``limit`` runs (the sync-history contract's figures)."""
    scope = SyncRun.organization_id == organization_id
    row = db.session.execute(
        select(
            func.count().label("total"),
            func.sum(case((SyncRun.status == COMPLETED, 1), else_=0)).label("completed"),
            func.sum(case((SyncRun.status == FAILED, 1), else_=0)).label("failed"),
            func.max(SyncRun.created_at).label("last"),
        ).where(scope)
    ).one()
    finished = db.session.execute(
        select(SyncRun.started_at, SyncRun.finished_at).where(
            scope, SyncRun.status == COMPLETED, SyncRun.started_at.is_not(None)
        )
    ).all()
    durations = [(r.finished_at - r.started_at).total_seconds() for r in finished if r.finished_at]
    return {
        "organization_id": organization_id,
        "total_syncs": int(row.total or 0),
        "successful_syncs": int(row.completed or 0),
        "failed_syncs": int(row.failed or 0),
        "last_sync_at": row.last,
        "last_successful_sync_at": max((r.finished_at for r in finished if r.finished_at), default=None),
        "average_sync_duration_seconds": round(sum(durations) / len(durations), 1) if durations else None,
        "recent_syncs": history(organization_id, limit),
    }


def progress_of(run: SyncRun) -> dict[str, Any]:
    """A run as a progress page or the progress API shows it (no PHI: ids, counts, words)."""
    completed_steps = len(run.steps) if run.status == COMPLETED else run.step_index
    return {
        "sync_id": run.id,
        "organization_id": run.organization_id,
        "mode": run.mode,
        "trigger": run.trigger,
        "status": run.status,
        "progress_percentage": run.percentage,
        "current_step": run.current_step,
        "steps": list(run.steps),
        "total_steps": len(run.steps),
        "completed_steps": completed_steps,
        "records_processed": run.processed,
        "records_total": run.total,
        "pages": run.pages,
        "counts": run.counts,
        **{name: getattr(run, name) for name in ("created", "updated", "unchanged", "failed")},
        "failures": run.failures,
        "phones_total": run.phones_total,
        "phones_normalised": run.phones_normalised,
        "emails_dropped": run.emails_dropped,
        "error_detail": run.error_detail,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "estimated_completion": run.estimated_completion_at,
        "finished_at": run.finished_at,
        "resumed_from_id": run.resumed_from_id,
    }


def start_sync(organization_id: str, mode: str, *, actor: audit.Actor, trigger: str = "manual") -> tuple[SyncRun, bool]:
    """Start a sync (queued when the caller commits). Returns (run, True), or (the running run,
    False) when one is already starting or running: never two at once, even when two callers race.

    Raises Invalid (unknown mode or trigger), Conflict (not connected), Unavailable (the job queue
    is down; nothing is written then).
    """
    if mode not in MODES:
        raise Invalid(errors=[FieldError("mode", f"Choose one of: {', '.join(MODES)}.")])
    if trigger not in TRIGGERS:
        raise Invalid(errors=[FieldError("trigger", f"Choose one of: {', '.join(TRIGGERS)}.")])
    connection = _require_connection(organization_id)
    running = running_run(organization_id)
    if running is not None:
        return running, False
    since = None
    if mode == INCREMENTAL and connection.last_incremental_cursor is not None:
        since = connection.last_incremental_cursor - INCREMENTAL_OVERLAP
    run = _new_run(organization_id, mode, trigger, actor, updated_since=since)
    return _launch(run, actor)


def resume_sync(
    organization_id: str, sync_id: str, *, actor: audit.Actor, trigger: str = "manual"
) -> tuple[SyncRun, bool]:
    """Continue a failed or cancelled run from its cursor in a new run (``resumed_from_id`` set).
    Returns like ``start_sync``. Raises NotFound, Conflict (the run did not fail or was not
    cancelled; not connected), Unavailable."""
    previous = get_run(organization_id, sync_id)
    if previous.status not in (FAILED, CANCELLED):
        raise Conflict("Only a failed or cancelled sync can be resumed.")
    _require_connection(organization_id)
    running = running_run(organization_id)
    if running is not None:
        return running, False
    run = _new_run(organization_id, previous.mode, trigger, actor, updated_since=previous.updated_since)
    run.steps, run.cursor, run.resumed_from_id = list(previous.steps), previous.cursor, previous.id
    return _launch(run, actor)


def _new_run(
    organization_id: str, mode: str, trigger: str, actor: audit.Actor, *, updated_since: datetime | None
) -> SyncRun:
    return SyncRun(
        organization_id=organization_id,
        mode=mode,
        trigger=trigger,
        status=STARTING,
        steps=list(STEPS[mode]),
        counts={},
        failures=[],
        warnings=[],
        created_by_id=actor.user_id,
        updated_since=updated_since,
    )


def _launch(run: SyncRun, actor: audit.Actor) -> tuple[SyncRun, bool]:
    """Insert the run and queue its job, together or not at all.

    The insert is ``ON CONFLICT DO NOTHING`` against the one-active-run index, so a caller that
    lost a race gets the winner's run back without an exception that would spoil its transaction
    (and without a SAVEPOINT, whose release would dispatch queued work early).
    """
    from clinic_app.sync import engine  # noqa: F401 - registers the sync job (the engine imports this module)

    if not _insert_if_none_active(run):
        running = running_run(run.organization_id)
        if running is None:  # the other run finished in between: rare enough to ask for a retry
            raise Conflict("Another sync was starting at the same moment; try again.")
        return running, False
    stored = db.session.get(SyncRun, run.id)
    assert stored is not None
    try:
        job = jobs.enqueue(
            SYNC_KIND, organization_id=run.organization_id, created_by_id=actor.user_id, sync_run_id=run.id
        )
    except Unavailable:
        db.session.delete(stored)  # nothing may stay behind waiting for a job that was never queued
        db.session.flush()
        raise
    stored.job_id = job.id
    db.session.flush()
    audit.record(
        "sync.started",
        organization_id=run.organization_id,
        actor=actor,
        target_type="sync_run",
        target_id=run.id,
        details={"mode": run.mode, "trigger": run.trigger, "resumed_from": run.resumed_from_id},
    )
    return stored, True


def _insert_if_none_active(run: SyncRun) -> bool:
    """Insert ``run`` unless the organization already has an active one; True when inserted."""
    db.session.flush()
    # Columns left unset take their defaults from the insert itself.
    values = {column.key: getattr(run, column.key) for column in SyncRun.__table__.columns}
    values = {key: value for key, value in values.items() if value is not None}
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(SyncRun.__table__).values(**values)
    statement = statement.on_conflict_do_nothing(
        index_elements=[SyncRun.__table__.c.organization_id],
        index_where=SyncRun.__table__.c.status.in_(ACTIVE_STATUSES),
    )
    # RETURNING, not rowcount: PostgreSQL's driver may report a row count for a conflict that
    # inserted nothing.
    return db.session.execute(statement.returning(SyncRun.__table__.c.id)).first() is not None


def cancel_sync(organization_id: str, sync_id: str, *, actor: audit.Actor) -> SyncRun:
    """Ask a run to stop: a queued one is cancelled at once, a running one at its next page.
    Raises NotFound, or Conflict when it has already finished."""
    run = get_run(organization_id, sync_id)
    if run.finished:
        raise Conflict("This sync has already finished.")
    run.cancel_requested = True
    job = db.session.get(jobs.Job, run.job_id) if run.job_id else None
    if job is not None and not job.finished:
        jobs.request_cancel(job)
    if job is None or job.status == jobs.CANCELLED:
        finish_run(run, CANCELLED, "Cancelled before it started.")
    db.session.flush()
    audit.record(
        "sync.cancel_requested",
        organization_id=organization_id,
        actor=actor,
        target_type="sync_run",
        target_id=run.id,
    )
    return run


def finish_run(run: SyncRun, status: str, detail: str | None = None) -> None:
    """Mark the run completed, failed or cancelled and record ``sync.<status>``. A completed run
    moves the connection's last-sync time and (for full-coverage modes) the incremental cursor."""
    now = utcnow()
    run.status, run.finished_at, run.heartbeat_at = status, now, now
    lines = ([detail] if detail else []) + [f"Warning: {warning}" for warning in run.warnings or []]
    run.error_detail = "\n".join(lines) or None
    if status == COMPLETED:
        run.percentage, run.estimated_completion_at, run.cursor = 100.0, now, None
        connection = _connection(run.organization_id)
        if connection is not None:
            connection.last_successful_sync_at = now
            if run.mode in (COMPREHENSIVE, INCREMENTAL):
                connection.last_incremental_cursor = _first_start(run) or now
    audit.record(
        f"sync.{status}",
        organization_id=run.organization_id,
        actor=audit.Actor(user_id=run.created_by_id),
        target_type="sync_run",
        target_id=run.id,
        outcome=audit.SUCCESS if status == COMPLETED else audit.FAILURE,
        details={
            "mode": run.mode,
            "trigger": run.trigger,
            **{name: getattr(run, name) for name in ("created", "updated", "unchanged", "failed")},
        },
    )


def _first_start(run: SyncRun) -> datetime | None:
    """When the work of a (possibly resumed) run began: the earliest start along its resume chain,
    so an incremental after it misses nothing changed while the first attempt was paging."""
    earliest, seen = run.started_at, {run.id}
    previous_id = run.resumed_from_id
    while previous_id and previous_id not in seen:
        seen.add(previous_id)
        previous = db.session.get(SyncRun, previous_id)
        if previous is None:
            break
        if previous.started_at and (earliest is None or previous.started_at < earliest):
            earliest = previous.started_at
        previous_id = previous.resumed_from_id
    return earliest


def fail_stale_runs(now: datetime | None = None) -> int:
    """Mark runs whose worker stopped reporting for 15 minutes as failed (they can be resumed);
    a run whose job still waits in the queue is left alone. Returns how many were marked."""
    now = now or utcnow()
    last_sign = func.coalesce(SyncRun.heartbeat_at, SyncRun.started_at, SyncRun.created_at)
    stale = db.session.scalars(
        select(SyncRun).where(SyncRun.status.in_(ACTIVE_STATUSES), last_sign < now - STALE_AFTER)
    ).all()
    marked = 0
    for run in stale:
        job = db.session.get(jobs.Job, run.job_id) if run.job_id else None
        if run.status == STARTING and job is not None and job.status == jobs.QUEUED:
            continue
        finish_run(run, FAILED, STALE_DETAIL)
        if job is not None and not job.finished:
            job.status, job.finished_at, job.message, job.error = jobs.FAILED, now, "Failed", STALE_DETAIL
        marked += 1
    db.session.flush()
    return marked


# --- scheduling -------------------------------------------------------------------------------


def due_for_scheduled_sync(now: datetime | None = None) -> list[tuple[str, str]]:
    """(organization id, mode) for every scheduled sync due at ``now``: the nightly comprehensive
    (02:00 in the organization's time zone, until 08:00 if missed) or an incremental every
    ``sync_interval_minutes``. None while one runs or within 10 minutes of one finishing."""
    now = now or utcnow()
    due: list[tuple[str, str]] = []
    rows = db.session.execute(
        select(ClinikoConnection, Organization.time_zone)
        .join(Organization, Organization.id == ClinikoConnection.organization_id)
        .where(ClinikoConnection.scheduled_sync_enabled.is_(True), Organization.is_active.is_(True))
        .order_by(ClinikoConnection.organization_id)
    ).all()
    for connection, time_zone in rows:
        organization_id = connection.organization_id
        last = db.session.scalar(
            select(SyncRun).where(SyncRun.organization_id == organization_id).order_by(SyncRun.created_at.desc())
        )
        if last is not None and (not last.finished or (last.finished_at and now - last.finished_at < QUIET_AFTER_RUN)):
            continue
        if _nightly_due(organization_id, time_zone, now):
            due.append((organization_id, COMPREHENSIVE))
        elif last is None or now - last.created_at >= timedelta(minutes=connection.sync_interval_minutes):
            due.append((organization_id, INCREMENTAL))
    return due


def _nightly_due(organization_id: str, time_zone: str, now: datetime) -> bool:
    try:
        zone = ZoneInfo(time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    # On a day whose 02:00 does not exist (clocks jump 02:00 -> 03:00) this is 03:00.
    start = datetime.combine(local.date(), NIGHTLY_AT, tzinfo=zone).astimezone(UTC)
    if not start <= now < start + NIGHTLY_WINDOW:
        return False
    ran = db.session.scalar(
        select(
            exists().where(
                SyncRun.organization_id == organization_id,
                SyncRun.mode == COMPREHENSIVE,
                SyncRun.created_at >= start,
            )
        )
    )
    return not ran
