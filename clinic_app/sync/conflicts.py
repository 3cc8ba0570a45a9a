"""Conflicts: an edit made here to a patient whose Cliniko copy changed after our last read is held
(``outbox_send``), never written over Cliniko's. A person sees both versions of each field the
edit touched (``compare``) and chooses (``resolve``):

* ``ours``: our version is sent (Cliniko's newer copy is taken as read, so the send goes ahead);
* ``theirs``: Cliniko's values of those fields are written here (and not sent back), the edit dropped.

Either way both sides hold the chosen values afterwards. Audited ``cliniko.conflict_resolved``
with the choice and the field names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from clinic_app.core import audit, crypto
from clinic_app.core.crypto import Unreadable
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.time import local_today, organization_zone
from clinic_app.extensions import db
from clinic_app.patients import service as patients
from clinic_app.patients.storage import view_of
from clinic_app.sync import mapping
from clinic_app.sync.connection import client_for
from clinic_app.sync.models import CONFLICT, PATIENTS, PENDING, ClinikoLink, OutboxEntry
from clinic_app.sync.outbox import quiet, wake
from clinic_app.sync.outbox_send import remember

LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "preferred_name": "Preferred name",
    "date_of_birth": "Date of birth",
    "sex": "Sex",
    "gender": "Gender",
    "phones": "Phone numbers",
    "email": "E-mail",
    "address": "Address",
    "emergency_contact": "Emergency contact",
    "notes": "Notes",
}
CHOICES = ("ours", "theirs")


@dataclass(frozen=True)
class FieldVersions:
    field: str
    label: str
    ours: str
    theirs: str

    @property
    def differ(self) -> bool:
        return self.ours != self.theirs


def _conflict(organization_id: str, entry_id: str) -> tuple[OutboxEntry, ClinikoLink]:
    entry = db.session.get(OutboxEntry, entry_id)
    if entry is None or entry.organization_id != organization_id or entry.resource != PATIENTS:
        raise NotFound("No such change waiting for Cliniko.")
    if entry.status != CONFLICT:
        raise Conflict("This change is not held as a conflict.")
    link = db.session.scalar(
        select(ClinikoLink).where(
            ClinikoLink.organization_id == organization_id,
            ClinikoLink.resource == PATIENTS,
            ClinikoLink.local_id == entry.local_id,
        )
    )
    if link is None:
        raise Conflict("This patient is not linked to Cliniko any more.")
    return entry, link


def _theirs(organization_id: str, link: ClinikoLink) -> tuple[dict, mapping.MappedPatient]:
    with client_for(organization_id) as client:
        remote = client.get(f"patients/{link.cliniko_id}")
    mapped = mapping.map_patient(
        remote,
        region=patients.organization_region(organization_id),
        today=local_today(organization_zone(organization_id)),
    )
    return remote, mapped


def _shown(value: Any) -> str:
    if isinstance(value, Unreadable):
        return "(unreadable)"
    if value is None or value in ((), {}, ""):
        return "—"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return ", ".join(f"{getattr(item, 'type', '')} {getattr(item, 'number', item)}".strip() for item in value)
    if isinstance(value, dict):
        return ", ".join(str(part) for part in value.values() if part)
    return str(value)


def compare(organization_id: str, entry_id: str, *, actor: audit.Actor) -> tuple[OutboxEntry, list[FieldVersions]]:
    """Both versions of each field the held edit touched (reads Cliniko's copy now)."""
    entry, link = _conflict(organization_id, entry_id)
    _, mapped = _theirs(organization_id, link)
    patient = patients.get_patient(organization_id, entry.local_id)
    view = view_of(patient, crypto.vault_for(organization_id))
    audit.record(
        "patient.viewed",
        organization_id=organization_id,
        actor=actor,
        target_type="patient",
        target_id=patient.id,
        patient_id=patient.id,
        details={"channel": "cliniko_conflict"},
    )
    rows = [
        FieldVersions(name, LABELS.get(name, name), _shown(getattr(view, name)), _shown(getattr(mapped.data, name)))
        for name in entry.fields
        if name in LABELS
    ]
    return entry, rows


def resolve(organization_id: str, entry_id: str, choice: str, *, actor: audit.Actor) -> str:
    """Settle a conflict with ``choice`` ("ours" or "theirs"); returns the patient's id."""
    if choice not in CHOICES:
        raise Invalid(errors=[FieldError("choice", "Choose which version to keep.")])
    entry, link = _conflict(organization_id, entry_id)
    remote, mapped = _theirs(organization_id, link)
    patient_id, fields = entry.local_id, list(entry.fields)
    if choice == "ours":
        remember(link, remote, organization_id)  # Cliniko's copy now counts as read: the send goes ahead
        entry.status, entry.next_attempt_at, entry.last_error, entry.uncertain = PENDING, None, None, False
        wake(organization_id)
    else:
        data = dataclasses.replace(mapped.data, provided=frozenset(name for name in fields if name in LABELS))
        with quiet():
            patients.update_patient(organization_id, patient_id, data, actor=actor)
        remember(link, remote, organization_id)
        db.session.delete(entry)
    audit.record(
        "cliniko.conflict_resolved",
        organization_id=organization_id,
        actor=actor,
        target_type="patient",
        target_id=patient_id,
        patient_id=patient_id,
        details={"choice": choice, "fields": sorted(fields)},
    )
    db.session.flush()
    return patient_id
