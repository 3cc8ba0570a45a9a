"""Tables of the Cliniko integration: the connection, each sync run, and the id map.

* ``ClinikoConnection``: one per organization; the API key is encrypted with the organization's
  vault and only a hint of it (``key_hint``) is ever shown.
* ``SyncRun``: one sync, its progress as a page polls it, its counts, and the cursor a resumed run
  continues from. At most one run per organization is starting or running: a partial unique index
  says so in the database, so two clicks (or two schedulers) cannot start two. The run keeps its
  own status words and times because the JSON contract and that index read them; the rules about
  them are the jobs' (``core.jobs``): its duration is ``elapsed_seconds``, a run is stale after
  ``STALE_AFTER`` without a sign of life, and its job is failed with ``mark_failed``.
* ``ClinikoLink``: Cliniko's id of a record -> our id, plus a keyed hash of what we stored, which
  tells "unchanged" from "updated" without decrypting anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core import crypto
from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin
from clinic_app.core.jobs import elapsed_seconds
from clinic_app.core.time import utcnow

API_KEY_FIELD = "sync.cliniko_api_key"
SYNC_KIND = "sync.cliniko"  # the background job (clinic_app.sync.job)

COMPREHENSIVE, BASIC, PATIENTS_ONLY, INCREMENTAL = "comprehensive", "basic", "patients-only", "incremental"
MODES = (COMPREHENSIVE, BASIC, PATIENTS_ONLY, INCREMENTAL)
TRIGGERS = ("manual", "scheduled", "api", "cli")
STARTING, RUNNING, COMPLETED, FAILED, CANCELLED = "starting", "running", "completed", "failed", "cancelled"
ACTIVE_STATUSES = (STARTING, RUNNING)
FINISHED_STATUSES = (COMPLETED, FAILED, CANCELLED)

_ACTIVE_SQL = text("status IN ('starting', 'running')")

# The steps of each mode, in order (docs/sync.md says what each mode is for).
REFERENCE_STEPS = ("businesses", "practitioners", "appointment_types")
STEPS: dict[str, tuple[str, ...]] = {
    COMPREHENSIVE: (*REFERENCE_STEPS, "patients", "appointments", "statistics"),
    BASIC: (*REFERENCE_STEPS, "patients", "appointments", "statistics"),
    PATIENTS_ONLY: ("businesses", "patients", "statistics"),
    INCREMENTAL: (*REFERENCE_STEPS, "patients", "appointments", "statistics"),
}
# Share of the progress bar per step: appointments outnumber patients about ten to one.
STEP_WEIGHTS = {
    "businesses": 1,
    "practitioners": 1,
    "appointment_types": 1,
    "patients": 30,
    "appointments": 60,
    "statistics": 7,
}
FAILURES_KEPT = 50


class ClinikoConnection(PublicIdMixin, TimestampMixin, Model):
    """The organization's Cliniko account: where to reach it and with which (encrypted) key."""

    __tablename__ = "cliniko_connections"
    __table_args__ = (UniqueConstraint("organization_id"),)
    id_prefix = "cnx"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    api_key_enc: Mapped[str] = mapped_column(Text)
    key_hint: Mapped[str] = mapped_column(String(40))
    shard: Mapped[str] = mapped_column(String(8))
    # None: Cliniko itself; otherwise a template such as the sandbox's "http://127.0.0.1:8123/{shard}/v1".
    base_url_template: Mapped[str | None] = mapped_column(String(300))
    businesses: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{id, name, time_zone}]
    time_zone: Mapped[str | None] = mapped_column(String(64))
    scheduled_sync_enabled: Mapped[bool] = mapped_column(default=False)
    sync_interval_minutes: Mapped[int] = mapped_column(Integer, default=60)
    connected_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    connected_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_tested_at: Mapped[datetime | None]
    last_test_ok: Mapped[bool | None]
    last_successful_sync_at: Mapped[datetime | None]
    # The start of the last successful run: what the next incremental asks "changed since".
    last_incremental_cursor: Mapped[datetime | None]
    # Whether a patient's notes written here are sent to Cliniko with the record (off: they stay here).
    send_patient_notes: Mapped[bool] = mapped_column(default=False, server_default=false())


