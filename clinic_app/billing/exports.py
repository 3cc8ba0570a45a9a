"""Exports for the accountant: a period's invoices, payments and credit notes as CSV (columns that
Xero's sales-invoice import accepts, one row per line; every cell through ``core.csv.safe_cell``)
and as JSON. A period is at most a year; issued, partially paid and paid invoices are exported
(drafts have no number, and void invoices are not sales), so the CSV's invoice totals add up to
the invoice list's "Invoiced" for the same filter. Amounts in the files are decimals ("120.00")."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from clinic_app.billing.events import record
from clinic_app.billing.models import COUNTED_STATUSES, CreditNote, CreditNoteLine, Invoice, InvoiceLine, Payment
from clinic_app.billing.money import decimal_text
from clinic_app.core import audit
from clinic_app.core.csv import safe_cell
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.extensions import db
from clinic_app.patients.models import Patient

MAX_DAYS = 366
ACCOUNT_CODE = "200"  # Xero's default "Sales" account
INVOICE_COLUMNS = (
    "*ContactName", "*InvoiceNumber", "Reference", "*InvoiceDate", "*DueDate", "Total", "InventoryItemCode",
    "*Description", "*Quantity", "*UnitAmount", "Discount", "*AccountCode", "*TaxType", "TaxAmount", "Currency",
)  # fmt: skip
PAYMENT_COLUMNS = ("Date", "Kind", "Amount", "Method", "Reference", "InvoiceNumber", "ContactName")
CREDIT_NOTE_COLUMNS = (
    "*ContactName", "*CreditNoteNumber", "Reference", "*CreditNoteDate", "Total", "InventoryItemCode",
    "*Description", "*Quantity", "*UnitAmount", "*AccountCode", "*TaxType", "TaxAmount", "Currency",
)  # fmt: skip


def check_period(date_from: date | None, date_to: date | None) -> tuple[date, date]:
    """The period, both ends given and inclusive, at most a year. Raises Invalid otherwise."""
    errors = []
    if date_from is None:
        errors.append(FieldError("date_from", "Give the first day of the period."))
    if date_to is None:
        errors.append(FieldError("date_to", "Give the last day of the period."))
    if date_from and date_to and not timedelta(0) <= date_to - date_from < timedelta(days=MAX_DAYS):
        errors.append(FieldError("date_to", f"From the first day, up to {MAX_DAYS} days."))
    if errors:
        raise Invalid(errors=errors)
    return date_from, date_to  # type: ignore[return-value]


def _tax_type(basis_points: int) -> str:
    return "OUTPUT" if basis_points else "EXEMPTOUTPUT"  # Xero (AU): GST on income, GST free income


def _percent(basis_points: int) -> str:
    return f"{basis_points / 100:g}" if basis_points else ""


def _day(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


@dataclass
class Period:
    invoices: list[tuple[Invoice, str, list[InvoiceLine]]] = field(default_factory=list)
    payments: list[tuple[Payment, str, str | None]] = field(default_factory=list)
    credit_notes: list[tuple[CreditNote, str, str | None, list[CreditNoteLine]]] = field(default_factory=list)


def _name(first: str, last: str) -> str:
    return f"{first} {last}"


def period_records(organization_id: str, date_from: date, date_to: date) -> Period:
    """The period's invoices (by issue date), payments (by date received) and credit notes."""
    period = Period()
    invoices = db.session.execute(
        select(Invoice, Patient.first_name, Patient.last_name)
        .join(Patient, Patient.id == Invoice.patient_id)
        .where(
            Invoice.organization_id == organization_id,
            Invoice.status.in_(COUNTED_STATUSES),
            Invoice.issue_date >= date_from,
            Invoice.issue_date <= date_to,
        )
        .order_by(Invoice.number)
    ).all()
    ids = [invoice.id for invoice, *_ in invoices]
    lines: dict[str, list[InvoiceLine]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = select(InvoiceLine).where(InvoiceLine.invoice_id.in_(chunk)).order_by(InvoiceLine.position)
        for line in db.session.scalars(query):
            lines.setdefault(line.invoice_id, []).append(line)
    period.invoices = [(inv, _name(first, last), lines.get(inv.id, [])) for inv, first, last in invoices]
    numbers = dict(
        db.session.execute(
            select(Invoice.id, Invoice.number).where(
                Invoice.organization_id == organization_id, Invoice.number.is_not(None)
            )
        ).all()
    )
    payments = db.session.execute(
        select(Payment, Patient.first_name, Patient.last_name)
        .join(Patient, Patient.id == Payment.patient_id)
        .where(
            Payment.organization_id == organization_id, Payment.received_on >= date_from, Payment.received_on <= date_to
        )
        .order_by(Payment.received_on, Payment.created_at, Payment.id)
    ).all()
    period.payments = [(p, _name(first, last), numbers.get(p.invoice_id or "")) for p, first, last in payments]
    notes = db.session.execute(
        select(CreditNote, Patient.first_name, Patient.last_name)
        .join(Patient, Patient.id == CreditNote.patient_id)
        .where(
            CreditNote.organization_id == organization_id,
            CreditNote.issue_date >= date_from,
            CreditNote.issue_date <= date_to,
        )
        .order_by(CreditNote.number)
    ).all()
    for note, first, last in notes:
        note_lines = list(db.session.scalars(select(CreditNoteLine).where(CreditNoteLine.credit_note_id == note.id)))
        period.credit_notes.append((note, _name(first, last), numbers.get(note.invoice_id), note_lines))
    return period


def _csv(columns: tuple[str, ...], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
    return buffer.getvalue()


def invoices_csv(period: Period) -> str:
    rows = []
    for invoice, name, lines in period.invoices:
        for line in lines:
            rows.append([
                name, invoice.number, "", _day(invoice.issue_date), _day(invoice.due_date),
                decimal_text(invoice.total), line.code or "", line.description, line.quantity,
                decimal_text(line.unit_price), _percent(line.discount_basis_points),
                ACCOUNT_CODE, _tax_type(line.tax_basis_points), decimal_text(line.tax), invoice.currency,
            ])  # fmt: skip
    return _csv(INVOICE_COLUMNS, rows)


def payments_csv(period: Period) -> str:
    rows = [
        [_day(p.received_on), p.kind, decimal_text(p.amount), p.method, p.reference or "", number or "", name]
        for p, name, number in period.payments
    ]
    return _csv(PAYMENT_COLUMNS, rows)


def credit_notes_csv(period: Period) -> str:
    rows = []
    for note, name, invoice_number, lines in period.credit_notes:
        for line in lines:
            rows.append([
                name, note.number, invoice_number or "", _day(note.issue_date), decimal_text(note.total),
                line.code or "", line.description, line.quantity, decimal_text(line.unit_price), ACCOUNT_CODE,
                _tax_type(line.tax_basis_points), decimal_text(line.tax), note.currency,
            ])  # fmt: skip
    return _csv(CREDIT_NOTE_COLUMNS, rows)


KINDS = {"invoices": invoices_csv, "payments": payments_csv, "credit-notes": credit_notes_csv}


def export_csv(organization_id: str, kind: str, date_from: date, date_to: date, *, actor: audit.Actor) -> str:
    """One of the period's CSV files (``kind``: invoices, payments, credit-notes); audited."""
    text = KINDS[kind](period_records(organization_id, date_from, date_to))
    record("exported", organization_id, actor, target_type="billing_export", target_id=kind,
           date_from=date_from.isoformat(), date_to=date_to.isoformat(), format="csv")  # fmt: skip
    return text
