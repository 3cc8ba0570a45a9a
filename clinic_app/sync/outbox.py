"""The Cliniko outbox: changes made here, for a clinic connected to Cliniko, written in the same
transaction as the change and sent afterwards by the job ``sync.cliniko_outbox`` (``outbox_job``).

What goes in (the receivers below; the lower features send the signals and import none of this):

* a patient registered here (intake, form, API) -> ``create``; edited -> ``update`` of the changed
  fields (two edits still waiting go as one); archived / restored -> ``archive`` / ``unarchive``;
* an appointment booked here -> ``create`` (preceded by the patient's ``create`` when the patient
  is not in Cliniko yet); moved -> ``move``; cancelled -> ``cancel``.

An entry names the record and the changed fields, never their values. Each record shows where it
stands (``record_status``): "in Cliniko", "sending…", "not sent: <reason>" (with a retry), or a
conflict to resolve; the Sync page lists what is pending and what failed (``open_entries``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from clinic_app.appointments.models import Appointment
from clinic_app.appointments.signals import appointments_changed
from clinic_app.core import audit
from clinic_app.core.errors import Conflict, NotFound, Unavailable
from clinic_app.core.jobs import QUEUED, Job, enqueue
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.patients.signals import patient_changed, patient_edited
from clinic_app.sync.connection import get_connection
from clinic_app.sync.models import (
    APPOINTMENTS,
    CONFLICT,
    NOT_SENT,
    OUTBOX_KIND,
    PATIENTS,
    PENDING,
    SENDING,
    ClinikoLink,
    OutboxEntry,
)

log = logging.getLogger("clinic_app.sync.outbox")

PATIENT_ACTIONS = {"registered": "create", "archived": "archive", "restored": "unarchive"}
APPOINTMENT_ACTIONS = {"booked": "create", "rescheduled": "move", "cancelled": "cancel"}
_QUIET = "cliniko_outbox_quiet"


@contextmanager
def quiet() -> Iterator[None]:
    """Changes made inside are not sent to Cliniko (they came from it: a conflict settled its way)."""
    previous = db.session.info.get(_QUIET)
    db.session.info[_QUIET] = True
    try:
        yield
    finally:
        db.session.info[_QUIET] = previous


def _connected(organization_id: str) -> bool:
    return not db.session.info.get(_QUIET) and get_connection(organization_id) is not None


def linked_cliniko_id(organization_id: str, resource: str, local_id: str) -> str | None:
    """Cliniko's id of one of our records, or None when Cliniko does not hold it (yet)."""
    if resource == APPOINTMENTS:
        appointment = db.session.get(Appointment, local_id)
        return appointment.cliniko_id if appointment is not None else None
    return db.session.scalar(
        select(ClinikoLink.cliniko_id).where(
            ClinikoLink.organization_id == organization_id,
            ClinikoLink.resource == resource,
            ClinikoLink.local_id == local_id,
        )
    )


def _open_create(organization_id: str, local_id: str) -> bool:
    return bool(
        db.session.scalar(
            select(func.count()).where(
                OutboxEntry.organization_id == organization_id,
                OutboxEntry.local_id == local_id,
                OutboxEntry.action == "create",
            )
        )
    )


def record_change(
    organization_id: str,
    resource: str,
    local_id: str,
    action: str,
    fields: list[str] | None = None,
    *,
    user_id: str | None = None,
) -> OutboxEntry | None:
    """Put one change in the outbox (this transaction) and wake the sender once it commits."""
    if action == "update":
        waiting = db.session.scalar(
            select(OutboxEntry).where(
                OutboxEntry.organization_id == organization_id,
                OutboxEntry.local_id == local_id,
                OutboxEntry.action == "update",
                OutboxEntry.status == PENDING,
                OutboxEntry.attempts == 0,
            )
        )
        if waiting is not None:
            waiting.fields = sorted({*waiting.fields, *(fields or [])})
            return waiting
    entry = OutboxEntry(
        organization_id=organization_id,
        resource=resource,
        local_id=local_id,
        action=action,
        fields=sorted(fields or []),
        status=PENDING,
        field_errors=[],
        created_by_id=user_id,
    )
    db.session.add(entry)
    db.session.flush()
    wake(organization_id)
    return entry


def wake(organization_id: str) -> None:
    """Queue the sender for the organization after this transaction commits, unless one is already
    queued (a running one looks again before it stops, so nothing waits for the next tick)."""
    queued = db.session.scalar(
        select(func.count()).where(
            Job.kind == OUTBOX_KIND, Job.organization_id == organization_id, Job.status == QUEUED
        )
    )
    if not queued:
        try:
            enqueue(OUTBOX_KIND, organization_id=organization_id, for_organization=organization_id)
        except Unavailable:  # the queue is down: the entry is kept, and the clock wakes the sender later
            log.warning("outbox sender not queued", extra={"event": "cliniko_outbox_not_queued"})


@patient_changed.connect
def _patient_changed(sender: Any, *, organization_id: str, patient_id: str, change: str, **_: Any) -> None:
    action = PATIENT_ACTIONS.get(change)
    if action is None or not _connected(organization_id):
        return
    if action != "create" and not _in_or_going_to_cliniko(organization_id, PATIENTS, patient_id):
        return  # registered before the clinic connected: nothing in Cliniko to archive
    record_change(organization_id, PATIENTS, patient_id, action, user_id=getattr(sender, "updated_by_id", None))


