"""Erasing a patient deletes the webhook deliveries about them not yet made, and their events
(``webhooks.erasure``); deliveries about another patient stay."""

from __future__ import annotations

from sqlalchemy import select

from clinic_app.extensions import db
from clinic_app.webhooks import outbox
from clinic_app.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from tests.health_data.conftest import register_patient
from tests.patients.test_erasure import erase_now


def _events(patient_id):
    return [e for e in db.session.scalars(select(WebhookEvent)).all() if e.data.get("patient_id") == patient_id]


def test_erasure_deletes_pending_deliveries_about_the_patient_only(app, tenants):
    erased = register_patient(app, tenants.a, first_name="Una", last_name="Gone")
    kept = register_patient(app, tenants.a, first_name="Vera", last_name="Stays")
    with app.app_context():
        endpoint = WebhookEndpoint(
            organization_id=tenants.a.id, url="https://hooks.example.net/in", event_types=["patient.updated"],
            secret="v1:none:none", enabled=True,
        )  # fmt: skip
        db.session.add(endpoint)
        db.session.flush()
        for patient_id in (erased, kept):
            outbox.emit(tenants.a.id, "patient.updated", {"patient_id": patient_id})
        # Deliveries stay pending: not sent yet (as when the endpoint is failing and retried later).
        db.session.execute(WebhookDelivery.__table__.update().values(status="pending"))
        db.session.commit()
        assert len(_events(erased)) == 1 and len(_events(kept)) == 1
    erase_now(app, tenants, erased)
    with app.app_context():
        assert _events(erased) == []
        (other,) = _events(kept)
        assert db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_id == other.id)).all()
