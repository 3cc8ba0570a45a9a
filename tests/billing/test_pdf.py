"""The invoice PDF: number, items with codes, GST, totals, paid and due; the same bytes every time."""

from __future__ import annotations

import io

from pypdf import PdfReader

from clinic_app.billing import service as billing
from clinic_app.extensions import db
from tests.billing.conftest import ACTOR, issued, setup_billing


def test_the_pdf_shows_the_invoice_and_is_byte_stable(app, tenants, login_as):
    with app.app_context():
        setup = setup_billing(tenants.a.id, clinician_user_id=tenants.user("clinician").id)
        billing.update_settings(
            tenants.a.id,
            billing.SettingsInput(business_number="12 345 678 901", payment_instructions="EFT to BSB 062-000"),
            actor=ACTOR,
        )
        db.session.commit()
        invoice_id = issued(setup, appointment_id=setup.appointment_id)
        billing.record_payment(tenants.a.id, invoice_id, billing.PaymentInput(17750, "card"), actor=ACTOR)
        db.session.commit()
    desk = login_as("receptionist")
    first = desk.get(f"/billing/invoices/{invoice_id}/pdf")
    assert first.status_code == 200 and first.headers["Content-Type"] == "application/pdf"
    assert 'filename="INV-000001.pdf"' in first.headers["Content-Disposition"]
    second = desk.get(f"/billing/invoices/{invoice_id}/pdf")
    assert first.data == second.data
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(first.data)).pages)
    for expected in ("INV-000001", "ABN 12 345 678 901", "10960", "RPT", "GST", "$12.00", "$177.50", "EFT to BSB"):
        assert expected in text, expected
    assert "Amount due $0.00" in text.replace("\n", " ")
    assert login_as("outsider").get(f"/billing/invoices/{invoice_id}/pdf").status_code == 404