@patient_edited.connect
def _patient_edited(sender: Any, *, organization_id: str, patient_id: str, fields: list[str], **_: Any) -> None:
    if not fields or not _connected(organization_id):
        return
    user_id = getattr(sender, "updated_by_id", None)
    if _in_or_going_to_cliniko(organization_id, PATIENTS, patient_id):
        record_change(organization_id, PATIENTS, patient_id, "update", fields, user_id=user_id)
    else:  # a patient of ours Cliniko never had: the edit is the moment to send the whole record
        record_change(organization_id, PATIENTS, patient_id, "create", user_id=user_id)


@appointments_changed.connect
def _appointment_changed(
    sender: Any, *, organization_id: str, appointment_id: str | None = None, change: str | None = None, **_: Any
) -> None:
    action = APPOINTMENT_ACTIONS.get(change or "")
    if action is None or appointment_id is None or not _connected(organization_id):
        return
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None:
        return
    if action == "create":
        patient_id = appointment.patient_id
        if patient_id and not _in_or_going_to_cliniko(organization_id, PATIENTS, patient_id):
            record_change(organization_id, PATIENTS, patient_id, "create")
    elif not _in_or_going_to_cliniko(organization_id, APPOINTMENTS, appointment_id):
        return  # booked before the clinic connected: it lives here only
    record_change(organization_id, APPOINTMENTS, appointment_id, action)


def _in_or_going_to_cliniko(organization_id: str, resource: str, local_id: str) -> bool:
    return linked_cliniko_id(organization_id, resource, local_id) is not None or _open_create(organization_id, local_id)


# -- where a record stands ------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordStatus:
    state: str  # "in_cliniko", "sending", "failed", "conflict", "local"
    words: str
    entry: OutboxEntry | None = None

    @property
    def retryable(self) -> bool:
        return self.state == "failed"


def record_status(organization_id: str, resource: str, local_id: str) -> RecordStatus | None:
    """Where the record stands with Cliniko; None when the clinic is not connected."""
    if get_connection(organization_id) is None:
        return None
    entries = list(
        db.session.scalars(
            select(OutboxEntry)
            .where(OutboxEntry.organization_id == organization_id, OutboxEntry.local_id == local_id)
            .order_by(OutboxEntry.created_at, OutboxEntry.id)
        )
    )
    for entry in entries:
        if entry.status == CONFLICT:
            return RecordStatus("conflict", "changed in Cliniko too: choose which version to keep", entry)
    for entry in entries:
        if entry.status == NOT_SENT:
            return RecordStatus("failed", f"not sent: {entry.last_error or 'Cliniko refused it'}", entry)
    if entries:
        return RecordStatus("sending", "sending…", entries[0])
    if linked_cliniko_id(organization_id, resource, local_id) is not None:
        return RecordStatus("in_cliniko", "in Cliniko")
    return RecordStatus("local", "only here (not sent to Cliniko)")


def open_entries(organization_id: str, *, limit: int = 100) -> list[OutboxEntry]:
    """What is waiting or failed, oldest first (the Sync page's list)."""
    return list(
        db.session.scalars(
            select(OutboxEntry)
            .where(OutboxEntry.organization_id == organization_id)
            .order_by(OutboxEntry.created_at, OutboxEntry.id)
            .limit(limit)
        )
    )


def counts(organization_id: str) -> dict[str, int]:
    """Entries by status, and how many patients are waiting to be created in Cliniko."""
    rows = db.session.execute(
        select(OutboxEntry.status, func.count())
        .where(OutboxEntry.organization_id == organization_id)
        .group_by(OutboxEntry.status)
    ).all()
    found = {status: int(number) for status, number in rows}
    waiting_patients = db.session.scalar(
        select(func.count(func.distinct(OutboxEntry.local_id))).where(
            OutboxEntry.organization_id == organization_id,
            OutboxEntry.resource == PATIENTS,
            OutboxEntry.action == "create",
        )
    )
    return {
        "pending": found.get(PENDING, 0) + found.get(SENDING, 0),
        "failed": found.get(NOT_SENT, 0),
        "conflicts": found.get(CONFLICT, 0),
        "patients_waiting": int(waiting_patients or 0),
    }


def retry(organization_id: str, entry_id: str, *, actor: audit.Actor, now: datetime | None = None) -> OutboxEntry:
    """Send a failed change again (after the record was corrected). Raises NotFound or Conflict."""
    entry = db.session.get(OutboxEntry, entry_id)
    if entry is None or entry.organization_id != organization_id:
        raise NotFound("No such change waiting for Cliniko.")
    if entry.status != NOT_SENT:
        raise Conflict("This change is not waiting for a retry.")
    entry.status, entry.next_attempt_at, entry.field_errors = PENDING, now or utcnow(), []
    audit.record(
        "cliniko.write_retried",
        organization_id=organization_id,
        actor=actor,
        target_type="cliniko_outbox",
        target_id=entry.id,
        details={"resource": entry.resource, "action": entry.action},
    )
    db.session.flush()
    wake(organization_id)
    return entry
