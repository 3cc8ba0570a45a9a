"""The billing JSON API: the receptionist's flow, 409 on every change of an issued invoice, 404
for another organization on every billing URL, 403 for clinicians issuing, voiding and paying,
and clinicians reading only their own patients' invoices."""

from __future__ import annotations

from typing import Any

import pytest

from clinic_app.extensions import db
from tests.billing.conftest import ACTOR, draft_for, events, issued, setup_billing
from tests.factories import access_token_for


@pytest.fixture
def setup(app, tenants):
    with app.app_context():
        return setup_billing(tenants.a.id, clinician_user_id=tenants.user("clinician").id)


def bearer(app, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token_for(app, user)}"}


@pytest.fixture
def as_role(app, tenants, client):
    def call(role: str, method: str, path: str, json: Any = None) -> Any:
        user = tenants.outsider if role == "outsider" else tenants.user(role)
        return client.open(path, method=method, json=json, headers=bearer(app, user))

    return call


def test_receptionist_invoices_an_appointment_and_takes_payment_in_two_parts(app, setup, as_role):
    created = as_role("receptionist", "POST", "/api/v1/billing/invoices", {"appointment_id": setup.appointment_id})
    assert created.status_code == 201, created.get_json()
    invoice = created.get_json()
    assert invoice["status"] == "draft" and invoice["number"] is None
    assert sorted(line["code"] for line in invoice["lines"]) == ["10960", "RPT"]
    assert (invoice["subtotal"], invoice["tax_total"], invoice["total"]) == (16550, 1200, 17750)

    issued_answer = as_role("receptionist", "POST", f"/api/v1/billing/invoices/{invoice['id']}/issue")
    assert issued_answer.status_code == 200, issued_answer.get_json()
    assert issued_answer.get_json()["number"] == "INV-000001"
    assert issued_answer.get_json()["due_date"] is not None

    url = f"/api/v1/billing/invoices/{invoice['id']}/payments"
    first = as_role("receptionist", "POST", url, {"amount": 10000, "method": "card"})
    assert first.status_code == 201 and first.get_json()["status"] == "partially_paid"
    assert first.get_json()["balance_due"] == 7750
    rest = as_role("receptionist", "POST", url, {"amount": 7750, "method": "health_fund", "reference": "HF-1"})
    assert rest.get_json()["status"] == "paid" and rest.get_json()["balance_due"] == 0

    balance = as_role("receptionist", "GET", f"/api/v1/billing/patients/{setup.clinic.patient}/balance").get_json()
    assert (balance["invoiced"], balance["paid"], balance["balance"]) == (17750, 17750, 0)
    listed = as_role("receptionist", "GET", "/api/v1/billing/invoices?status=paid").get_json()
    assert [row["number"] for row in listed["invoices"]] == ["INV-000001"] and listed["totals"]["invoiced"] == 17750


def test_an_issued_invoice_answers_409_to_every_change(app, setup, as_role):
    with app.app_context():
        invoice_id = issued(setup)
        line_id = db.session.execute(
            db.text("SELECT id FROM invoice_lines WHERE invoice_id = :id"), {"id": invoice_id}
        ).scalar()
    base = f"/api/v1/billing/invoices/{invoice_id}"
    for method, path, body in [
        ("PATCH", base, {"notes": "changed"}),
        ("DELETE", base, None),
        ("POST", f"{base}/lines", {"description": "Extra", "unit_price": 100}),
        ("PATCH", f"{base}/lines/{line_id}", {"quantity": 3}),
        ("DELETE", f"{base}/lines/{line_id}", None),
        ("POST", f"{base}/issue", None),
    ]:
        answer = as_role("owner", method, path, body)
        assert answer.status_code == 409, (method, path, answer.get_json())
        assert answer.headers["Content-Type"].startswith("application/problem+json")
    after = as_role("owner", "GET", base).get_json()
    assert after["total"] == 13200 and len(after["lines"]) == 1 and after["notes"] is None


def test_void_keeps_the_number_and_a_credit_note_reduces_the_balance(app, setup, as_role):
    with app.app_context():
        voided, credited = issued(setup), issued(setup)
    answer = as_role("admin", "POST", f"/api/v1/billing/invoices/{voided}/void", {})
    assert answer.status_code == 422 and answer.get_json()["errors"][0]["field"] == "reason"
    answer = as_role("admin", "POST", f"/api/v1/billing/invoices/{voided}/void", {"reason": "Duplicate"})
    assert answer.get_json()["status"] == "void" and answer.get_json()["number"] == "INV-000001"
    note = as_role("admin", "POST", f"/api/v1/billing/invoices/{credited}/credit-notes", {"reason": "Goodwill"})
    assert note.status_code == 201, note.get_json()
    assert note.get_json()["number"] == "CN-000001" and note.get_json()["invoice_number"] == "INV-000002"
    after = as_role("admin", "GET", f"/api/v1/billing/invoices/{credited}").get_json()
    assert after["balance_due"] == 0 and after["status"] == "paid" and after["credit_notes"][0]["number"] == "CN-000001"
    fetched = as_role("admin", "GET", f"/api/v1/billing/credit-notes/{note.get_json()['id']}")
    assert fetched.get_json()["reason"] == "Goodwill"


