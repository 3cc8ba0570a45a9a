"""invoice.issued, invoice.paid and reengagement.flagged: each sent once, when it happens, with ids
only, and only to endpoints that subscribe to it."""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import select

from clinic_app.billing import service as billing
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from clinic_app.webhooks.models import WebhookEvent
from tests.billing.conftest import ACTOR, draft_for, setup_billing
from tests.engagement.conftest import days_ago, make_appointment, make_patient
from tests.webhooks.conftest import add_endpoint


def _sent(receiver) -> list[tuple[str, dict]]:
    return [(body["type"], body["data"]) for body in (json.loads(r["body"]) for r in receiver.requests)]


def _pay(organization_id: str, invoice_id: str, cents: int) -> None:
    payment = billing.PaymentInput(amount=cents, method="card", received_on=date(2026, 12, 1))
    billing.record_payment(organization_id, invoice_id, payment, actor=ACTOR)
    db.session.commit()


def test_issuing_sends_invoice_issued_and_paying_in_full_sends_invoice_paid_once(app, tenants, receiver):
    add_endpoint(app, tenants.a, receiver.url, event_types=["invoice.issued", "invoice.paid"])
    with app.app_context():
        setup = setup_billing(tenants.a.id)
        invoice_id = draft_for(setup)
        assert receiver.requests == []  # a draft is no event
        billing.issue_invoice(tenants.a.id, invoice_id, actor=ACTOR)
        db.session.commit()
        patient_id = setup.clinic.patient
        assert _sent(receiver) == [("invoice.issued", {"invoice_id": invoice_id, "patient_id": patient_id})]
        total = billing.get_invoice(tenants.a.id, invoice_id).total
        _pay(tenants.a.id, invoice_id, total - 100)  # partly paid: no event
        assert len(receiver.requests) == 1
        _pay(tenants.a.id, invoice_id, 100)
    assert _sent(receiver)[1:] == [("invoice.paid", {"invoice_id": invoice_id, "patient_id": patient_id})]


def test_invoice_events_go_only_to_endpoints_that_want_them(app, tenants, receiver):
    add_endpoint(app, tenants.a, receiver.url, event_types=["invoice.paid"])
    with app.app_context():
        setup = setup_billing(tenants.a.id)
        invoice_id = draft_for(setup)
        billing.issue_invoice(tenants.a.id, invoice_id, actor=ACTOR)
        db.session.commit()
        assert receiver.requests == []
        assert db.session.scalars(select(WebhookEvent.type)).all() == []  # nobody wanted it: no row


def test_a_patient_rising_into_risk_is_flagged_once(app, tenants, receiver):
    add_endpoint(app, tenants.a, receiver.url, event_types=["reengagement.flagged"])
    org = tenants.a.id
    with app.app_context():
        now = utcnow()
        quiet = make_patient(org, "Quinn", "Quiet", registered=now - timedelta(days=400))
        make_appointment(org, quiet, days_ago(org, 20, now))  # attended 20 days ago: low
        busy = make_patient(org, "Bea", "Booked", registered=now - timedelta(days=400))
        make_appointment(org, busy, days_ago(org, 120, now))
        make_appointment(org, busy, days_ago(org, -5, now))  # booked: low despite the long gap
        figures.recompute(org, now=now)
        db.session.commit()
        assert receiver.requests == []
        # 70 days later (no new appointment): Quinn is medium (over 60 days), Bea's booking passed.
        later = now + timedelta(days=70)
        figures.recompute(org, [quiet.id], now=later)
        db.session.commit()
        assert _sent(receiver) == [("reengagement.flagged", {"patient_id": quiet.id})]
        figures.recompute(org, [quiet.id], now=later + timedelta(hours=1))  # still medium: no repeat
        db.session.commit()
        assert len(receiver.requests) == 1
        # medium to high (over 90 days) is a rise: flagged again, as it is on the worklist's top.
        figures.recompute(org, now=later + timedelta(days=30))
        db.session.commit()
    flagged = _sent(receiver)[1:]
    assert ("reengagement.flagged", {"patient_id": quiet.id}) in flagged
    assert all(kind == "reengagement.flagged" and set(data) == {"patient_id"} for kind, data in flagged)
    assert len([1 for _, data in flagged if data["patient_id"] == quiet.id]) == 1


def test_no_endpoint_for_flags_means_no_outbox_rows(app, tenants):
    org = tenants.a.id
    with app.app_context():
        now = utcnow()
        patient = make_patient(org, "Ned", "Nobody", registered=now - timedelta(days=400))
        make_appointment(org, patient, days_ago(org, 200, now))
        figures.recompute(org, now=now)
        db.session.commit()
        assert db.session.scalars(select(WebhookEvent.type)).all() == []
