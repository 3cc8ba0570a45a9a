"""Erasing a patient on request (docs/retention.md, "Erasure").

An owner asks (a reason, the patient's full name typed again as the second confirmation); the
request waits the organization's waiting period (``orgs.privacy``, 0-90 days), may be cancelled
meanwhile, and is then carried out once: by the clock (``erasure.due``) or by an owner. Carrying
out sends ``patient_erasing`` inside one transaction: every feature deletes or overwrites what it
holds of the patient except what the law keeps, and the patient's row becomes a tombstone (no
names, no contact details, ``erased_at`` set) that the kept records still point to. The
inventory (what would be erased and what kept, with the reason and until when) is what the
features answer to ``erasure_inventory``. The audit trail keeps the facts (requested,
cancelled, completed, with counts), never a value.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from clinic_app.core import audit, crypto, periodic
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import privacy
from clinic_app.patients import service
from clinic_app.patients.models import ENCRYPTED_FIELDS, ConsentRecord, ErasureRequest, Patient, PatientIdentifier
from clinic_app.patients.signals import ERASE, KEEP, InventoryLine, erasure_inventory, patient_erasing
from clinic_app.patients.validation import name_key

log = logging.getLogger("clinic_app.patients.erasure")

WAITING, CANCELLED, COMPLETED = "waiting", "cancelled", "completed"
STATUS_LABELS = {WAITING: "Waiting", CANCELLED: "Cancelled", COMPLETED: "Carried out"}
REASONS = {
    "patient_request": "The patient asked for their record to be erased",
    "registered_in_error": "Registered in error",
    "duplicate": "A duplicate record",
    "other": "Another reason (see the note)",
}
NOTE_MAX = 500
NOTE_FIELD = "erasure_requests.note"
# What the tombstone shows where a name is needed (invoices, signed reports' lists).
ERASED_FIRST_NAME, ERASED_LAST_NAME = "Erased", "patient"
DUE_BATCH = 20


@dataclass(frozen=True)
class Inventory:
    patient_id: str
    lines: list[InventoryLine]

    @property
    def erased(self) -> list[InventoryLine]:
        return [line for line in self.lines if line.action == ERASE]

    @property
    def kept(self) -> list[InventoryLine]:
        return [line for line in self.lines if line.action == KEEP]


def _own_lines(patient: Patient) -> list[InventoryLine]:
    identifiers = len(
        db.session.scalars(select(PatientIdentifier.id).where(PatientIdentifier.patient_id == patient.id)).all()
    )
    consents = len(db.session.scalars(select(ConsentRecord.id).where(ConsentRecord.patient_id == patient.id)).all())
    lines = [
        InventoryLine("patients", "Names, date of birth, contact details, address, notes and identifiers", 1, ERASE),
        InventoryLine(
            "patients",
            "The record itself, as an anonymous tombstone (status erased, date of erasure)",
            1,
            KEEP,
            "Kept records (signed reports, invoices) must still point to a record; it holds no personal value",
        ),
    ]
    if identifiers:
        lines.append(InventoryLine("patients", "Phone and external id look-ups", identifiers, ERASE))
    if consents:
        lines.append(
            InventoryLine(
                "patients",
                "Consent records (kind, text version, dates; no free text)",
                consents,
                KEEP,
                "Evidence of what the patient agreed to and when",
            )
        )
    return lines


def inventory(organization_id: str, patient_id: str, *, now: datetime | None = None) -> Inventory:
    """What erasing the patient would erase and what it keeps, from every feature. Raises
    NotFound (another organization's patient too) and PatientErased."""
    patient = service.ensure_not_erased(service.get_patient(organization_id, patient_id))
    lines = _own_lines(patient)
    answers = erasure_inventory.send(
        patient, organization_id=organization_id, patient_id=patient.id, now=now or utcnow()
    )
    for _receiver, answer in answers:
        lines.extend(line for line in answer or () if line.count)
    lines.sort(key=lambda line: (line.action != ERASE, line.feature, line.what))
    return Inventory(patient.id, lines)


def _normalised(name: str) -> str:
    return " ".join((name or "").split()).casefold()


def request_erasure(
    organization_id: str,
    patient_id: str,
    *,
    reason: str | None,
    note: str | None,
    confirm_name: str | None,
    actor: audit.Actor,
    now: datetime | None = None,
) -> ErasureRequest:
    """Ask for the patient to be erased after the organization's waiting period. Records
    ``erasure.requested``. Raises NotFound, PatientErased, Invalid (unknown reason, a note over
    500 characters, the typed name not the patient's), Conflict (a request already waits)."""
    patient = service.ensure_not_erased(service.get_patient(organization_id, patient_id))
    errors = []
    if reason not in REASONS:
        errors.append(FieldError("reason", f"Choose one of: {', '.join(REASONS)}.", "UNKNOWN_REASON"))
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        errors.append(FieldError("note", f"Keep the note to {NOTE_MAX} characters.", "TOO_LONG"))
    if reason == "other" and note is None:
        errors.append(FieldError("note", "Say why the record is to be erased.", "MISSING"))
    if _normalised(confirm_name or "") != _normalised(f"{patient.first_name} {patient.last_name}"):
        errors.append(
            FieldError("confirm_name", "Type the patient's first and last name exactly as on the record.", "MISMATCH")
        )
    if errors:
        raise Invalid(errors=errors)
    now = now or utcnow()
    days = privacy.privacy_settings(organization_id).erasure_waiting_days
    request = ErasureRequest(
        organization_id=organization_id,
        patient_id=patient.id,
        open_patient_id=patient.id,
        status=WAITING,
        reason=reason,
        note_enc=crypto.vault_for(organization_id).encrypt(NOTE_FIELD, note),
        waiting_days=days,
        requested_by_id=actor.user_id,
        requested_at=now,
        due_at=now + timedelta(days=days),
    )
    try:
        with db.session.begin_nested():
            db.session.add(request)
    except IntegrityError:  # a request that waits already (two submits at once: one wins)
        raise Conflict("An erasure of this patient is already waiting.") from None
    _record("erasure.requested", request, actor, reason=reason, waiting_days=days, due_at=request.due_at.isoformat())
    return request


def _record(action: str, request: ErasureRequest, actor: audit.Actor, **details: Any) -> None:
    audit.record(
        action,
        organization_id=request.organization_id,
        actor=actor,
        target_type="erasure_request",
        target_id=request.id,
        patient_id=request.patient_id,
        details=details,
    )


def get_request(organization_id: str, request_id: str) -> ErasureRequest:
    """The organization's erasure request. Raises NotFound (another organization's too)."""
    request = db.session.get(ErasureRequest, request_id) if request_id else None
    if request is None or request.organization_id != organization_id:
        raise NotFound("No such erasure request.")
    return request


def requests_of(organization_id: str, patient_id: str) -> list[ErasureRequest]:
    """The patient's erasure requests, newest first."""
    return list(
        db.session.scalars(
            select(ErasureRequest)
            .where(ErasureRequest.organization_id == organization_id, ErasureRequest.patient_id == patient_id)
            .order_by(ErasureRequest.requested_at.desc(), ErasureRequest.id.desc())
        )
    )


def waiting_request(organization_id: str, patient_id: str) -> ErasureRequest | None:
    return db.session.scalar(
        select(ErasureRequest).where(
            ErasureRequest.organization_id == organization_id, ErasureRequest.open_patient_id == patient_id
        )
    )


def cancel_erasure(
    organization_id: str, request_id: str, *, actor: audit.Actor, now: datetime | None = None
) -> ErasureRequest:
    """Cancel a waiting request (one atomic update: a cancel racing a carry-out loses or wins
    whole). Records ``erasure.cancelled``. Raises NotFound, Conflict (no longer waiting)."""
    request = get_request(organization_id, request_id)
    done = db.session.execute(
        update(ErasureRequest)
        .where(ErasureRequest.id == request.id, ErasureRequest.status == WAITING)
        .values(status=CANCELLED, open_patient_id=None, cancelled_at=now or utcnow(), cancelled_by_id=actor.user_id)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise Conflict("This erasure request is no longer waiting.")
    db.session.refresh(request)
    _record("erasure.cancelled", request, actor)
    return request


def carry_out(
    organization_id: str, request_id: str, *, actor: audit.Actor, now: datetime | None = None
) -> ErasureRequest:
    """Erase the patient of a waiting request whose waiting period has passed: claimed by one
    atomic update, so two carry-outs at once (a double submit, the clock and an owner) erase once
    and the other gets Conflict. Everything happens in the caller's transaction: a feature that
    fails to erase rolls all of it back. Records ``erasure.completed`` with counts only. Raises
    NotFound, Conflict (not waiting, or waiting still)."""
    now = now or utcnow()
    request = get_request(organization_id, request_id)
    claimed = db.session.execute(
        update(ErasureRequest)
        .where(ErasureRequest.id == request.id, ErasureRequest.status == WAITING, ErasureRequest.due_at <= now)
        .values(status=COMPLETED, open_patient_id=None, note_enc=None, completed_at=now, completed_by_id=actor.user_id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.refresh(request)
        if request.status == WAITING:
            raise Conflict(f"The waiting period ends on {request.due_at:%d %b %Y, %H:%M} UTC.")
        raise Conflict(f"This erasure request was {STATUS_LABELS[request.status].lower()} already.")
    db.session.refresh(request)
    patient = service.get_patient(organization_id, request.patient_id)
    found = inventory(organization_id, patient.id, now=now)
    patient_erasing.send(patient, organization_id=organization_id, patient_id=patient.id, erased_at=now)
    _tombstone(patient, now)
    request.outcome = [line.as_dict() for line in found.lines]
    db.session.flush()
    _record(
        "erasure.completed",
        request,
        actor,
        erased={f"{line.feature}: {line.what}": line.count for line in found.erased},
        kept={f"{line.feature}: {line.what}": line.count for line in found.kept},
    )
    return request


def _tombstone(patient: Patient, now: datetime) -> None:
    """No personal value left on the row: names replaced by a fixed marker, every encrypted field
    and blind index cleared, the look-up rows deleted."""
    db.session.execute(delete(PatientIdentifier).where(PatientIdentifier.patient_id == patient.id))
    patient.first_name, patient.last_name, patient.preferred_name = ERASED_FIRST_NAME, ERASED_LAST_NAME, None
    patient.first_name_key, patient.last_name_key = name_key(ERASED_FIRST_NAME), name_key(ERASED_LAST_NAME)
    patient.preferred_name_key = None
    for name in ENCRYPTED_FIELDS:
        setattr(patient, f"{name}_enc", None)
    patient.email_bidx = patient.dob_bidx = None
    patient.archived, patient.archived_at = True, patient.archived_at or now
    patient.erased_at = now
    patient.updated_at = now
    db.session.flush()


@periodic.every_tick("erasure.due")
def carry_out_due_erasures(now: datetime) -> dict[str, Any]:
    """The clock's task: carry out the requests whose waiting period has passed, each in its own
    transaction (one that fails is logged and rolled back; the others still run)."""
    due = db.session.execute(
        select(ErasureRequest.id, ErasureRequest.organization_id)
        .where(ErasureRequest.status == WAITING, ErasureRequest.due_at <= now)
        .order_by(ErasureRequest.due_at)
        .limit(DUE_BATCH)
    ).all()
    db.session.commit()
    done, failed = [], []
    for row in due:
        try:
            carry_out(row.organization_id, row.id, actor=audit.Actor(), now=now)
            db.session.commit()
            done.append(row.id)
        except Conflict:
            db.session.rollback()  # carried out or cancelled by someone else meanwhile
        except Exception:
            db.session.rollback()
            log.exception("erasure failed", extra={"event": "erasure_failed", "request_id": row.id})
            failed.append(row.id)
    return {"due": len(due), "completed": done, "failed": failed}


def note_of(request: ErasureRequest) -> str | None:
    """The request's note (None once carried out), for the owner's page."""
    plain = crypto.vault_for(request.organization_id).decrypt(NOTE_FIELD, request.note_enc, target_id=request.id)
    return plain if isinstance(plain, str) else None