def test_clinicians_cannot_issue_void_pay_or_write(app, setup, as_role):
    with app.app_context():
        draft, open_invoice = draft_for(setup), issued(setup)
    for method, path, body in [
        ("POST", f"/api/v1/billing/invoices/{draft}/issue", None),
        ("POST", f"/api/v1/billing/invoices/{open_invoice}/void", {"reason": "x"}),
        ("POST", f"/api/v1/billing/invoices/{open_invoice}/payments", {"amount": 100, "method": "cash"}),
        ("POST", f"/api/v1/billing/invoices/{open_invoice}/credit-notes", {"reason": "x"}),
        ("POST", "/api/v1/billing/invoices", {"patient_id": setup.clinic.patient}),
        ("POST", "/api/v1/billing/items", {"name": "x", "unit_price": 1}),
    ]:
        assert as_role("clinician", method, path, body).status_code == 403, path
    # Receptionists neither void nor credit.
    assert as_role("receptionist", "POST", f"/api/v1/billing/invoices/{open_invoice}/void", {}).status_code == 403
    with app.app_context():
        assert events("billing.invoice_voided") == [] and events("billing.payment_recorded") == []


def test_clinicians_read_only_the_invoices_where_they_are_the_practitioner(app, setup, as_role):
    with app.app_context():
        mine = issued(setup)
        theirs = draft_for(setup)
        from clinic_app.billing.models import Invoice

        db.session.get(Invoice, theirs).practitioner_id = setup.clinic.other_practitioner
        db.session.commit()
    listed = as_role("clinician", "GET", "/api/v1/billing/invoices").get_json()
    assert [row["id"] for row in listed["invoices"]] == [mine] and listed["totals"]["count"] == 1
    assert as_role("clinician", "GET", f"/api/v1/billing/invoices/{mine}").status_code == 200
    assert as_role("clinician", "GET", f"/api/v1/billing/invoices/{theirs}").status_code == 404
    assert as_role("receptionist", "GET", f"/api/v1/billing/invoices/{theirs}").status_code == 200


def test_another_organization_gets_404_for_every_billing_url(app, setup, as_role):
    with app.app_context():
        invoice_id = issued(setup, notes="Private note")
        from clinic_app.billing import service as billing

        line_id = db.session.execute(
            db.text("SELECT id FROM invoice_lines WHERE invoice_id = :id"), {"id": invoice_id}
        ).scalar()
        note = billing.issue_credit_note(setup.organization_id, invoice_id, lines=None, reason="r", actor=ACTOR)
        db.session.commit()
        ids = {
            "invoice_id": invoice_id,
            "line_id": line_id,
            "credit_note_id": note.id,
            "item_id": setup.consult_item,
            "patient_id": setup.clinic.patient,
        }
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/billing/") and r.arguments]
    assert len(rules) >= 10
    for rule in rules:
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<{name}>", ids[name])
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            answer = as_role("outsider", method, path, {} if method != "GET" else None)
            assert answer.status_code == 404, (method, path, answer.status_code)
            assert "Private note" not in answer.get_data(as_text=True)


def test_bounded_inputs_answer_422_naming_the_field(app, setup, as_role):
    answer = as_role("owner", "GET", "/api/v1/billing/invoices?cursor=%%%")
    assert answer.status_code == 422
    answer = as_role(
        "owner",
        "POST",
        "/api/v1/billing/invoices",
        {"patient_id": setup.clinic.patient, "lines": [{"description": "x", "quantity": 0}]},
    )
    assert answer.status_code == 422 and answer.get_json()["errors"][0]["field"] == "lines.0.quantity"
    with app.app_context():
        invoice_id = issued(setup)
    answer = as_role("owner", "POST", f"/api/v1/billing/invoices/{invoice_id}/payments", {"amount": 5})
    assert answer.status_code == 422 and answer.get_json()["errors"][0]["field"] == "method"
    answer = as_role(
        "owner",
        "POST",
        f"/api/v1/billing/invoices/{invoice_id}/payments",
        {"amount": 5, "method": "cash", "received_on": "2999-01-01"},
    )
    assert answer.status_code == 422
