"""Reads for pages, the API and exports: the invoice list (filters, keyset pages, totals), one
invoice with its lines, payments and credit notes, a patient's account, aged receivables.

Reads that decrypt what was written about a patient (notes, reasons) record an audit event.
``own`` limits a reader to the invoices of their own practitioner rows (clinicians see their own
patients' invoices only); None reads all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select

from clinic_app.appointments.models import Practitioner
from clinic_app.billing import lifecycle, payments
from clinic_app.billing import totals as status_totals
from clinic_app.billing.events import INVOICE_NOT_FOUND, record
from clinic_app.billing.invoices import get_invoice, lines_of
from clinic_app.billing.models import (
    COUNTED_STATUSES,
    CREDIT_NOTE_FIELDS,
    INVOICE_FIELDS,
    OPEN_STATUSES,
    STATUSES,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    Payment,
)
from clinic_app.core import audit, crypto
from clinic_app.core.errors import FieldError, Invalid, NotFound
from clinic_app.core.pagination import bad_cursor, decode_cursor, encode_cursor
from clinic_app.core.time import local_today, organization_zone
from clinic_app.extensions import db
from clinic_app.patients.models import Patient

OVERDUE = "overdue"
FILTER_STATUSES = (*STATUSES, OVERDUE)
LIMIT_MAX = 100
BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90")


def own_practitioners(organization_id: str, user_id: str | None) -> list[str]:
    """The practitioner rows that are this person (a clinician's own invoices)."""
    if not user_id:
        return []
    return list(
        db.session.scalars(
            select(Practitioner.id).where(
                Practitioner.organization_id == organization_id, Practitioner.user_id == user_id
            )
        )
    )


def is_overdue(invoice: Invoice, today: date) -> bool:
    return invoice.status in OPEN_STATUSES and invoice.due_date is not None and invoice.due_date < today


@dataclass(frozen=True)
class InvoiceFilters:
    status: str | None = None
    patient_id: str | None = None
    practitioner_id: str | None = None
    date_from: date | None = None  # issue date, inclusive
    date_to: date | None = None


@dataclass
class InvoiceRow:
    invoice: Invoice
    patient_name: str
    practitioner_name: str | None
    overdue: bool


@dataclass
class Totals:
    count: int = 0
    invoiced: int = 0  # issued, partially paid and paid invoices
    tax: int = 0
    paid: int = 0
    credited: int = 0
    due: int = 0


@dataclass
class InvoicePage:
    rows: list[InvoiceRow]
    totals: Totals
    next_cursor: str | None


def _conditions(organization_id: str, filters: InvoiceFilters, own: list[str] | None, today: date) -> list[Any]:
    conditions: list[ColumnElement[bool]] = [Invoice.organization_id == organization_id]
    if own is not None:
        conditions.append(Invoice.practitioner_id.in_(own) if own else Invoice.id.is_(None))
    if filters.status == OVERDUE:
        conditions += [Invoice.status.in_(OPEN_STATUSES), Invoice.due_date < today]
    elif filters.status:
        conditions.append(Invoice.status == filters.status)
    if filters.patient_id:
        conditions.append(Invoice.patient_id == filters.patient_id)
    if filters.practitioner_id:
        conditions.append(Invoice.practitioner_id == filters.practitioner_id)
    if filters.date_from:
        conditions.append(Invoice.issue_date >= filters.date_from)
    if filters.date_to:
        conditions.append(Invoice.issue_date <= filters.date_to)
    return conditions


def totals_of(conditions: list[Any]) -> Totals:
    counted = Invoice.status.in_(COUNTED_STATUSES)

    def counted_sum(column: Any) -> Any:
        return func.coalesce(func.sum(case((counted, column), else_=0)), 0)

    row = db.session.execute(
        select(
            func.count(),
            counted_sum(Invoice.total),
            counted_sum(Invoice.tax_total),
            counted_sum(Invoice.amount_paid),
            counted_sum(Invoice.amount_credited),
        ).where(*conditions)
    ).one()
    count, invoiced, tax, paid, credited = (int(value or 0) for value in row)
    return Totals(count=count, invoiced=invoiced, tax=tax, paid=paid, credited=credited, due=invoiced - paid - credited)


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, invoice_id = decode_cursor(cursor).split("|", 1)
        return datetime.fromisoformat(stamp), invoice_id
    except ValueError:
        raise bad_cursor(message="This cursor is not one the list gave out.") from None


def list_invoices(
    organization_id: str,
    filters: InvoiceFilters,
    *,
    own: list[str] | None = None,
    cursor: str | None = None,
    limit: int = 50,
    with_totals: bool = True,
) -> InvoicePage:
    """The organization's invoices, newest first, ``limit`` at a time, with the totals of every
    invoice the filters match (not just this page). Raises Invalid for a bad cursor or status."""
    if filters.status and filters.status not in FILTER_STATUSES:
        raise Invalid(
            errors=[FieldError("status", "Choose one of " + ", ".join(FILTER_STATUSES) + ".", "LITERAL_ERROR")]
        )
    today = local_today(organization_zone(organization_id))
    conditions = _conditions(organization_id, filters, own, today)
    query = (
        select(Invoice, Patient.first_name, Patient.last_name, Practitioner.first_name, Practitioner.last_name)
        .join(Patient, Patient.id == Invoice.patient_id)
        .outerjoin(Practitioner, Practitioner.id == Invoice.practitioner_id)
        .where(*conditions)
    )
    if cursor:
        stamp, last_id = _decode(cursor)
        query = query.where(or_(Invoice.created_at < stamp, and_(Invoice.created_at == stamp, Invoice.id < last_id)))
    found = db.session.execute(query.order_by(Invoice.created_at.desc(), Invoice.id.desc()).limit(limit + 1)).all()
    rows = [
        InvoiceRow(
            invoice=invoice,
            patient_name=f"{first} {last}",
            practitioner_name=f"{p_first} {p_last}".strip() if p_first is not None else None,
            overdue=is_overdue(invoice, today),
        )
        for invoice, first, last, p_first, p_last in found[:limit]
    ]
    next_cursor = None
    if len(found) > limit:
        last_invoice = rows[-1].invoice
        next_cursor = encode_cursor(f"{last_invoice.created_at.isoformat()}|{last_invoice.id}")
    if not with_totals:
        summed = Totals()
    elif own is None and filters == InvoiceFilters():
        summed = kept_totals(organization_id)
    else:
        summed = totals_of(conditions)
    return InvoicePage(rows=rows, totals=summed, next_cursor=next_cursor)


def kept_totals(organization_id: str) -> Totals:
    """The organization's totals from ``billing_status_totals`` (kept in step by ``billing.totals``)."""
    by_status = status_totals.organization_totals(organization_id)
    counted = [by_status[status] for status in COUNTED_STATUSES if status in by_status]
    invoiced, tax, paid, credited = (sum(row[index] for row in counted) for index in range(1, 5))
    return Totals(
        count=sum(row[0] for row in by_status.values()),
        invoiced=invoiced,
        tax=tax,
        paid=paid,
        credited=credited,
        due=invoiced - paid - credited,
    )


@dataclass
class InvoiceDetail:
    invoice: Invoice
    lines: list[InvoiceLine]
    payments: list[Payment]
    credit_notes: list[CreditNote]
    notes: str | None
    void_reason: str | None
    overdue: bool
    patient_name: str
    practitioner_name: str | None
    credit_available: int


def readable_invoice(organization_id: str, invoice_id: str, *, own: list[str] | None) -> Invoice:
    """The invoice if this reader may see it (NotFound otherwise, as for another organization's)."""
    invoice = get_invoice(organization_id, invoice_id)
    if own is not None and invoice.practitioner_id not in own:
        raise NotFound(INVOICE_NOT_FOUND)
    return invoice


def invoice_detail(
    organization_id: str, invoice_id: str, *, own: list[str] | None, actor: audit.Actor
) -> InvoiceDetail:
    """One invoice with everything on it; records ``billing.invoice_viewed`` (notes are PHI)."""
    invoice = readable_invoice(organization_id, invoice_id, own=own)
    vault = crypto.vault_for(organization_id)
    notes = vault.decrypt(INVOICE_FIELDS["notes"], invoice.notes_enc, target_id=invoice.id)
    reason = vault.decrypt(INVOICE_FIELDS["void_reason"], invoice.void_reason_enc, target_id=invoice.id)
    patient = db.session.get(Patient, invoice.patient_id)
    person = db.session.get(Practitioner, invoice.practitioner_id) if invoice.practitioner_id else None
    record(
        "invoice_viewed",
        organization_id,
        actor,
        target_type="invoice",
        target_id=invoice.id,
        patient_id=invoice.patient_id,
    )
    return InvoiceDetail(
        invoice=invoice,
        lines=lines_of(invoice.id),
        payments=payments.payments_of(organization_id, invoice.id),
        credit_notes=credit_notes_of(organization_id, invoice.id),
        notes=str(notes) if notes is not None else None,
        void_reason=str(reason) if reason is not None else None,
        overdue=is_overdue(invoice, local_today(organization_zone(organization_id))),
        patient_name=f"{patient.first_name} {patient.last_name}" if patient else "",
        practitioner_name=f"{person.first_name} {person.last_name}".strip() if person else None,
        credit_available=payments.credit_balance(organization_id, invoice.patient_id),
    )


def credit_notes_of(organization_id: str, invoice_id: str) -> list[CreditNote]:
    return list(
        db.session.scalars(
            select(CreditNote)
            .where(CreditNote.organization_id == organization_id, CreditNote.invoice_id == invoice_id)
            .order_by(CreditNote.number)
        )
    )


@dataclass
class CreditNoteDetail:
    note: CreditNote
    lines: list[CreditNoteLine]
    reason: str | None
    invoice_number: str | None


def credit_note_detail(
    organization_id: str, credit_note_id: str, *, own: list[str] | None, actor: audit.Actor
) -> CreditNoteDetail:
    note = lifecycle.get_credit_note(organization_id, credit_note_id)
    invoice = readable_invoice(organization_id, note.invoice_id, own=own)
    reason = crypto.vault_for(organization_id).decrypt(CREDIT_NOTE_FIELDS["reason"], note.reason_enc, target_id=note.id)
    record(
        "credit_note_viewed",
        organization_id,
        actor,
        target_type="credit_note",
        target_id=note.id,
        patient_id=note.patient_id,
    )
    return CreditNoteDetail(
        note=note,
        lines=lifecycle.credit_note_lines(note.id),
        reason=str(reason) if reason is not None else None,
        invoice_number=invoice.number,
    )


@dataclass
class PatientAccount:
    patient_id: str
    invoiced: int
    paid: int
    credited: int
    due: int
    credit: int
    balance: int  # what the patient owes, less their credit (negative: the clinic owes them)
    invoices: list[InvoiceRow] = field(default_factory=list)
    payments: list[tuple[Payment, str | None]] = field(default_factory=list)  # with the invoice's number


def patient_account(organization_id: str, patient_id: str, *, own: list[str] | None) -> PatientAccount:
    """A patient's balance: what is due on their issued invoices less their credit."""
    conditions = [Invoice.organization_id == organization_id, Invoice.patient_id == patient_id]
    if own is not None:
        conditions.append(Invoice.practitioner_id.in_(own) if own else Invoice.id.is_(None))
    totals = totals_of(conditions)
    credit = payments.credit_balance(organization_id, patient_id) if own is None else 0
    page = list_invoices(
        organization_id, InvoiceFilters(patient_id=patient_id), own=own, limit=LIMIT_MAX, with_totals=False
    )
    return PatientAccount(
        patient_id=patient_id,
        invoiced=totals.invoiced,
        paid=totals.paid,
        credited=totals.credited,
        due=totals.due,
        credit=credit,
        balance=totals.due - credit,
        invoices=page.rows,
        payments=_payments_of_patient(organization_id, patient_id) if own is None else [],
    )


def _payments_of_patient(organization_id: str, patient_id: str) -> list[tuple[Payment, str | None]]:
    """The patient's latest payments and refunds, newest first, with their invoice's number."""
    found = db.session.execute(
        select(Payment, Invoice.number)
        .outerjoin(Invoice, Invoice.id == Payment.invoice_id)
        .where(Payment.organization_id == organization_id, Payment.patient_id == patient_id)
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(LIMIT_MAX)
    ).all()
    return [(payment, number) for payment, number in found]


@dataclass
class AgedRow:
    patient_id: str
    patient_name: str
    buckets: dict[str, int]
    total: int


def bucket_of(due_date: date | None, today: date) -> str:
    late = (today - due_date).days if due_date else 0
    if late <= 0:
        return "current"
    if late <= 30:
        return "days_1_30"
    if late <= 60:
        return "days_31_60"
    if late <= 90:
        return "days_61_90"
    return "days_over_90"


def aged_receivables(organization_id: str, *, today: date | None = None) -> tuple[list[AgedRow], dict[str, int]]:
    """What is owed on open invoices per patient, by days past the due date: current, 1-30,
    31-60, 61-90 and over 90; and the column totals."""
    today = today or local_today(organization_zone(organization_id))
    found = db.session.execute(
        select(
            Invoice.patient_id,
            Patient.first_name,
            Patient.last_name,
            Invoice.due_date,
            Invoice.total - Invoice.amount_paid - Invoice.amount_credited,
        )
        .join(Patient, Patient.id == Invoice.patient_id)
        .where(Invoice.organization_id == organization_id, Invoice.status.in_(OPEN_STATUSES))
    ).all()
    rows: dict[str, AgedRow] = {}
    totals = dict.fromkeys(BUCKETS, 0)
    for patient_id, first, last, due_date, due in found:
        row = rows.setdefault(patient_id, AgedRow(patient_id, f"{first} {last}", dict.fromkeys(BUCKETS, 0), 0))
        bucket = bucket_of(due_date, today)
        row.buckets[bucket] += due
        row.total += due
        totals[bucket] += due
    ordered = sorted(rows.values(), key=lambda r: (-r.total, r.patient_name))
    return ordered, totals
