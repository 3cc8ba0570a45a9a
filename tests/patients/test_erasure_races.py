"""Carrying out one erasure twice at once (a double submit, two owners, the clock and an owner)
erases once: threads against a running server, on the suite's database and on SQLite."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from clinic_app.patients import consent, erasure
from clinic_app.patients import service as patients
from tests.concurrency.conftest import at_once, concurrent_app, live, sqlite_config  # noqa: F401  (fixtures)
from tests.factories import access_token_for, build_tenants


def test_concurrent_carry_outs_erase_once(live):  # noqa: F811
    app = live.app
    with app.app_context():
        tenants = build_tenants()
        owner = audit.Actor(user_id=tenants.user("owner").id)
        data = patients.validate_for(tenants.a.id, {"first_name": "Iris", "last_name": "Vale"})
        patient = patients.create_patient(tenants.a.id, data, actor=owner)
        consent.set_privacy(tenants.a.id, erasure_waiting_days=0, consent_at_intake=None, actor=owner)
        request = erasure.request_erasure(
            tenants.a.id, patient.id, reason="patient_request", note=None, confirm_name="Iris Vale", actor=owner
        )
        db.session.commit()
        patient_id, request_id = patient.id, request.id
    headers = {"Authorization": f"Bearer {access_token_for(app, tenants.user('owner'))}"}
    url = f"{live.url}/api/v1/patients/{patient_id}/erasure/{request_id}/carry-out"
    answers = at_once(4, lambda _i: httpx.post(url, headers=headers, timeout=60))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 409, 409, 409], [a.text for a in answers]
    with app.app_context():
        completed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "erasure.completed")).all()
        assert len(completed) == 1
        assert audit.verify_chains()[1] == []
