"""A consultation's medication plan: rows of drug, dosage, frequency and duration, stored encrypted
as one JSON list on the session."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from clinic_app.consultations.events import NOT_FOUND, record_change
from clinic_app.consultations.models import CANCELLED, SESSION_FIELDS, ConsultationSession
from clinic_app.core import audit, crypto
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

MEDICATION_FIELDS = ("drug_name", "dosage", "frequency", "duration")
MEDICATION_LIMITS = {"drug_name": 200, "dosage": 100, "frequency": 100, "duration": 100}
MEDICATIONS_MAX = 30


def validate_medication_plan(plan: Sequence[Mapping[str, Any]] | None) -> list[dict[str, str]]:
    """Rows of {drug_name, dosage, frequency, duration}, trimmed; rows left entirely empty are
    dropped. Raises Invalid naming ``medication_plan.<row>.<field>`` for each problem."""
    if plan is None:
        return []
    if not isinstance(plan, Sequence) or isinstance(plan, str | bytes):
        raise Invalid(errors=[FieldError("medication_plan", "Send a list of medications.")])
    rows: list[dict[str, str]] = []
    errors: list[FieldError] = []
    for index, raw in enumerate(plan):
        if not isinstance(raw, Mapping):
            errors.append(FieldError(f"medication_plan.{index}", "Each medication is an object."))
            continue
        row = {name: str(raw.get(name) or "").strip() for name in MEDICATION_FIELDS}
        if not any(row.values()):
            continue
        if not row["drug_name"]:
            errors.append(FieldError(f"medication_plan.{index}.drug_name", "Name the drug."))
        for name, limit in MEDICATION_LIMITS.items():
            if len(row[name]) > limit:
                errors.append(FieldError(f"medication_plan.{index}.{name}", f"Keep it under {limit} characters."))
        rows.append(row)
    if len(rows) > MEDICATIONS_MAX:
        errors.append(FieldError("medication_plan", f"At most {MEDICATIONS_MAX} medications."))
    if errors:
        raise Invalid(errors=errors)
    return rows


def set_medication_plan(
    organization_id: str, session: ConsultationSession, plan: Sequence[Mapping[str, Any]], *, actor: audit.Actor
) -> list[dict[str, str]]:
    """Replace the session's medication plan (an empty list clears it). Raises Invalid or Conflict
    (cancelled session). Returns the rows stored; records ``consultation.medication_plan_updated``
    with the number of rows."""
    if session.organization_id != organization_id:
        raise NotFound(NOT_FOUND)
    rows = validate_medication_plan(plan)
    if session.status == CANCELLED:
        raise Conflict("This consultation was cancelled: its medication plan cannot change.")
    vault = crypto.vault_for(organization_id)
    session.medication_plan_enc = vault.encrypt(SESSION_FIELDS["medication_plan"], json.dumps(rows)) if rows else None
    session.updated_at = utcnow()
    db.session.flush()
    record_change("consultation.medication_plan_updated", session, actor, {"rows": len(rows)})
    return rows
