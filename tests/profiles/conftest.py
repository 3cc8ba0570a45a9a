"""Helpers for the profile tests: bearer headers per role, audit rows, raw profile rows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from clinic_app.profiles.models import ProfessionalProfile
from tests.factories import access_token_for

AHPRA_PROFILE = {
    "discipline": "Clinical psychologist",
    "registration_body": "AHPRA",
    "registration_number": "PSY0001234567",
    "qualifications": ["BPsych (Hons)", "MClinPsych"],
    "signature_block": "Dr Casey Clinician\nClinical psychologist\nHarbour Physiotherapy",
}


@pytest.fixture
def bearer(app: Any, tenants: Any) -> Any:
    """``bearer("clinician")`` → Authorization header of A's clinician; ``bearer("outsider")`` → B's owner."""

    def headers(role: str, **extra: str) -> dict[str, str]:
        user = tenants.outsider if role == "outsider" else tenants.user(role)
        return {"Authorization": f"Bearer {access_token_for(app, user)}", **extra}

    return headers


def profile_events(app: Any) -> list[tuple[str | None, str | None, str | None, dict[str, Any]]]:
    with app.app_context():
        return [
            (e.organization_id, e.actor_user_id, e.target_id, e.details)
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == "profile.updated").order_by(AuditEvent.seq)
            )
        ]


def profile_rows(app: Any) -> list[dict[str, Any]]:
    with app.app_context():
        return [
            {
                "organization_id": row.organization_id,
                "user_id": row.user_id,
                "registration_number": row.registration_number,
                "discipline": row.discipline,
            }
            for row in db.session.scalars(select(ProfessionalProfile))
        ]
