"""Verifying an organization's audit chain a piece at a time, in the background.

Re-hashing every event an organization ever recorded takes minutes once a year of page views and
searches is in the trail, so the audit page never does it. Instead the ``audit.verify`` job checks
the chain from the organization's **checkpoint** (the last event a previous run verified: its seq
and hash, kept in ``audit_verifications``) to the end, in batches, and moves the checkpoint
forward. A run that finds a break keeps the old checkpoint, stores where the chain broke, records
an ``audit.chain_broken`` alarm on the organization's own chain (so its admins see it in the trail)
and logs an error for the operators.

Besides "Verify now", every active organization gets a run each night (from 03:30 in its time
zone, six hours to catch up; ``start_nightly_verifications``, a ``core.periodic`` task) when
anything was recorded since its checkpoint, or its chain was found broken.

A checkpoint proves only that the events up to it were intact when it was taken: later runs read
the checkpoint's own event again but nothing before it. ``flask audit-verify`` still checks every
chain from its first event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, func, select, text
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core import audit, periodic
from clinic_app.core.audit import GENESIS, START, AuditEvent, Checkpoint, verify_chain
from clinic_app.core.db import Model, PublicIdMixin
from clinic_app.core.jobs import CANCELLED, FAILED, QUEUED, RUNNING, Job, JobContext, enqueue, job_function
from clinic_app.core.time import utcnow, zone_named
from clinic_app.extensions import db
from clinic_app.orgs.models import Organization

log = logging.getLogger("clinic_app.audit")

VERIFY_KIND = "audit.verify"
UNVERIFIED, VERIFIED, BROKEN = "unverified", "verified", "broken"
NIGHTLY_AT = time(3, 30)  # local time: after the nightly comprehensive sync (02:00) has begun
NIGHTLY_WINDOW = timedelta(hours=6)  # a tick missed at 03:30 (app down) still runs until 09:30


class AuditVerification(PublicIdMixin, Model):
    """One chain's checkpoint and the outcome of its last verification run."""

    __tablename__ = "audit_verifications"
    id_prefix = "avf"

    chain: Mapped[str] = mapped_column(String(40), unique=True)
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    # The checkpoint: the chain was intact from its first event up to this one when it was taken.
    verified_seq: Mapped[int] = mapped_column(Integer, default=0)
    verified_hash: Mapped[str] = mapped_column(String(64), default=GENESIS)
    verified_at: Mapped[datetime | None]
    verified_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The last run, whatever it found.
    checked_at: Mapped[datetime | None]
    checked_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    job_id: Mapped[str | None] = mapped_column(String(40))
    events_checked: Mapped[int] = mapped_column(Integer, default=0)
    problem_seq: Mapped[int | None]
    problem_event_id: Mapped[str | None] = mapped_column(String(40))
    problem: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.verified_seq, self.verified_hash)


@dataclass(frozen=True)
class VerificationStatus:
    """What the audit page and the API show, read without touching the chain's events."""

    checkpoint: AuditVerification | None
    latest_seq: int  # the newest event's seq (0: no events yet)
    running: Job | None  # a queued or running verification
    last_failed: Job | None  # the newest run, when it failed or was cancelled before recording a result

    @property
    def state(self) -> str:
        if self.checkpoint is None or self.checkpoint.checked_at is None:
            return UNVERIFIED
        return BROKEN if self.checkpoint.problem_seq is not None else VERIFIED

    @property
    def verified_seq(self) -> int:
        return self.checkpoint.verified_seq if self.checkpoint else 0

    @property
    def events_since(self) -> int:
        """Events recorded after the checkpoint (not verified yet)."""
        return max(0, self.latest_seq - self.verified_seq)


# --- reading ------------------------------------------------------------------------------------


def checkpoint_of(organization_id: str) -> AuditVerification | None:
    return db.session.scalar(select(AuditVerification).where(AuditVerification.chain == organization_id))


def _jobs_of(organization_id: str) -> Any:
    return select(Job).where(Job.kind == VERIFY_KIND, Job.organization_id == organization_id)


def running_job(organization_id: str) -> Job | None:
    """The organization's queued or running verification, if any."""
    return db.session.scalar(
        _jobs_of(organization_id).where(Job.status.in_((QUEUED, RUNNING))).order_by(Job.created_at.desc()).limit(1)
    )


def latest_seq(organization_id: str) -> int:
    """The newest event's seq in the organization's chain: one look-up in the (chain, seq) index."""
    return db.session.scalar(select(func.max(AuditEvent.seq)).where(AuditEvent.chain == organization_id)) or 0


def verification_status(organization_id: str) -> VerificationStatus:
    """The checkpoint, the last run's outcome and any run in progress (a few indexed reads; the
    chain's events are never read here)."""
    checkpoint = checkpoint_of(organization_id)
    running = running_job(organization_id)
    last_failed = None
    if running is None:
        newest = db.session.scalar(_jobs_of(organization_id).order_by(Job.created_at.desc()).limit(1))
        if newest is not None and newest.status in (FAILED, CANCELLED):
            last_failed = newest
    return VerificationStatus(checkpoint, latest_seq(organization_id), running, last_failed)


# --- starting -----------------------------------------------------------------------------------


