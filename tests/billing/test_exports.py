"""Exports for the accountant: a month of 200 invoices adds up to the invoice list's totals, cells
a spreadsheet would run are escaped, and the JSON export carries the same."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from decimal import Decimal

from clinic_app.billing import queries
from clinic_app.billing import service as billing
from clinic_app.core.time import local_today, organization_zone
from clinic_app.extensions import db
from tests.appointments.builders import make_patient
from tests.billing.conftest import ACTOR, setup_billing
from tests.factories import access_token_for


def _month_of_invoices(app, tenants, count: int):
    with app.app_context():
        setup = setup_billing(tenants.a.id)
        evil = make_patient(tenants.a.id, '=HYPERLINK("http://x")', "Smith")
        for n in range(count):
            patient = evil if n == 0 else setup.clinic.patient
            lines = (
                billing.LineInput(item_id=setup.consult_item, quantity=1 + n % 3, discount_basis_points=(n % 4) * 333),
                billing.LineInput(item_id=setup.report_item),
            )
            draft = billing.create_draft(tenants.a.id, billing.DraftInput(patient_id=patient, lines=lines), actor=ACTOR)
            billing.issue_invoice(tenants.a.id, draft.id, actor=ACTOR)
            if n % 5 == 0:
                billing.record_payment(tenants.a.id, draft.id, billing.PaymentInput(1000 + n, "card"), actor=ACTOR)
        # In the same month, a voided invoice and a draft: neither is a sale, in the list's totals or the CSV.
        by_hand = billing.DraftInput(patient_id=evil, lines=(billing.LineInput(item_id=setup.consult_item),))
        billing.create_draft(tenants.a.id, by_hand, actor=ACTOR)
        voided = billing.create_draft(tenants.a.id, by_hand, actor=ACTOR)
        billing.issue_invoice(tenants.a.id, voided.id, actor=ACTOR)
        billing.void_invoice(tenants.a.id, voided.id, reason="Entered twice", actor=ACTOR)
        db.session.commit()
        today = local_today(organization_zone(tenants.a.id))
        first = today.replace(day=1)
        totals = queries.list_invoices(tenants.a.id, queries.InvoiceFilters(date_from=first, date_to=today)).totals
        return first, today, totals


def _cents(text: str) -> int:
    return int(Decimal(text) * 100)


def test_a_month_of_200_invoices_adds_up_and_formulas_are_escaped(app, tenants, login_as):
    first, today, totals = _month_of_invoices(app, tenants, 200)
    assert totals.count == 201  # the 200 and the void one (the draft has no issue date)
    owner = login_as("owner")
    # The invoice list page, filtered to the month, shows these totals.
    listed = owner.get(f"/billing/invoices?date_from={first}&date_to={today}").get_data(as_text=True)
    shown = dict(re.findall(r'data-total="(\w+)">([^<]*)<', listed))
    assert _cents(shown["invoiced"].lstrip("$").replace(",", "")) == totals.invoiced
    assert _cents(shown["tax"].lstrip("$").replace(",", "")) == totals.tax
    answer = owner.get(f"/billing/exports/invoices.csv?date_from={first}&date_to={today}")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    invoice_totals: dict[str, int] = {}
    tax = 0
    names = defaultdict(set)
    for row in rows:
        invoice_totals[row["*InvoiceNumber"]] = _cents(row["Total"])
        tax += _cents(row["TaxAmount"])
        names[row["*ContactName"]].add(row["*InvoiceNumber"])
    assert len(invoice_totals) == 200 and len(rows) == 400
    assert sum(invoice_totals.values()) == totals.invoiced
    assert tax == totals.tax
    assert '\'=HYPERLINK("http://x") Smith' in names  # escaped: a spreadsheet shows it as text
    assert not any(name.startswith("=") for name in names)
    assert {row["*TaxType"] for row in rows} == {"OUTPUT", "EXEMPTOUTPUT"}

    payments = owner.get(f"/billing/exports/payments.csv?date_from={first}&date_to={today}").get_data(as_text=True)
    payment_rows = list(csv.DictReader(io.StringIO(payments.lstrip("\ufeff"))))
    assert sum(_cents(row["Amount"]) for row in payment_rows) == totals.paid
    assert '\'=HYPERLINK("http://x") Smith' in {row["ContactName"] for row in payment_rows}

    token = access_token_for(app, tenants.user("owner"))
    data = owner.get(
        f"/api/v1/billing/exports?date_from={first}&date_to={today}", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    assert data["totals"]["invoiced"] == totals.invoiced and data["totals"]["received"] == totals.paid
    assert len(data["invoices"]) == 200 and all(len(invoice["lines"]) == 2 for invoice in data["invoices"])


def test_exports_need_a_bounded_period_and_the_permission(app, tenants, login_as):
    owner = login_as("owner")
    assert owner.get("/billing/exports/invoices.csv").status_code == 422
    assert owner.get("/billing/exports/invoices.csv?date_from=2026-01-01&date_to=2027-06-01").status_code == 422
    assert owner.get("/billing/exports").status_code == 200
    assert (
        login_as("receptionist")
        .get("/billing/exports/invoices.csv?date_from=2026-01-01&date_to=2026-01-31")
        .status_code
        == 403
    )
