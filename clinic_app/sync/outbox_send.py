"""Sending one outbox entry to Cliniko (``deliver``), and what the record learns from the answer.

* A create carries a marker (a patient's ``old_reference_id`` is our id; an appointment is known
  by its patient, practitioner and start) and is committed as ``uncertain`` before it is sent, so a
  send whose answer was lost (a timeout, a cut connection, a 5xx, or this process dying) is looked
  up before it is sent again: never twice blindly.
* An update first reads Cliniko's copy: changed there since our read (a newer ``updated_at`` and
  different content from what we stored) is a **conflict**, held for a person to settle.
* Every write sent is audited (``cliniko.write_sent``) with the Cliniko fields named, never values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from clinic_app.appointments.models import CANCELLATION_REASON_FIELD, NOTES_FIELD, Appointment, Practitioner
from clinic_app.appointments.models import AppointmentType as Kind
from clinic_app.core import audit, crypto
from clinic_app.core.time import local_today, organization_zone
from clinic_app.extensions import db
from clinic_app.figures.signals import figures_changed
from clinic_app.patients import service as patients
from clinic_app.patients.models import Patient
from clinic_app.patients.storage import view_of
from clinic_app.sync import free_times, mapping, outbound
from clinic_app.sync.client import ClinikoClient
from clinic_app.sync.cliniko import ClinikoUnavailable
from clinic_app.sync.models import APPOINTMENTS, CONFLICT, NOT_SENT, PATIENTS, ClinikoConnection, ClinikoLink
from clinic_app.sync.models import OutboxEntry as Entry
from clinic_app.sync.writes import ClinikoRefused, ClinikoUncertain, backoff, write


class Held(Exception):
    """The entry cannot be sent as it stands; ``status`` (failed or conflict) and words say why."""

    def __init__(self, status: str, words: str) -> None:
        super().__init__(words)
        self.status, self.words = status, words


def deliver(client: ClinikoClient, entry: Entry, connection: ClinikoConnection) -> None:
    """Send one entry. On success the entry is deleted; ``Held`` and ``ClinikoRefused`` mark it for a
    person; ``ClinikoUnavailable`` (and its kin) leave it for a later attempt (the job decides)."""
    if entry.resource == PATIENTS:
        _patient(client, entry, connection)
    else:
        _appointment(client, entry, connection)
    db.session.delete(entry)


def _audit(entry: Entry, fields: list[str], cliniko_id: str | None) -> None:
    audit.record(
        "cliniko.write_sent",
        organization_id=entry.organization_id,
        actor=audit.Actor(user_id=entry.created_by_id),
        target_type="patient" if entry.resource == PATIENTS else "appointment",
        target_id=entry.local_id,
        details={"action": entry.action, "fields": sorted(fields), "cliniko_id": cliniko_id},
    )


def _create(client: ClinikoClient, entry: Entry, path: str, body: dict, find: Callable[[], dict | None]) -> dict:
    """POST once; after an unclear answer look the record up before sending again."""
    attempt = 0
    while True:
        attempt += 1
        if entry.uncertain:
            found = find()
            if found is not None:
                return found
        entry.uncertain = True
        db.session.commit()  # written ahead: if the answer is lost, the next attempt looks first
        try:
            created = write(client, "POST", path, body, idempotent=False)
        except ClinikoUncertain:
            if attempt > client.max_retries:
                raise
            backoff(client, attempt)
            continue
        if created is None or not created.get("id"):
            raise ClinikoUncertain(f"Cliniko's answer to POST {path} did not include the new record.")
        return created


# -- patients -----------------------------------------------------------------------------------


def _patient(client: ClinikoClient, entry: Entry, connection: ClinikoConnection) -> None:
    patient = db.session.get(Patient, entry.local_id)
    if patient is None or patient.organization_id != entry.organization_id:
        return  # the record is gone here: nothing left to send
    vault = crypto.vault_for(entry.organization_id)
    link = _patient_link(entry)
    if entry.action == "create":
        if link is not None:
            return  # already in Cliniko (sent earlier, or found by the sync)
        body = outbound.patient_body(view_of(patient, vault), None, send_notes=connection.send_patient_notes)
        body["old_reference_id"] = patient.id
        record = _create(client, entry, "patients", body, lambda: _find_patient(client, patient.id))
        link = _patient_link(entry)  # a read-sync may have linked it meanwhile (``adopt``)
        if link is None:
            link = ClinikoLink(organization_id=entry.organization_id, resource=PATIENTS, local_id=patient.id,
                               cliniko_id=str(record["id"]))  # fmt: skip
            db.session.add(link)
        remember(link, record, entry.organization_id)
        _audit(entry, sorted(body), link.cliniko_id)
        # Waiting -> synced: the dashboard's count of synced patients changed.
        figures_changed.send(__name__, organization_id=entry.organization_id, patient_ids=[patient.id])
        if patient.archived:
            write(client, "POST", f"patients/{link.cliniko_id}/archive", idempotent=True)
        return
    if link is None:
        raise Held(NOT_SENT, "this patient is not in Cliniko")
    if entry.action in ("archive", "unarchive"):
        write(client, "POST", f"patients/{link.cliniko_id}/{entry.action}", idempotent=True)
        _audit(entry, ["archived_at"], link.cliniko_id)
        return
    remote = client.get(f"patients/{link.cliniko_id}")
    if _changed_there(link, remote, entry.organization_id):
        entry.remote_updated_at = mapping.parse_time(remote.get("updated_at"))
        raise Held(CONFLICT, "changed in Cliniko after our last read")
    body = outbound.patient_body(view_of(patient, vault), set(entry.fields), send_notes=connection.send_patient_notes)
    if body:
        record = write(client, "PATCH", f"patients/{link.cliniko_id}", body, idempotent=True)
        if record is not None:
            remember(link, record, entry.organization_id)
        _audit(entry, sorted(body), link.cliniko_id)


def _patient_link(entry: Entry) -> ClinikoLink | None:
    return db.session.scalar(
        select(ClinikoLink).where(
            ClinikoLink.organization_id == entry.organization_id,
            ClinikoLink.resource == PATIENTS,
            ClinikoLink.local_id == entry.local_id,
        )
    )


def _find_patient(client: ClinikoClient, marker: str) -> dict | None:
    found = client.get("patients", [("q[]", f"old_reference_id:={marker}"), ("q[]", "archived_at:*")])
    items = found.get("patients") or []
    return items[0] if items else None


def _hash(record: dict, organization_id: str) -> str | None:
    try:
        mapped = mapping.map_patient(
            record,
            region=patients.organization_region(organization_id),
            today=local_today(organization_zone(organization_id)),
        )
    except mapping.MappingError:
        return None
    return mapping.content_hash(crypto.vault_for(organization_id), mapped.hash_basis())


def remember(link: ClinikoLink, record: dict, organization_id: str) -> None:
    """What Cliniko holds now is what we last read: the next sync finds it unchanged."""
    link.source_updated_at = mapping.parse_time(record.get("updated_at"))
    link.content_hash = _hash(record, organization_id)


def _changed_there(link: ClinikoLink, remote: dict, organization_id: str) -> bool:
    theirs = mapping.parse_time(remote.get("updated_at"))
    if theirs is None or link.source_updated_at is None or theirs <= link.source_updated_at:
        return False
    return link.content_hash is None or _hash(remote, organization_id) != link.content_hash


# -- appointments -------------------------------------------------------------------------------


def _appointment(client: ClinikoClient, entry: Entry, connection: ClinikoConnection) -> None:
    appointment = db.session.get(Appointment, entry.local_id)
    if appointment is None or appointment.organization_id != entry.organization_id:
        return
    if entry.action == "create":
        if appointment.cliniko_id is None:
            _book(client, entry, appointment, connection)
        return
    if appointment.cliniko_id is None:
        raise Held(NOT_SENT, "this appointment is not in Cliniko")
    path = f"individual_appointments/{appointment.cliniko_id}"
    if entry.action == "cancel":
        vault = crypto.vault_for(entry.organization_id)
        reason = vault.decrypt(CANCELLATION_REASON_FIELD, appointment.cancellation_reason_enc, target_id=appointment.id)
        code, note = outbound.reason_code(reason if isinstance(reason, str) else None)
        body = {"cancellation_reason": code, "cancellation_note": note}
        write(client, "PATCH", f"{path}/cancel", body, idempotent=True)
        _audit(entry, sorted(body), appointment.cliniko_id)
        return
    body = _slot(appointment)
    record = write(client, "PATCH", path, body, idempotent=True)
    if record is not None:
        appointment.source_updated_at = mapping.parse_time(record.get("updated_at"))
    free_times.forget(entry.organization_id)
    _audit(entry, sorted(body), appointment.cliniko_id)


def _slot(appointment: Appointment) -> dict[str, Any]:
    practitioner = db.session.get(Practitioner, appointment.practitioner_id) if appointment.practitioner_id else None
    kind = db.session.get(Kind, appointment.appointment_type_id) if appointment.appointment_type_id else None
    if practitioner is None or practitioner.cliniko_id is None or kind is None or kind.cliniko_id is None:
        raise Held(NOT_SENT, "the practitioner or appointment type is not one of Cliniko's")
    ends_at = appointment.ends_at or appointment.starts_at + timedelta(minutes=kind.duration_minutes or 30)
    return {
        "practitioner_id": practitioner.cliniko_id,
        "appointment_type_id": kind.cliniko_id,
        "starts_at": outbound.moment(appointment.starts_at),
        "ends_at": outbound.moment(ends_at),
    }


def _book(client: ClinikoClient, entry: Entry, appointment: Appointment, connection: ClinikoConnection) -> None:
    link = db.session.scalar(
        select(ClinikoLink).where(
            ClinikoLink.organization_id == entry.organization_id,
            ClinikoLink.resource == PATIENTS,
            ClinikoLink.local_id == (appointment.patient_id or ""),
        )
    )
    if link is None:
        raise Held(NOT_SENT, "the patient is not in Cliniko yet")
    business = appointment.business_cliniko_id or next(
        (str(row.get("id")) for row in connection.businesses or [] if row.get("id")), None
    )
    if business is None:
        raise Held(NOT_SENT, "Cliniko lists no business to book at")
    vault = crypto.vault_for(entry.organization_id)
    notes = vault.decrypt(NOTES_FIELD, appointment.notes_enc, target_id=appointment.id)
    body = {**_slot(appointment), "patient_id": link.cliniko_id, "business_id": business}
    if isinstance(notes, str) and notes:
        body["notes"] = notes

    def find() -> dict | None:
        params = [("q[]", f"patient_id:={link.cliniko_id}"), ("q[]", f"practitioner_id:={body['practitioner_id']}"),
                  ("q[]", f"starts_at:>={body['starts_at']}"), ("q[]", f"starts_at:<={body['starts_at']}")]  # fmt: skip
        items = client.get(APPOINTMENTS, params).get(APPOINTMENTS) or []
        return items[0] if items else None

    record = _create(client, entry, APPOINTMENTS, body, find)
    appointment.cliniko_id = str(record["id"])
    appointment.patient_cliniko_id, appointment.business_cliniko_id = link.cliniko_id, business
    appointment.source_updated_at = mapping.parse_time(record.get("updated_at"))
    appointment.content_hash = None  # the next sync looks at it once and stores its hash
    free_times.forget(entry.organization_id)
    _audit(entry, sorted(body), appointment.cliniko_id)


def refusal(error: ClinikoRefused) -> tuple[str, list[dict[str, str]]]:
    """The words and the per-field errors (our form's field names) of a 422."""
    fields = [{"field": outbound.FORM_FIELD.get(name, name), "message": words} for name, words in error.errors]
    named = "; ".join(f"{item['field'].replace('_', ' ')} {item['message']}" for item in fields)
    return f"Cliniko refused it ({named or 'no reason given'})", fields


__all__ = ["ClinikoUnavailable", "Held", "deliver", "refusal"]