class SyncRun(PublicIdMixin, Model):
    """One sync of one organization, from queued to finished."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        Index("ix_sync_runs_org_created", "organization_id", "created_at"),
        Index(
            "uq_sync_runs_one_active_per_org",
            "organization_id",
            unique=True,
            postgresql_where=_ACTIVE_SQL,
            sqlite_where=_ACTIVE_SQL,
        ),
    )
    id_prefix = "sync"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16), default="manual")
    status: Mapped[str] = mapped_column(String(16), default=STARTING)
    steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    current_step: Mapped[str | None] = mapped_column(String(40))
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)  # records of the current step
    total: Mapped[int] = mapped_column(Integer, default=0)  # ... and how many Cliniko said there are
    pages: Mapped[int] = mapped_column(Integer, default=0)
    percentage: Mapped[float] = mapped_column(Float, default=0.0)
    estimated_completion_at: Mapped[datetime | None]
    counts: Mapped[dict[str, dict[str, int]]] = mapped_column(JSON, default=dict)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)  # [{resource, cliniko_id, reason}]
    phones_total: Mapped[int] = mapped_column(Integer, default=0)
    phones_normalised: Mapped[int] = mapped_column(Integer, default=0)
    emails_dropped: Mapped[int] = mapped_column(Integer, default=0)
    error_detail: Mapped[str | None] = mapped_column(Text)  # for admins: no PHI, never the key
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    heartbeat_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    job_id: Mapped[str | None] = mapped_column(String(40))
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"step": ..., "next_url": ...}
    updated_since: Mapped[datetime | None]
    resumed_from_id: Mapped[str | None] = mapped_column(String(40))
    cancel_requested: Mapped[bool] = mapped_column(default=False)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        return elapsed_seconds(self.started_at, self.finished_at)  # the jobs' one duration rule


class ClinikoLink(PublicIdMixin, TimestampMixin, Model):
    """Which of our rows a Cliniko record became, and a hash of what we stored from it."""

    __tablename__ = "cliniko_links"
    __table_args__ = (
        # Also the organization's index (it leads with organization_id). No other index may start
        # with (organization_id, resource): on a freshly loaded table PostgreSQL has no statistics
        # yet and may pick that one for the per-page lookup by Cliniko id, scanning every row.
        UniqueConstraint("organization_id", "resource", "cliniko_id"),
        Index("ix_cliniko_links_local", "local_id"),  # our ids are unique across organizations
    )
    id_prefix = "clk"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    resource: Mapped[str] = mapped_column(String(32))  # "patients", "appointments", ...
    cliniko_id: Mapped[str] = mapped_column(String(32))
    local_id: Mapped[str] = mapped_column(String(40))
    # None means "look again next time" (e.g. an appointment whose patient was not found yet).
    content_hash: Mapped[str | None] = mapped_column(String(64))
    source_updated_at: Mapped[datetime | None]


class Tally:
    """A run's counts while it works; written onto the row at each checkpoint (JSON columns are
    only saved when reassigned, so the row is given fresh copies)."""

    OUTCOMES = ("created", "updated", "unchanged", "failed")

    def __init__(self, run: SyncRun) -> None:
        self.counts = {resource: dict(figures) for resource, figures in (run.counts or {}).items()}
        self.failures = list(run.failures or [])
        self.warnings = list(run.warnings or [])
        self.phones_total, self.phones_normalised = run.phones_total or 0, run.phones_normalised or 0
        self.emails_dropped = run.emails_dropped or 0

    def count(self, resource: str, outcome: str, number: int = 1) -> None:
        figures = self.counts.setdefault(resource, dict.fromkeys(self.OUTCOMES, 0))
        figures[outcome] = figures.get(outcome, 0) + number

    def fail(self, resource: str, cliniko_id: str, reason: str, *, counted: bool = True) -> None:
        """Name a record that could not be synced (the first ``FAILURES_KEPT`` are kept)."""
        if counted:
            self.count(resource, "failed")
        if len(self.failures) < FAILURES_KEPT:
            self.failures.append({"resource": resource, "cliniko_id": cliniko_id, "reason": reason[:300]})

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text[:500])

    def phones(self, given: int, normalised: int, email_dropped: bool) -> None:
        self.phones_total += given
        self.phones_normalised += normalised
        self.emails_dropped += int(email_dropped)

    def write(self, run: SyncRun) -> None:
        run.counts = {resource: dict(figures) for resource, figures in self.counts.items()}
        for outcome in self.OUTCOMES:
            setattr(run, outcome, sum(figures.get(outcome, 0) for figures in self.counts.values()))
        run.failures = list(self.failures)
        run.warnings = list(self.warnings)
        run.phones_total, run.phones_normalised = self.phones_total, self.phones_normalised
        run.emails_dropped = self.emails_dropped


# -- the outbox: changes made here that Cliniko must learn (docs/sync.md, "Writing to Cliniko") ---------

OUTBOX_KIND = "sync.cliniko_outbox"  # the background job that sends them (clinic_app.sync.outbox_job)
# An entry is deleted once Cliniko holds the change (the audit trail keeps that it was sent).
PENDING, SENDING, NOT_SENT, CONFLICT = "pending", "sending", "failed", "conflict"
OUTBOX_STATUSES = (PENDING, SENDING, NOT_SENT, CONFLICT)
OUTBOX_ACTIONS = ("create", "update", "archive", "unarchive", "move", "cancel")
PATIENTS, APPOINTMENTS = "patients", "individual_appointments"


class OutboxEntry(PublicIdMixin, TimestampMixin, Model):
    """One change made here, written in the transaction that made it, until Cliniko holds it.

    It names the record and the changed fields, never their values: the sender reads the record as
    it is when it sends, so two edits waiting together go as one request, and no PHI waits here.
    ``uncertain`` says an earlier send may have reached Cliniko without our hearing the answer (a
    timeout, a dropped connection, a 5xx): the next attempt looks the record up before sending again.
    """

    __tablename__ = "cliniko_outbox"
    __table_args__ = (
        Index("ix_cliniko_outbox_org_status", "organization_id", "status", "next_attempt_at"),
        Index("ix_cliniko_outbox_local", "local_id"),
    )
    id_prefix = "obx"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    resource: Mapped[str] = mapped_column(String(32))  # "patients" or "individual_appointments"
    local_id: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(16))
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)  # names only
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    uncertain: Mapped[bool] = mapped_column(default=False)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))  # words for the front desk, no PHI
    field_errors: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)  # Cliniko's 422, by field
    # What Cliniko's copy said when the write was held back as a conflict (its updated_at).
    remote_updated_at: Mapped[datetime | None]
    cliniko_id: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None]
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


crypto.encrypted_column(ClinikoConnection, "api_key_enc", API_KEY_FIELD)
