"""Reading a patient's intake record and symptoms back, decrypted, for the patient page and the
API; and the list of patients registered through intake. A value that cannot be decrypted comes
back UNREADABLE (with an alarm event from the vault) instead of failing the page."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, tuple_

from clinic_app.core import audit, crypto
from clinic_app.core.crypto import UNREADABLE, Unreadable
from clinic_app.core.errors import Invalid
from clinic_app.core.pagination import bad_cursor, decode_cursor, encode_cursor
from clinic_app.extensions import db
from clinic_app.intake.models import RECORD_FIELDS, SYMPTOM_FIELDS, IntakeRecord, PatientSymptom
from clinic_app.intake.validation import Duration
from clinic_app.patients import service as patients

log = logging.getLogger("clinic_app.intake")

DEFAULT_LIMIT, MAX_LIMIT = 25, 100

Maybe = Any  # a decrypted value, None (no value) or UNREADABLE


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordView:
    """A decrypted intake record; each encrypted field may be UNREADABLE."""

    id: str
    patient_id: str
    presenting_problem: Maybe
    informants: Maybe  # tuple of INFORMANTS keys
    informant_details: Maybe
    illness_duration: Duration | None
    referred_by: Maybe
    precipitating_factors: Maybe
    precipitating_tags: Maybe  # tuple of str
    created_by_id: str | None
    created_at: datetime
    unreadable_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class SymptomView:
    id: str
    symptom_id: str
    source: str
    name: str
    code: str | None
    severity: str
    frequency: str
    duration: Duration | None
    notes: Maybe
    onset_description: Maybe
    triggers: Maybe  # tuple of str
    created_at: datetime
    unreadable_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class IntakeSummary:
    record: RecordView | None
    symptoms: list[SymptomView] = field(default_factory=list)

    @property
    def unreadable(self) -> bool:
        return bool(self.record and self.record.unreadable_fields) or any(s.unreadable_fields for s in self.symptoms)


def _duration(value: int | None, unit: str | None) -> Duration | None:
    return Duration(value, unit) if value is not None and unit else None


def _read(vault: crypto.Vault, field_name: str, stored: str | None, target_id: str, *, as_list: bool = False) -> Maybe:
    plain = vault.decrypt(field_name, stored, target_id=target_id)
    if plain is None or isinstance(plain, Unreadable):
        return (() if as_list else None) if plain is None else UNREADABLE
    if not as_list:
        return plain
    try:
        value = json.loads(plain)
        if not isinstance(value, list):
            raise TypeError(field_name)
        return tuple(str(item) for item in value)
    except (ValueError, TypeError):
        log.error(
            "stored intake field has an unexpected shape", extra={"event": "intake_field_shape", "field": field_name}
        )
        return UNREADABLE


def record_view(record: IntakeRecord, vault: crypto.Vault) -> RecordView:
    values: dict[str, Any] = {
        name: _read(vault, RECORD_FIELDS[name], getattr(record, f"{name}_enc"), record.id)
        for name in ("presenting_problem", "referred_by", "precipitating_factors")
    }
    values["precipitating_tags"] = _read(
        vault, RECORD_FIELDS["precipitating_tags"], record.precipitating_tags_enc, record.id, as_list=True
    )
    informants = _read(vault, RECORD_FIELDS["informants"], record.informants_enc, record.id)
    if isinstance(informants, str):
        try:
            parsed = json.loads(informants)
            values["informants"] = tuple(parsed.get("selection") or ())
            values["informant_details"] = parsed.get("other_details") or None
        except (ValueError, AttributeError):
            values["informants"] = values["informant_details"] = UNREADABLE
    else:
        values["informants"] = UNREADABLE if isinstance(informants, Unreadable) else ()
        values["informant_details"] = UNREADABLE if isinstance(informants, Unreadable) else None
    unreadable = tuple(name for name, value in values.items() if isinstance(value, Unreadable))
    return RecordView(
        id=record.id,
        patient_id=record.patient_id,
        illness_duration=_duration(record.illness_duration_value, record.illness_duration_unit),
        created_by_id=record.created_by_id,
        created_at=record.created_at,
        unreadable_fields=unreadable,
        **values,
    )


def symptom_view(row: PatientSymptom, vault: crypto.Vault) -> SymptomView:
    values = {
        "notes": _read(vault, SYMPTOM_FIELDS["notes"], row.notes_enc, row.id),
        "onset_description": _read(vault, SYMPTOM_FIELDS["onset_description"], row.onset_description_enc, row.id),
        "triggers": _read(vault, SYMPTOM_FIELDS["triggers"], row.triggers_enc, row.id, as_list=True),
    }
    return SymptomView(
        id=row.id,
        symptom_id=row.symptom_id,
        source=row.symptom_source,
        name=row.symptom_name,
        code=row.code,
        severity=row.severity,
        frequency=row.frequency,
        duration=_duration(row.duration_value, row.duration_unit),
        created_at=row.created_at,
        unreadable_fields=tuple(name for name, value in values.items() if isinstance(value, Unreadable)),
        **values,
    )


def symptoms_of(organization_id: str, patient_id: str, vault: crypto.Vault | None = None) -> list[SymptomView]:
    vault = vault or crypto.vault_for(organization_id)
    rows = db.session.scalars(
        select(PatientSymptom)
        .where(PatientSymptom.organization_id == organization_id, PatientSymptom.patient_id == patient_id)
        .order_by(PatientSymptom.created_at, PatientSymptom.id)
    )
    return [symptom_view(row, vault) for row in rows]


def symptom_views(organization_id: str, rows: list[PatientSymptom]) -> list[SymptomView]:
    """Rows just written, read back as views (in the same order)."""
    vault = crypto.vault_for(organization_id)
    return [symptom_view(row, vault) for row in rows]


def summary_for(organization_id: str, patient_id: str) -> IntakeSummary:
    """The patient's intake record (None if they were registered without intake) and symptoms,
    decrypted; a value that cannot be decrypted is UNREADABLE (with an alarm event), never an
    error. Scoped to the organization: another organization's patient has an empty summary.
    Records nothing itself: the caller's view of the patient is what the audit trail records."""
    vault = crypto.vault_for(organization_id)
    record = db.session.scalar(
        select(IntakeRecord).where(
            IntakeRecord.organization_id == organization_id, IntakeRecord.patient_id == patient_id
        )
    )
    return IntakeSummary(
        record=record_view(record, vault) if record is not None else None,
        symptoms=symptoms_of(organization_id, patient_id, vault),
    )