def _lock(organization_id: str) -> None:
    """Serialise starts for one organization until the transaction ends (PostgreSQL; SQLite lets
    one writer in at a time), so two admins clicking at once start one run."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"{VERIFY_KIND}:{organization_id}"}
        )


def start_verification(organization_id: str, *, actor: audit.Actor) -> tuple[Job, bool]:
    """Queue a verification of the organization's chain from its checkpoint (dispatched when the
    caller commits). Returns (job, True), or (the running job, False) when one is already queued
    or running: never two at once. Records ``audit.verification_started``.

    Raises Unavailable when the job queue is down (nothing is written then).
    """
    _lock(organization_id)
    running = running_job(organization_id)
    if running is not None:
        return running, False
    checkpoint = checkpoint_of(organization_id)
    job = enqueue(VERIFY_KIND, organization_id=organization_id, created_by_id=actor.user_id)
    audit.record(
        "audit.verification_started",
        organization_id=organization_id,
        actor=actor,
        target_type="job",
        target_id=job.id,
        details={"from_seq": checkpoint.verified_seq if checkpoint else 0},
    )
    return job, True


# --- the job ------------------------------------------------------------------------------------


@job_function(VERIFY_KIND, timeout=6 * 3600, read_permission="admin:audit", cancel_permission="admin:audit")
def verify_organization_chain(ctx: JobContext) -> dict[str, Any]:
    """Verify the job's organization's chain from its checkpoint to the newest event at the
    start of the run; store the new checkpoint, or the problem found. Idempotent: a second run
    starts from whatever checkpoint the first left."""
    job = db.session.get(Job, ctx.job_id)
    assert job is not None and job.organization_id is not None
    organization_id, started_by_id = job.organization_id, job.created_by_id
    stored = checkpoint_of(organization_id)
    since = stored.checkpoint if stored else START
    # Events recorded while the run goes on (its own alarm included) are left for the next run.
    until = max(latest_seq(organization_id), since.seq)
    total = until - since.seq
    ctx.progress(0, "Verifying", f"{total} event{'' if total == 1 else 's'} to check")

    def progress(checked: int) -> None:
        percent = 100 * checked / total if total else 100
        ctx.progress(min(percent, 99), "Verifying", f"{checked} of {total} events checked")

    report = verify_chain(organization_id, since=since, until_seq=until, on_batch=progress)

    row = checkpoint_of(organization_id)
    if row is None:
        row = AuditVerification(
            chain=organization_id, organization_id=organization_id, verified_seq=START.seq, verified_hash=START.hash
        )
        db.session.add(row)
    now = utcnow()
    row.checked_at, row.checked_by_id, row.job_id, row.events_checked = now, started_by_id, ctx.job_id, report.checked
    if report.problems:
        first = report.problems[0]
        row.problem_seq, row.problem_event_id, row.problem = first.seq, first.event_id or None, first.problem[:200]
        _raise_alarm(organization_id, first, len(report.problems), ctx.job_id)
    else:
        if report.verified_to.seq >= row.verified_seq:  # never move a checkpoint backwards
            row.verified_seq, row.verified_hash = report.verified_to.seq, report.verified_to.hash
        row.verified_at, row.verified_by_id = now, started_by_id
        row.problem_seq = row.problem_event_id = row.problem = None
    db.session.flush()
    return {
        "intact": not report.problems,
        "events_checked": report.checked,
        "verified_seq": row.verified_seq,
        "problem_seq": row.problem_seq,
        "problem": row.problem,
    }


def _raise_alarm(organization_id: str, problem: audit.ChainProblem, count: int, job_id: str) -> None:
    log.error(
        "audit chain broken",
        extra={
            "event": "audit_chain_broken",
            "organization_id": organization_id,
            "seq": problem.seq,
            "problem": problem.problem,
            "job_id": job_id,
        },
    )
    audit.record(
        "audit.chain_broken",
        organization_id=organization_id,
        target_type="audit_event",
        target_id=problem.event_id or None,
        outcome=audit.ALARM,
        details={"seq": problem.seq, "problem": problem.problem, "problems": count, "job_id": job_id},
    )


# --- every night --------------------------------------------------------------------------------


def _night_opens(time_zone: str | None, now: datetime) -> datetime | None:
    """When tonight's window opened (UTC), if ``now`` is inside it in ``time_zone``."""
    zone = zone_named(time_zone)
    opens = datetime.combine(now.astimezone(zone).date(), NIGHTLY_AT, tzinfo=zone).astimezone(UTC)
    return opens if opens <= now < opens + NIGHTLY_WINDOW else None


def _nightly_due(organization_id: str, opens: datetime) -> bool:
    started_tonight = db.session.scalar(_jobs_of(organization_id).where(Job.created_at >= opens).limit(1))
    if started_tonight is not None or running_job(organization_id) is not None:
        return False  # one run a night, whether an admin or the clock started it, and however it ended
    checkpoint = checkpoint_of(organization_id)
    if checkpoint is not None and checkpoint.problem_seq is not None:
        return True  # a broken chain is reported again every night until it is put right
    return latest_seq(organization_id) > (checkpoint.verified_seq if checkpoint else 0)


@periodic.every_tick("audit.nightly_verification")
def start_nightly_verifications(now: datetime | None = None) -> list[str]:
    """Start tonight's verification for every active organization in its nightly window that has
    not had one since the window opened and has events to check (or a broken chain). Started by
    no person; committed per organization, so one failure (the queue down) spares the others.
    Returns the organization ids started."""
    now = now or utcnow()
    organizations = db.session.execute(
        select(Organization.id, Organization.time_zone)
        .where(Organization.is_active.is_(True))
        .order_by(Organization.id)
    ).all()
    started: list[str] = []
    for organization_id, time_zone in organizations:
        opens = _night_opens(time_zone, now)
        if opens is None or not _nightly_due(organization_id, opens):
            continue
        try:
            _job, new = start_verification(organization_id, actor=audit.Actor())
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.warning(
                "nightly audit verification not started",
                extra={"event": "audit_verification_skipped", "organization_id": organization_id},
                exc_info=True,
            )
            continue
        if new:
            started.append(organization_id)
    db.session.rollback()  # end the read
    return started
