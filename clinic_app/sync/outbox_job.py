"""The outbox's sender: the job ``sync.cliniko_outbox`` (one organization, every entry that is due,
oldest first) and the clock's task ``sync.cliniko_outbox`` (wake the sender where retries are due,
and give back entries whose sender died mid-send).

Order: an entry waits while an earlier change of the same record is unsent, and a booking waits
for its patient's creation. An entry is claimed (``pending`` -> ``sending``) by one conditional
UPDATE, so two senders never send the same change. Cliniko unreachable: the entry is put back with
the next attempt a growing while later (30 s doubling, at most 15 minutes) and the run stops.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from clinic_app.appointments.models import Appointment
from clinic_app.core import periodic
from clinic_app.core.jobs import JobContext, job_function
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.sync.client import ClinikoClient
from clinic_app.sync.cliniko import ClinikoAuthError, ClinikoError, ClinikoUnavailable
from clinic_app.sync.connection import client_for, get_connection
from clinic_app.sync.models import APPOINTMENTS, NOT_SENT, OUTBOX_KIND, PENDING, SENDING, OutboxEntry
from clinic_app.sync.outbox import wake
from clinic_app.sync.outbox_send import Held, deliver, refusal
from clinic_app.sync.writes import ClinikoRefused

log = logging.getLogger("clinic_app.sync.outbox")

FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(minutes=15)
STALE_SENDING = timedelta(minutes=10)
UNREACHABLE = "Cliniko could not be reached; it will be tried again"
WRITES_PER_CHECKPOINT = 20


def retry_after(attempts: int) -> timedelta:
    return min(LONGEST_WAIT, FIRST_RETRY * (2 ** max(attempts - 1, 0)))


@job_function(OUTBOX_KIND, queue="default", timeout=3600, read_permission="sync:read", cancel_permission="sync:run")
def send_outbox(ctx: JobContext, for_organization: str) -> dict[str, Any]:
    """Send every due change of the organization; safe to run twice (entries are claimed)."""
    if get_connection(for_organization) is None:
        return {"organization_id": for_organization, "skipped": True}
    with client_for(for_organization) as client:
        sent, held = drain(for_organization, client)
    return {"organization_id": for_organization, "sent": sent, "held": held}


def drain(organization_id: str, client: ClinikoClient, *, limit: int | None = None) -> tuple[int, int]:
    """Send the organization's due changes (at most ``limit``) with ``client``; (sent, held).
    Stops early when Cliniko cannot be reached. The read-sync calls it at each checkpoint, so the
    writes a person waits for go between its pages rather than after the whole run."""
    connection = get_connection(organization_id)
    sent = held = 0
    while connection is not None and (limit is None or sent + held < limit):
        entry = claim_next(organization_id, utcnow())
        if entry is None:
            break
        entry_id = entry.id
        try:
            deliver(client, entry, connection)
        except ClinikoUnavailable:
            _put_back(entry_id)
            break
        except (Held, ClinikoRefused, ClinikoError) as problem:
            _hold(entry_id, problem)
            held += 1
        else:
            sent += 1
        db.session.commit()
    return sent, held


def send_waiting_writes(organization_id: str, client: ClinikoClient) -> None:
    """``drain`` for the read-sync's checkpoints: a few writes at a time, and never a reason for the
    sync itself to fail (a problem is logged; the entry keeps its state for the sender)."""
    try:
        drain(organization_id, client, limit=WRITES_PER_CHECKPOINT)
    except Exception:
        db.session.rollback()
        log.exception("outbox drain failed", extra={"event": "cliniko_outbox_drain_failed"})


def claim_next(organization_id: str, now: datetime) -> OutboxEntry | None:
    """The oldest due entry nothing earlier blocks, now ``sending`` (committed), or None."""
    candidates = db.session.scalars(
        select(OutboxEntry)
        .where(
            OutboxEntry.organization_id == organization_id,
            OutboxEntry.status == PENDING,
            or_(OutboxEntry.next_attempt_at.is_(None), OutboxEntry.next_attempt_at <= now),
        )
        .order_by(OutboxEntry.created_at, OutboxEntry.id)
        .limit(50)
    ).all()
    for candidate in candidates:
        if _blocked(candidate):
            continue
        claimed = db.session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id == candidate.id, OutboxEntry.status == PENDING)
            .values(status=SENDING, updated_at=now)
        ).rowcount
        db.session.commit()
        if claimed:
            return db.session.get(OutboxEntry, candidate.id, populate_existing=True)
    return None


def _blocked(entry: OutboxEntry) -> bool:
    earlier = or_(
        OutboxEntry.created_at < entry.created_at,
        and_(OutboxEntry.created_at == entry.created_at, OutboxEntry.id < entry.id),
    )
    waiting_for = [entry.local_id]
    if entry.resource == APPOINTMENTS and entry.action == "create":
        appointment = db.session.get(Appointment, entry.local_id)
        if appointment is not None and appointment.patient_id:
            waiting_for.append(appointment.patient_id)
    found = db.session.scalar(
        select(func.count()).where(
            OutboxEntry.organization_id == entry.organization_id,
            OutboxEntry.local_id.in_(waiting_for),
            OutboxEntry.id != entry.id,
            or_(
                and_(OutboxEntry.local_id == entry.local_id, earlier),
                and_(OutboxEntry.local_id != entry.local_id, OutboxEntry.action == "create"),
            ),
        )
    )
    return bool(found)


def _put_back(entry_id: str) -> None:
    db.session.rollback()
    entry = db.session.get(OutboxEntry, entry_id, populate_existing=True)
    if entry is None:
        return
    entry.attempts += 1
    entry.status, entry.next_attempt_at, entry.last_error = PENDING, utcnow() + retry_after(entry.attempts), UNREACHABLE
    db.session.commit()


def _hold(entry_id: str, problem: Exception) -> None:
    db.session.rollback()
    entry = db.session.get(OutboxEntry, entry_id, populate_existing=True)
    if entry is None:
        return
    entry.attempts += 1
    if isinstance(problem, Held):
        entry.status, entry.last_error = problem.status, problem.words
    elif isinstance(problem, ClinikoRefused):
        entry.last_error, entry.field_errors = refusal(problem)
        entry.status = NOT_SENT
    elif isinstance(problem, ClinikoAuthError):
        entry.status, entry.last_error = NOT_SENT, "Cliniko refused the API key: connect Cliniko again"
    else:
        entry.status, entry.last_error = NOT_SENT, str(problem)[:300]
    log.info("outbox entry held", extra={"event": "cliniko_outbox_held", "entry_id": entry.id, "status": entry.status})


@periodic.every_tick("sync.cliniko_outbox")
def outbox_tick(now: datetime | None = None) -> dict[str, Any]:
    """Entries a dead sender left ``sending`` go back (looked up before any resend); every
    organization with a due entry gets its sender. Commits; never raises."""
    now = now or utcnow()
    db.session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.status == SENDING, OutboxEntry.updated_at < now - STALE_SENDING)
        .values(status=PENDING, uncertain=True, updated_at=now)
    )
    due = db.session.scalars(
        select(OutboxEntry.organization_id)
        .where(
            OutboxEntry.status == PENDING,
            or_(OutboxEntry.next_attempt_at.is_(None), OutboxEntry.next_attempt_at <= now),
        )
        .distinct()
    ).all()
    woken = []
    for organization_id in due:
        try:
            wake(organization_id)
            woken.append(organization_id)
        except Exception:  # one organization's trouble (the queue down) must not stop the others
            log.exception("could not wake the outbox", extra={"event": "cliniko_outbox_wake_failed"})
    db.session.commit()
    return {"woken": len(woken)}