# --- the list of patients registered through intake ----------------------------------------------


@dataclass(frozen=True)
class IntakePatientRow:
    patient_id: str
    first_name: str
    last_name: str
    intake_id: str
    illness_duration: Duration | None
    symptom_count: int
    created_at: datetime


@dataclass(frozen=True)
class IntakePatientsPage:
    rows: list[IntakePatientRow]
    limit: int
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def _bad_cursor() -> Invalid:
    return bad_cursor()


def _decode_cursor(cursor: str) -> str:
    try:
        record_id = decode_cursor(cursor)
    except ValueError:
        raise _bad_cursor() from None
    if not record_id.startswith(f"{IntakeRecord.id_prefix}_"):
        raise _bad_cursor()
    return record_id


def intake_patients(
    organization_id: str,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    actor: audit.Actor,
    channel: str = "api",
) -> IntakePatientsPage:
    """Patients registered through intake, newest first, a page at a time (follow
    ``next_cursor``). Records ``intake.listed`` with the ids shown. Raises Invalid for a bad cursor."""
    limit = max(1, min(limit, MAX_LIMIT))
    statement = select(IntakeRecord).where(IntakeRecord.organization_id == organization_id)
    if cursor:
        anchor = db.session.get(IntakeRecord, _decode_cursor(cursor))
        if anchor is None or anchor.organization_id != organization_id:
            raise _bad_cursor()
        anchor_key = tuple_(
            literal(anchor.created_at, IntakeRecord.created_at.type), literal(anchor.id, IntakeRecord.id.type)
        )
        statement = statement.where(tuple_(IntakeRecord.created_at, IntakeRecord.id) < anchor_key)
    records = list(
        db.session.scalars(statement.order_by(IntakeRecord.created_at.desc(), IntakeRecord.id.desc()).limit(limit + 1))
    )
    more = len(records) > limit
    records = records[:limit]
    counts = dict(
        db.session.execute(
            select(PatientSymptom.patient_id, func.count())
            .where(
                PatientSymptom.organization_id == organization_id,
                PatientSymptom.patient_id.in_([r.patient_id for r in records]),
            )
            .group_by(PatientSymptom.patient_id)
        ).all()
    )
    rows = []
    for record in records:
        patient = patients.get_patient(organization_id, record.patient_id)
        rows.append(
            IntakePatientRow(
                patient_id=patient.id,
                first_name=patient.first_name,
                last_name=patient.last_name,
                intake_id=record.id,
                illness_duration=_duration(record.illness_duration_value, record.illness_duration_unit),
                symptom_count=counts.get(record.patient_id, 0),
                created_at=record.created_at,
            )
        )
    audit.record(
        "intake.listed",
        organization_id=organization_id,
        actor=actor,
        target_type="patient",
        details={"channel": channel, "results": len(rows), "patient_ids": [row.patient_id for row in rows]},
    )
    next_cursor = encode_cursor(records[-1].id) if more else None
    return IntakePatientsPage(rows=rows, limit=limit, next_cursor=next_cursor)
