"""Patient records: register, change, archive, read, and find possible duplicates.

Every function takes the organization explicitly and scopes every read and write to it: another
organization's patient is ``NotFound``, exactly like one that does not exist. Writes only flush;
the request (or job, or CLI command) commits. Every read or change of a record writes an audit
event naming the patient and, for changes, the changed field names — never a value.

The intake flow and the Cliniko sync reuse this module: ``validate_for`` + ``create_patient`` to
register, ``possible_duplicates`` before doing so, ``find_by_external_id`` to match a synced record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from clinic_app.accounts.models import User
from clinic_app.auth.models import ApiToken
from clinic_app.core import audit, crypto, text
from clinic_app.core import time as clock
from clinic_app.core.audit import AuditEvent
from clinic_app.core.errors import DomainError, NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.patients.models import ENCRYPTED_FIELDS, Patient, PatientIdentifier
from clinic_app.patients.search import PatientPage, search_patients
from clinic_app.patients.signals import patient_changed, patient_edited
from clinic_app.patients.storage import (
    PHONE_KIND,
    PatientRow,
    PatientView,
    external_kind,
    identifier_field,
    identifier_rows,
    plaintext_of,
    replace_identifiers,
    view_of,
    write_fields,
)
from clinic_app.patients.validation import (
    FIELDS,
    PatientInput,
    Phone,
    name_key,
    normalise_email,
    validate_patient_input,
)

__all__ = [
    "DuplicateMatch",
    "PatientErased",
    "PatientInput",
    "PatientPage",
    "PatientRow",
    "PatientView",
    "Phone",
    "Viewer",
    "archive_patient",
    "create_patient",
    "ensure_not_erased",
    "find_by_external_id",
    "get_patient",
    "local_today",
    "organization_region",
    "patient_viewers",
    "possible_duplicates",
    "search_patients",
    "unarchive_patient",
    "update_patient",
    "validate_for",
    "validate_patient_input",
    "view_patient",
]

NOT_FOUND = "No such patient."


class PatientErased(DomainError):
    """The patient was erased: their record is gone for good (410), only what the law keeps
    remains (signed reports, invoices; docs/retention.md, "Erasure")."""

    status = 410
    title = "Gone"


def ensure_not_erased(patient: Patient) -> Patient:
    """``patient``, unless they were erased (PatientErased): nothing new is written for a tombstone."""
    if patient.erased_at is not None:
        raise PatientErased(f"This patient's record was erased on {patient.erased_at:%d %b %Y}.")
    return patient


def organization_region(organization_id: str) -> str:
    """The two-letter region local phone numbers are read in."""
    return orgs.get_organization(organization_id).region or "AU"


def local_today(organization_id: str) -> date:
    """Today's date in the organization's time zone (what "in the future" means for a birth date)."""
    return clock.local_today(clock.organization_zone(organization_id))


def validate_for(organization_id: str, raw: Mapping[str, Any], *, partial: bool = False) -> PatientInput:
    """``validate_patient_input`` with the organization's region and local date. Raises Invalid."""
    return validate_patient_input(
        raw, organization_region(organization_id), partial=partial, today=local_today(organization_id)
    )


def get_patient(organization_id: str, patient_id: str) -> Patient:
    """The organization's patient. Raises NotFound for an unknown id or another organization's."""
    # An id with a control character names nothing (and PostgreSQL cannot even compare it).
    patient = db.session.get(Patient, patient_id) if patient_id and not text.unusable(patient_id) else None
    if patient is None or patient.organization_id != organization_id:
        raise NotFound(NOT_FOUND)
    return patient


def create_patient(organization_id: str, data: PatientInput, *, actor: audit.Actor) -> Patient:
    """Register a patient from validated values; records ``patient.created``."""
    vault = crypto.vault_for(organization_id)
    patient = Patient(organization_id=organization_id, created_by_id=actor.user_id, updated_by_id=actor.user_id)
    write_fields(patient, data, vault, FIELDS)
    db.session.add(patient)
    db.session.flush()
    for row in identifier_rows(patient.id, organization_id, data, vault):
        db.session.add(PatientIdentifier(**row))
    db.session.flush()
    audit.record(
        "patient.created",
        organization_id=organization_id,
        actor=actor,
        target_type="patient",
        target_id=patient.id,
        patient_id=patient.id,
    )
    _announce(patient, "registered")
    return patient


