"""The billing service: drafts from appointments, issuing with gap-free numbers, payments,
overpayment credit, refunds, voiding and credit notes, balances, all scoped and audited."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from clinic_app.billing import queries
from clinic_app.billing import service as billing
from clinic_app.billing.models import Invoice
from clinic_app.core.errors import Conflict, Invalid, NotFound
from clinic_app.extensions import db
from tests.billing.conftest import ACTOR, draft_for, events, issued, setup_billing


def pay(organization_id, invoice_id, amount, method):
    return billing.record_payment(organization_id, invoice_id, billing.PaymentInput(amount, method), actor=ACTOR)


@pytest.fixture
def setup(app_context, tenants):
    return setup_billing(tenants.a.id)


def test_a_draft_from_an_appointment_has_its_patient_practitioner_and_type_items(setup):
    invoice = db.session.get(Invoice, draft_for(setup, appointment_id=setup.appointment_id))
    lines = queries.lines_of(invoice.id)
    assert invoice.status == "draft" and invoice.number is None
    assert invoice.patient_id == setup.clinic.patient and invoice.practitioner_id == setup.clinic.practitioner
    assert sorted((line.code, line.net, line.tax) for line in lines) == [("10960", 12000, 1200), ("RPT", 4550, 0)]
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (16550, 1200, 17750)
    # One invoice per appointment that is not void.
    with pytest.raises(Conflict):
        billing.create_draft(
            setup.organization_id, billing.DraftInput(appointment_id=setup.appointment_id), actor=ACTOR
        )


def test_issuing_numbers_invoices_in_order_and_a_rollback_gives_the_number_back(setup):
    first = draft_for(setup)
    second = draft_for(setup)
    billing.issue_invoice(setup.organization_id, first, actor=ACTOR)
    db.session.rollback()  # the issuing transaction fails after taking INV-000001
    assert db.session.get(Invoice, first).number is None
    billing.issue_invoice(setup.organization_id, second, actor=ACTOR)
    db.session.commit()
    billing.issue_invoice(setup.organization_id, first, actor=ACTOR)
    db.session.commit()
    assert db.session.get(Invoice, second).number == "INV-000001"
    assert db.session.get(Invoice, first).number == "INV-000002"
    with pytest.raises(Conflict):
        billing.issue_invoice(setup.organization_id, first, actor=ACTOR)
    issued_events = events("billing.invoice_issued")
    assert [e.details["number"] for e in issued_events] == ["INV-000001", "INV-000002"]
    assert all(e.patient_id == setup.clinic.patient for e in issued_events)


def test_an_issued_invoice_cannot_be_changed_or_deleted(setup):
    invoice_id = issued(setup)
    line_id = queries.lines_of(invoice_id)[0].id
    attempts = [
        lambda: billing.add_line(
            setup.organization_id, invoice_id, billing.LineInput(item_id=setup.consult_item), actor=ACTOR
        ),
        lambda: billing.update_line(
            setup.organization_id, invoice_id, line_id, billing.LineInput(quantity=2), actor=ACTOR
        ),
        lambda: billing.remove_line(setup.organization_id, invoice_id, line_id, actor=ACTOR),
        lambda: billing.update_draft(setup.organization_id, invoice_id, notes="changed", actor=ACTOR),
        lambda: billing.delete_draft(setup.organization_id, invoice_id, actor=ACTOR),
    ]
    for attempt in attempts:
        with pytest.raises(Conflict):
            attempt()
        db.session.rollback()
    assert db.session.get(Invoice, invoice_id).total == 13200


def test_partial_payment_then_the_rest_settles_the_invoice(setup):
    invoice_id = issued(setup)  # $132.00
    pay(setup.organization_id, invoice_id, 5000, "card")
    invoice = db.session.get(Invoice, invoice_id)
    assert invoice.status == "partially_paid" and invoice.balance_due == 8200
    pay(setup.organization_id, invoice_id, 8200, "cash")
    db.session.commit()
    assert invoice.status == "paid" and invoice.balance_due == 0
    account = queries.patient_account(setup.organization_id, setup.clinic.patient, own=None)
    assert (account.invoiced, account.paid, account.balance) == (13200, 13200, 0)
    recorded = events("billing.payment_recorded")
    assert [e.details["amount"] for e in recorded] == [5000, 8200] and recorded[0].patient_id == setup.clinic.patient


def test_an_overpayment_becomes_credit_applied_to_the_next_invoice(setup):
    first = issued(setup)
    pay(setup.organization_id, first, 20000, "eft")
    db.session.commit()
    assert billing.credit_balance(setup.organization_id, setup.clinic.patient) == 6800
    second = issued(setup)
    billing.apply_credit(setup.organization_id, second, amount=None, actor=ACTOR)
    db.session.commit()
    invoice = db.session.get(Invoice, second)
    assert invoice.status == "partially_paid" and invoice.balance_due == 13200 - 6800
    assert billing.credit_balance(setup.organization_id, setup.clinic.patient) == 0
    with pytest.raises(Conflict):
        billing.apply_credit(setup.organization_id, second, amount=None, actor=ACTOR)
    account = queries.patient_account(setup.organization_id, setup.clinic.patient, own=None)
    assert account.balance == 13200 - 6800


def test_refunds_reopen_the_balance_and_are_bounded(setup):
    invoice_id = issued(setup)
    pay(setup.organization_id, invoice_id, 13200, "card")
    billing.refund_payment(setup.organization_id, invoice_id, billing.PaymentInput(3200, "card"), actor=ACTOR)
    invoice = db.session.get(Invoice, invoice_id)
    assert invoice.status == "partially_paid" and invoice.balance_due == 3200
    with pytest.raises(Invalid):
        billing.refund_payment(setup.organization_id, invoice_id, billing.PaymentInput(10001, "card"), actor=ACTOR)


def test_voiding_keeps_the_number_requires_a_reason_and_no_money(setup):
    invoice_id = issued(setup)
    with pytest.raises(Invalid):
        billing.void_invoice(setup.organization_id, invoice_id, reason="  ", actor=ACTOR)
    billing.void_invoice(setup.organization_id, invoice_id, reason="Billed the wrong patient", actor=ACTOR)
    db.session.commit()
    invoice = db.session.get(Invoice, invoice_id)
    assert invoice.status == "void" and invoice.number == "INV-000001" and invoice.balance_due == 0
    assert "wrong patient" not in (invoice.void_reason_enc or "")  # stored encrypted
    detail = queries.invoice_detail(setup.organization_id, invoice_id, own=None, actor=ACTOR)
    assert detail.void_reason == "Billed the wrong patient"
    assert events("billing.invoice_voided")[0].patient_id == setup.clinic.patient
    paid = issued(setup)
    pay(setup.organization_id, paid, 100, "cash")
    with pytest.raises(Conflict):
        billing.void_invoice(setup.organization_id, paid, reason="Oops", actor=ACTOR)


def test_a_credit_note_has_its_own_number_and_reduces_the_balance(setup):
    invoice_id = issued(setup, appointment_id=setup.appointment_id)  # $132.00 + $45.50
    lines = {line.code: line for line in queries.lines_of(invoice_id)}
    note = billing.issue_credit_note(
        setup.organization_id,
        invoice_id,
        lines=[billing.CreditLineInput(lines["RPT"].id, 1)],
        reason="Report not written",
        actor=ACTOR,
    )
    db.session.commit()
    invoice = db.session.get(Invoice, invoice_id)
    assert note.number == "CN-000001" and note.total == 4550
    assert invoice.balance_due == 17750 - 4550 and invoice.number == "INV-000001"
    with pytest.raises(Invalid):  # nothing of that line is left to credit
        billing.issue_credit_note(
            setup.organization_id,
            invoice_id,
            lines=[billing.CreditLineInput(lines["RPT"].id, 1)],
            reason="Again",
            actor=ACTOR,
        )
    db.session.rollback()
    # A paid invoice credited in full: the credit becomes the patient's.
    pay(setup.organization_id, invoice_id, 13200, "card")
    second = billing.issue_credit_note(setup.organization_id, invoice_id, lines=None, reason="Refund all", actor=ACTOR)
    db.session.commit()
    assert second.number == "CN-000002" and second.total == 13200
    assert billing.credit_balance(setup.organization_id, setup.clinic.patient) == 13200
    assert events("billing.credit_note_issued")[0].patient_id == setup.clinic.patient


def test_another_organizations_invoice_is_not_found(setup, tenants):
    invoice_id = draft_for(setup)
    for attempt in (
        lambda: billing.issue_invoice(tenants.b.id, invoice_id, actor=ACTOR),
        lambda: billing.get_invoice(tenants.b.id, invoice_id),
        lambda: queries.invoice_detail(tenants.b.id, invoice_id, own=None, actor=ACTOR),
        lambda: pay(tenants.b.id, invoice_id, 1, "card"),
    ):
        with pytest.raises(NotFound):
            attempt()
    with pytest.raises(Invalid):
        billing.create_draft(tenants.b.id, billing.DraftInput(patient_id=setup.clinic.patient), actor=ACTOR)


def test_notes_are_encrypted_at_rest(setup):
    invoice_id = draft_for(setup, notes="Discussed hardship arrangement")
    stored = db.session.execute(text("SELECT notes_enc FROM invoices WHERE id = :id"), {"id": invoice_id}).scalar()
    assert stored.startswith("v1:") and "hardship" not in stored


def test_the_list_filters_and_totals_what_it_matches(setup):
    paid = issued(setup)
    pay(setup.organization_id, paid, 13200, "card")
    issued(setup)
    draft_for(setup)
    db.session.commit()
    page = queries.list_invoices(setup.organization_id, queries.InvoiceFilters(), limit=2)
    assert page.totals.count == 3 and page.totals.invoiced == 26400 and page.totals.due == 13200
    rest = queries.list_invoices(setup.organization_id, queries.InvoiceFilters(), cursor=page.next_cursor, limit=2)
    assert len(page.rows) == 2 and len(rest.rows) == 1 and rest.next_cursor is None
    assert {r.invoice.id for r in page.rows + rest.rows} == {
        r.invoice.id for r in queries.list_invoices(setup.organization_id, queries.InvoiceFilters()).rows
    }
    only_paid = queries.list_invoices(setup.organization_id, queries.InvoiceFilters(status="paid"))
    assert [r.invoice.id for r in only_paid.rows] == [paid]
    assert queries.list_invoices(setup.organization_id, queries.InvoiceFilters(), own=[]).totals.count == 0


def test_aged_receivables_bucket_by_days_past_due(setup):
    from datetime import timedelta

    invoice_id = issued(setup)
    invoice = db.session.get(Invoice, invoice_id)
    rows, totals = queries.aged_receivables(setup.organization_id, today=invoice.due_date + timedelta(days=45))
    assert totals["days_31_60"] == 13200 and rows[0].total == 13200
    rows, totals = queries.aged_receivables(setup.organization_id, today=invoice.due_date)
    assert totals["current"] == 13200
