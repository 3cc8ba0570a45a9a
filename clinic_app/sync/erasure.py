"""What erasing a patient removes of the Cliniko two-way sync (``patients.signals``): every change
of the patient, and of their appointments, still waiting in the outbox is deleted, so nothing of
the tombstone is sent to Cliniko. The link from the Cliniko record to the tombstone (Cliniko's id
and a keyed hash, no value) stays, so a sync recognises the record rather than importing it as
a new patient; its hash becomes ``upsert.ERASED`` (as does that of each of the patient's
appointments from Cliniko), so later syncs leave the tombstone and those appointments as they are
and bring in no new appointment of theirs: Cliniko's copy is the clinic's to erase there (the
inventory says so)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from clinic_app.appointments.models import Appointment
from clinic_app.extensions import db
from clinic_app.patients.signals import ERASE, KEEP, InventoryLine, erasure_inventory, patient_erasing
from clinic_app.sync.models import APPOINTMENTS, PATIENTS, ClinikoLink, OutboxEntry
from clinic_app.sync.upsert import ERASED


def _entries(organization_id: str, patient_id: str) -> Any:
    appointments = select(Appointment.id).where(Appointment.patient_id == patient_id)
    return (
        OutboxEntry.organization_id == organization_id,
        or_(
            (OutboxEntry.resource == PATIENTS) & (OutboxEntry.local_id == patient_id),
            (OutboxEntry.resource == APPOINTMENTS) & OutboxEntry.local_id.in_(appointments),
        ),
    )


@erasure_inventory.connect
def sync_inventory(_sender: Any, *, organization_id: str, patient_id: str, **_: Any) -> list[InventoryLine]:
    waiting = db.session.scalar(
        select(func.count()).select_from(OutboxEntry).where(*_entries(organization_id, patient_id))
    )
    links = db.session.scalar(
        select(func.count()).where(
            ClinikoLink.organization_id == organization_id,
            ClinikoLink.resource == "patients",
            ClinikoLink.local_id == patient_id,
        )
    )
    return [
        InventoryLine("sync", "Changes waiting to be sent to Cliniko", waiting or 0, ERASE),
        InventoryLine(
            "sync",
            "Link to the Cliniko record (Cliniko's id only)",
            links or 0,
            KEEP,
            "So a sync does not import the patient again; Cliniko's own copy must be erased in Cliniko",
        ),
    ]


@patient_erasing.connect
def erase_outbox(_sender: Any, *, organization_id: str, patient_id: str, erased_at: datetime, **_: Any) -> None:
    db.session.execute(
        delete(OutboxEntry).where(*_entries(organization_id, patient_id)).execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(ClinikoLink)
        .where(
            ClinikoLink.organization_id == organization_id,
            ClinikoLink.resource == PATIENTS,
            ClinikoLink.local_id == patient_id,
        )
        .values(content_hash=ERASED)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Appointment)
        .where(
            Appointment.organization_id == organization_id,
            Appointment.patient_id == patient_id,
            Appointment.cliniko_id.is_not(None),
        )
        .values(content_hash=ERASED)
        .execution_options(synchronize_session=False)
    )