def _announce(patient: Patient, change: str) -> None:
    """A registration or an archive changes what the dashboard counts and the patient's stored
    figures (activity, re-engagement risk: docs/rules.md): ``patient_changed`` tells the features
    that keep them (they recompute that one patient now, in this transaction, rather than leaving
    it to the next sync or booking)."""
    patient_changed.send(patient, organization_id=patient.organization_id, patient_id=patient.id, change=change)


def _changed_fields(patient: Patient, data: PatientInput, vault: crypto.Vault) -> list[str]:
    changed = []
    for name in sorted(data.provided):
        if name in ("first_name", "last_name", "preferred_name"):
            if getattr(patient, name) != getattr(data, name):
                changed.append(name)
            continue
        current = vault.decrypt(ENCRYPTED_FIELDS[name], getattr(patient, f"{name}_enc"), target_id=patient.id)
        if current != plaintext_of(data, name):  # an unreadable value always counts as changed
            changed.append(name)
    return changed


def update_patient(organization_id: str, patient_id: str, data: PatientInput, *, actor: audit.Actor) -> list[str]:
    """Write the fields ``data.provided`` names (others keep their stored value, readable or not).
    Returns the names of the fields that changed; records ``patient.updated`` with those names.
    Raises NotFound."""
    patient = ensure_not_erased(get_patient(organization_id, patient_id))
    vault = crypto.vault_for(organization_id)
    changed = _changed_fields(patient, data, vault)
    if changed:
        write_fields(patient, data, vault, set(changed))
        replace_identifiers(patient, data, vault, set(changed))
        patient.updated_by_id = actor.user_id
        patient.updated_at = utcnow()
        db.session.flush()
        patient_edited.send(patient, organization_id=organization_id, patient_id=patient.id, fields=changed)
    audit.record(
        "patient.updated",
        organization_id=organization_id,
        actor=actor,
        target_type="patient",
        target_id=patient.id,
        patient_id=patient.id,
        details={"fields": changed},
    )
    return changed


def _set_archived(organization_id: str, patient_id: str, archived: bool, actor: audit.Actor) -> Patient:
    patient = ensure_not_erased(get_patient(organization_id, patient_id))
    if patient.archived == archived:
        return patient  # already so: nothing to change or record
    patient.archived = archived
    patient.archived_at = utcnow() if archived else None
    patient.updated_by_id = actor.user_id
    db.session.flush()
    audit.record(
        "patient.archived" if archived else "patient.unarchived",
        organization_id=organization_id,
        actor=actor,
        target_type="patient",
        target_id=patient.id,
        patient_id=patient.id,
    )
    _announce(patient, "archived" if archived else "restored")
    return patient


def archive_patient(organization_id: str, patient_id: str, *, actor: audit.Actor) -> Patient:
    """Hide the patient from the active list (nothing is deleted). Idempotent. Raises NotFound."""
    return _set_archived(organization_id, patient_id, True, actor)


def unarchive_patient(organization_id: str, patient_id: str, *, actor: audit.Actor) -> Patient:
    """Bring an archived patient back to the active list. Idempotent. Raises NotFound."""
    return _set_archived(organization_id, patient_id, False, actor)


def view_patient(
    organization_id: str,
    patient_id: str,
    *,
    actor: audit.Actor,
    channel: str = "web",
    record_view: bool = True,
) -> PatientView:
    """The decrypted record (fields that fail to decrypt are UNREADABLE, each with an alarm event);
    records ``patient.viewed`` unless ``record_view`` is off (reading back what the caller has
    just written, or a feature composing a kept document such as a signed report, which gets an
    erased patient's tombstone: no values). Raises NotFound, and PatientErased (410) when someone
    asks to see an erased patient's record."""
    patient = get_patient(organization_id, patient_id)
    if record_view:
        ensure_not_erased(patient)
    view = view_of(patient, crypto.vault_for(organization_id))
    if record_view:
        _record_view(patient, actor, {"channel": channel})
    return view


def _record_view(patient: Patient, actor: audit.Actor, details: dict[str, str]) -> None:
    audit.record(
        "patient.viewed",
        organization_id=patient.organization_id,
        actor=actor,
        target_type="patient",
        target_id=patient.id,
        patient_id=patient.id,
        details=details,
    )


@dataclass(frozen=True)
class DuplicateMatch:
    id: str
    first_name: str
    last_name: str
    archived: bool
    reasons: tuple[str, ...]  # "name_and_date_of_birth", "phone", "email"


