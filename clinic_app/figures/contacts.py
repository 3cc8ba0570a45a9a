"""Contact outcomes: recording an attempt to reach a patient, and reading them back
(docs/rules.md). The latest contact can keep a patient off the re-engagement worklist "until
something changes", so recording one recomputes that patient's figures.

Functions take the organization explicitly, audit what they must, and only flush; the caller's
unit of work commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from clinic_app.core import audit, crypto
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.figures import rules, service
from clinic_app.figures.engagement_columns import key_of
from clinic_app.figures.models import NOTE_FIELD, EngagementContact

NOTE_MAX = 2000


def validate_contact(outcome: str | None, note: str | None) -> tuple[str, str | None]:
    """The outcome (one of ``rules.OUTCOMES``) and the note (stripped, None when empty).
    Raises Invalid listing the fields at fault."""
    errors: list[FieldError] = []
    outcome = (outcome or "").strip()
    if outcome not in rules.OUTCOMES:
        errors.append(FieldError("outcome", "Choose one of the outcomes."))
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        errors.append(FieldError("note", f"Keep the note to {NOTE_MAX} characters or fewer."))
    if errors:
        raise Invalid(errors=errors)
    return outcome, note


def record_contact(
    organization_id: str,
    patient_id: str,
    *,
    outcome: str | None,
    note: str | None = None,
    actor: audit.Actor,
    now: datetime | None = None,
) -> EngagementContact:
    """Record a contact attempt with its outcome and optional note (encrypted), audited as
    ``engagement.contacted`` (patient id and outcome, never the note), and recompute the
    patient's figures so the contact hides them from the worklist (docs/rules.md).
    Raises NotFound for another organization's patient, Invalid for a bad outcome or note."""
    now = now or utcnow()
    current = service.current_stats(organization_id, patient_id, now=now)  # another organization's: NotFound
    outcome, note = validate_contact(outcome, note)
    contact = EngagementContact(
        organization_id=organization_id,
        patient_id=patient_id,
        user_id=actor.user_id,
        contacted_at=now,
        outcome=outcome,
        note_enc=crypto.vault_for(organization_id).encrypt(NOTE_FIELD, note),
        risk_level=current.risk_level,
        figures_key=key_of(current),
    )
    db.session.add(contact)
    db.session.flush()
    audit.record(
        "engagement.contacted",
        organization_id=organization_id,
        actor=actor,
        target_type="engagement_contact",
        target_id=contact.id,
        patient_id=patient_id,
        details={"outcome": outcome, "risk_level": current.risk_level},
    )
    service.recompute(organization_id, [patient_id], now=now)
    return contact


@dataclass(frozen=True)
class ContactView:
    """A recorded contact as pages and the API show it (the note decrypted)."""

    id: str
    contacted_at: datetime
    outcome: str
    note: str | None
    user_id: str | None
    risk_level: str


def contact_history(organization_id: str, patient_id: str, *, actor: audit.Actor, limit: int = 20) -> list[ContactView]:
    """The patient's latest contacts, newest first, notes decrypted (a PHI read: audited as
    ``engagement.contacts_viewed`` when there is any note to show)."""
    rows = list(
        db.session.scalars(
            select(EngagementContact)
            .where(EngagementContact.organization_id == organization_id, EngagementContact.patient_id == patient_id)
            .order_by(EngagementContact.contacted_at.desc(), EngagementContact.id.desc())
            .limit(limit)
        )
    )
    vault = crypto.vault_for(organization_id) if any(row.note_enc for row in rows) else None
    if vault is not None:
        audit.record(
            "engagement.contacts_viewed",
            organization_id=organization_id,
            actor=actor,
            target_type="patient",
            target_id=patient_id,
            patient_id=patient_id,
        )
    views = []
    for row in rows:
        note = vault.decrypt(NOTE_FIELD, row.note_enc, target_id=row.id) if vault and row.note_enc else None
        views.append(
            ContactView(
                row.id, row.contacted_at, row.outcome, None if note is None else str(note), row.user_id, row.risk_level
            )
        )
    return views


def contacted_since(organization_id: str, since: datetime) -> int:
    """How many contacts were recorded since ``since``."""
    return int(
        db.session.scalar(
            select(func.count()).where(
                EngagementContact.organization_id == organization_id, EngagementContact.contacted_at >= since
            )
        )
        or 0
    )


def outcomes_since(organization_id: str, since: datetime) -> dict[str, int]:
    """How many contacts of each outcome were recorded since ``since`` (every outcome present)."""
    outcomes = dict.fromkeys(rules.OUTCOMES, 0)
    contact = EngagementContact
    for outcome, number in db.session.execute(
        select(contact.outcome, func.count())
        .where(contact.organization_id == organization_id, contact.contacted_at >= since)
        .group_by(contact.outcome)
    ):
        outcomes[outcome] = int(number)
    return outcomes
