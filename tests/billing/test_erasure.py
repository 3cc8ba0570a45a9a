"""Erasing a patient keeps their invoices, payments and credit notes (``billing.erasure``): the
inventory lists them as kept, with the reason and until when; the invoice still points at the
tombstone."""

from __future__ import annotations

from datetime import date

from clinic_app.billing.models import Invoice
from clinic_app.extensions import db
from clinic_app.patients import erasure
from clinic_app.patients.models import Patient
from tests.billing.conftest import draft_for, issued, setup_billing
from tests.patients.test_erasure import erase_now


def test_erasure_keeps_invoices_and_lists_them_with_their_retention_end(app, tenants):
    with app.app_context():
        setup = setup_billing(tenants.a.id)
        invoice_id = issued(setup)
        draft_id = draft_for(setup)
        patient_id = db.session.get(Invoice, invoice_id).patient_id
        db.session.commit()
        created = db.session.get(Invoice, invoice_id).created_at
        (line,) = [
            line for line in erasure.inventory(tenants.a.id, patient_id).kept if line.what.startswith("Invoices")
        ]
        assert line.count == 2 and "tax law" in line.reason
        assert line.kept_until == date(created.year + 7, created.month, min(created.day, 28))
    erase_now(app, tenants, patient_id)
    with app.app_context():
        assert db.session.get(Patient, patient_id).erased_at is not None
        assert {db.session.get(Invoice, i).patient_id for i in (invoice_id, draft_id)} == {patient_id}