def possible_duplicates(
    organization_id: str,
    *,
    first_name: str,
    last_name: str,
    date_of_birth: date | None = None,
    phones: tuple[Phone, ...] | list[Phone] = (),
    email: str | None = None,
    exclude_id: str | None = None,
    limit: int = 10,
) -> list[DuplicateMatch]:
    """Existing patients (archived ones too) with the same name and date of birth, or sharing a
    phone number or e-mail address, for "is this person already registered?" before a create."""
    vault = crypto.vault_for(organization_id)
    reasons: dict[str, list[str]] = {}

    def add(ids: list[str], reason: str) -> None:
        for patient_id in ids:
            if patient_id != exclude_id:
                reasons.setdefault(patient_id, []).append(reason)

    scoped = select(Patient.id).where(Patient.organization_id == organization_id)
    if date_of_birth is not None:
        add(
            list(
                db.session.scalars(
                    scoped.where(
                        Patient.first_name_key == name_key(first_name),
                        Patient.last_name_key == name_key(last_name),
                        Patient.dob_bidx == vault.blind_index("patients.date_of_birth", date_of_birth.isoformat()),
                    ).limit(limit)
                )
            ),
            "name_and_date_of_birth",
        )
    if phones:
        field = identifier_field(PHONE_KIND)
        bidxs = [vault.blind_index(field, phone.number) for phone in phones]
        add(
            list(
                db.session.scalars(
                    select(PatientIdentifier.patient_id)
                    .where(
                        PatientIdentifier.organization_id == organization_id,
                        PatientIdentifier.kind == PHONE_KIND,
                        PatientIdentifier.bidx.in_(bidxs),
                    )
                    .distinct()
                    .limit(limit)
                )
            ),
            "phone",
        )
    if email:
        bidx = vault.blind_index("patients.email", normalise_email(email))
        add(list(db.session.scalars(scoped.where(Patient.email_bidx == bidx).limit(limit))), "email")
    if not reasons:
        return []
    rows = db.session.execute(
        select(Patient.id, Patient.first_name, Patient.last_name, Patient.archived)
        .where(Patient.organization_id == organization_id, Patient.id.in_(list(reasons)))
        .order_by(Patient.last_name_key, Patient.first_name_key, Patient.id)
        .limit(limit)
    ).all()
    return [DuplicateMatch(r.id, r.first_name, r.last_name, r.archived, tuple(reasons[r.id])) for r in rows]


def find_by_external_id(organization_id: str, system: str, identifier: str) -> Patient | None:
    """The organization's patient carrying ``identifier`` in ``system`` (e.g. "cliniko"), or None."""
    kind = external_kind(system)
    bidx = crypto.vault_for(organization_id).blind_index(identifier_field(kind), identifier.strip())
    if bidx is None:
        return None
    return db.session.scalar(
        select(Patient)
        .join(PatientIdentifier, PatientIdentifier.patient_id == Patient.id)
        .where(
            PatientIdentifier.organization_id == organization_id,
            PatientIdentifier.kind == kind,
            PatientIdentifier.bidx == bidx,
            Patient.organization_id == organization_id,
        )
        .order_by(Patient.created_at)
        .limit(1)
    )


@dataclass(frozen=True)
class Viewer:
    name: str  # a person's display name, "API token …", or "System"
    viewed_at: datetime
    channel: str | None


def patient_viewers(organization_id: str, patient_id: str, *, limit: int = 20) -> list[Viewer]:
    """The latest views of the record (newest first), from the audit trail. For admins."""
    rows = db.session.execute(
        select(AuditEvent.created_at, AuditEvent.details, User.display_name, ApiToken.name.label("token_name"))
        .outerjoin(User, User.id == AuditEvent.actor_user_id)
        .outerjoin(ApiToken, ApiToken.id == AuditEvent.actor_token_id)
        .where(
            AuditEvent.chain == organization_id,
            AuditEvent.patient_id == patient_id,
            AuditEvent.action == "patient.viewed",
        )
        .order_by(AuditEvent.seq.desc())
        .limit(limit)
    ).all()
    viewers = []
    for row in rows:
        name = row.display_name or (f"API token “{row.token_name}”" if row.token_name else "System")
        viewers.append(Viewer(name, row.created_at, (row.details or {}).get("channel")))
    return viewers
