"""A patient's consents (docs/patients.md, "Consent"): what they agreed to (a kind from ``KINDS``),
to which version of the organization's wording, how and when, recorded by whom; withdrawn when.
Withdrawing keeps the record (``withdrawn_at``): the history of what was agreed stays. Records
hold no free text, so an erasure keeps them as evidence (docs/retention.md, "Erasure").

An organization may require consents at intake (``orgs.privacy``): ``missing_at_intake`` says
which of those a new patient has not given, and intake refuses to register them until they do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from clinic_app.core import audit
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.pagination import bad_cursor, decode_cursor, encode_cursor
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import privacy
from clinic_app.patients import service
from clinic_app.patients.models import ConsentRecord

KINDS: dict[str, str] = {
    "treatment": "Assessment and treatment",
    "information_sharing": "Sharing information with referrers and other treating practitioners",
    "recording": "Recording and transcribing consultations",
    "health_data": "Collecting wearable and health-app data",
    "reminders": "Appointment reminders by SMS and e-mail",
}
METHODS: dict[str, str] = {
    "written": "Signed form",
    "verbal": "Verbally (in person or by phone)",
    "online": "Online form",
}
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
PAGE_MAX = 100


@dataclass(frozen=True)
class ConsentInput:
    kind: str
    text_version: str
    method: str


def validate_consent(raw: Mapping[str, Any], *, prefix: str = "") -> ConsentInput:
    """A consent from a form or JSON body. Raises Invalid naming ``<prefix>kind``,
    ``<prefix>text_version`` (1-40 letters, digits, ``.``, ``_``, ``-``) and ``<prefix>method``."""
    kind, version, method = raw.get("kind"), raw.get("text_version"), raw.get("method") or "written"
    version = version.strip() if isinstance(version, str) else version
    errors = []
    if kind not in KINDS:
        errors.append(FieldError(f"{prefix}kind", f"Choose one of: {', '.join(KINDS)}.", "UNKNOWN_KIND"))
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        errors.append(
            FieldError(
                f"{prefix}text_version",
                "Name the version of the consent text: 1 to 40 letters, digits, dots, dashes or underscores.",
                "INVALID_VERSION",
            )
        )
    if method not in METHODS:
        errors.append(FieldError(f"{prefix}method", f"Choose one of: {', '.join(METHODS)}.", "UNKNOWN_METHOD"))
    if errors:
        raise Invalid(errors=errors)
    return ConsentInput(str(kind), str(version), str(method))


def record_consent(
    organization_id: str, patient_id: str, consent: ConsentInput, *, actor: audit.Actor, now: datetime | None = None
) -> ConsentRecord:
    """Record that the patient gave ``consent`` now; records ``consent.recorded`` (kind, version,
    method). Raises NotFound, PatientErased."""
    patient = service.ensure_not_erased(service.get_patient(organization_id, patient_id))
    now = now or utcnow()
    record = ConsentRecord(
        organization_id=organization_id,
        patient_id=patient.id,
        kind=consent.kind,
        text_version=consent.text_version,
        method=consent.method,
        given_at=now,
        recorded_by_id=actor.user_id,
        recorded_by_token_id=actor.token_id,
        created_at=now,
    )
    db.session.add(record)
    db.session.flush()
    _record("consent.recorded", record, actor, kind=record.kind, text_version=record.text_version, method=record.method)
    return record


def _record(action: str, record: ConsentRecord, actor: audit.Actor, **details: Any) -> None:
    audit.record(
        action,
        organization_id=record.organization_id,
        actor=actor,
        target_type="consent",
        target_id=record.id,
        patient_id=record.patient_id,
        details=details,
    )


def get_consent(organization_id: str, patient_id: str, consent_id: str) -> ConsentRecord:
    record = db.session.get(ConsentRecord, consent_id) if consent_id else None
    if record is None or record.organization_id != organization_id or record.patient_id != patient_id:
        raise NotFound("No such consent.")
    return record


def withdraw_consent(
    organization_id: str, patient_id: str, consent_id: str, *, actor: audit.Actor, now: datetime | None = None
) -> ConsentRecord:
    """Mark a consent withdrawn (one atomic update: withdrawn once, by the first of two at once);
    records ``consent.withdrawn``. Raises NotFound, PatientErased, Conflict (already withdrawn)."""
    service.ensure_not_erased(service.get_patient(organization_id, patient_id))
    record = get_consent(organization_id, patient_id, consent_id)
    done = db.session.execute(
        update(ConsentRecord)
        .where(ConsentRecord.id == record.id, ConsentRecord.withdrawn_at.is_(None))
        .values(withdrawn_at=now or utcnow(), withdrawn_by_id=actor.user_id)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise Conflict("This consent was withdrawn already.")
    db.session.refresh(record)
    _record("consent.withdrawn", record, actor, kind=record.kind)
    return record


@dataclass(frozen=True)
class ConsentPage:
    items: list[ConsentRecord]
    next_cursor: str | None


def consents_of(
    organization_id: str,
    patient_id: str,
    *,
    actor: audit.Actor,
    cursor: str | None = None,
    limit: int = 50,
    channel: str = "web",
) -> ConsentPage:
    """The patient's consents, newest first, a page at a time (keyset on given_at and id); records
    ``consent.viewed``. Raises NotFound, Invalid (a cursor this list did not give)."""
    patient = service.get_patient(organization_id, patient_id)
    query = select(ConsentRecord).where(
        ConsentRecord.organization_id == organization_id, ConsentRecord.patient_id == patient.id
    )
    if cursor:
        anchor = _anchor(organization_id, patient.id, cursor)
        query = query.where(
            (ConsentRecord.given_at < anchor.given_at)
            | ((ConsentRecord.given_at == anchor.given_at) & (ConsentRecord.id < anchor.id))
        )
    limit = max(1, min(limit, PAGE_MAX))
    rows = list(
        db.session.scalars(query.order_by(ConsentRecord.given_at.desc(), ConsentRecord.id.desc()).limit(limit + 1))
    )
    audit.record(
        "consent.viewed",
        organization_id=organization_id,
        actor=actor,
        target_type="patient",
        target_id=patient.id,
        patient_id=patient.id,
        details={"channel": channel, "results": min(len(rows), limit)},
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return ConsentPage(rows, encode_cursor(rows[-1].id) if more else None)


def _anchor(organization_id: str, patient_id: str, cursor: str) -> ConsentRecord:
    try:
        consent_id = decode_cursor(cursor)
    except ValueError:
        raise bad_cursor() from None
    record = db.session.get(ConsentRecord, consent_id)
    if record is None or record.organization_id != organization_id or record.patient_id != patient_id:
        raise bad_cursor()
    return record


def current_kinds(organization_id: str, patient_id: str) -> set[str]:
    """The kinds the patient has given and not withdrawn."""
    return set(
        db.session.scalars(
            select(ConsentRecord.kind).where(
                ConsentRecord.organization_id == organization_id,
                ConsentRecord.patient_id == patient_id,
                ConsentRecord.withdrawn_at.is_(None),
            )
        )
    )


def required_at_intake(organization_id: str) -> tuple[str, ...]:
    """The kinds the organization requires before intake registers a patient (known kinds only)."""
    return tuple(kind for kind in privacy.privacy_settings(organization_id).consent_at_intake if kind in KINDS)


def missing_at_intake(organization_id: str, given: Iterable[str]) -> list[str]:
    """The required kinds not among ``given``, in the catalogue's order."""
    given = set(given)
    return [kind for kind in required_at_intake(organization_id) if kind not in given]


def set_privacy(
    organization_id: str,
    *,
    erasure_waiting_days: int | None,
    consent_at_intake: Iterable[str] | None,
    actor: audit.Actor,
) -> privacy.PrivacySettings:
    """The organization's erasure waiting period and consents required at intake (owners). Raises Invalid."""
    return privacy.set_privacy_settings(
        organization_id,
        erasure_waiting_days=erasure_waiting_days,
        consent_at_intake=consent_at_intake,
        allowed_kinds=KINDS,
        actor=actor,
    )
