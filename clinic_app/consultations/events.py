"""The audit events of consultation changes: one shape, ids and counts only, never what was said."""

from __future__ import annotations

from typing import Any

from clinic_app.consultations.models import ConsultationSession
from clinic_app.core import audit

NOT_FOUND = "No such consultation."


def record_change(action: str, session: ConsultationSession, actor: audit.Actor, details: dict[str, Any]) -> None:
    audit.record(
        action,
        organization_id=session.organization_id,
        actor=actor,
        target_type="consultation",
        target_id=session.id,
        patient_id=session.patient_id,
        details=details,
    )
