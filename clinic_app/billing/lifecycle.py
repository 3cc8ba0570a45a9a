"""An invoice's life after the draft: issuing (the next number, taken in the issuing
transaction), voiding (reason required, number kept) and credit notes (their own sequence).

Issued invoices are never edited or deleted; a credit note corrects one. Every step is audited
with the patient's id. Writes only flush; the request commits (and a rollback gives a taken number
back: ``billing.numbering``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from clinic_app.billing import catalog, numbering, totals
from clinic_app.billing.events import CREDIT_NOTE_NOT_FOUND, record
from clinic_app.billing.invoices import lines_of, lock_invoice
from clinic_app.billing.models import (
    CREDIT_NOTE,
    CREDIT_NOTE_FIELDS,
    CREDIT_NOTE_SEQUENCE,
    DRAFT,
    INVOICE_FIELDS,
    INVOICE_SEQUENCE,
    ISSUED,
    PAID,
    PARTIALLY_PAID,
    VOID,
    CreditNote,
    CreditNoteLine,
    Invoice,
    PatientCredit,
)
from clinic_app.billing.money import line_amounts
from clinic_app.billing.signals import invoice_changed
from clinic_app.core import audit, crypto
from clinic_app.core import text as plain
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.time import local_today, organization_zone, utcnow
from clinic_app.extensions import db

REASON_MAX = 500
ALREADY_ISSUED = "This invoice has already been issued."


def settle_status(invoice: Invoice) -> None:
    """``issued``, ``partially_paid`` or ``paid`` from what has been paid and credited."""
    if invoice.status in (DRAFT, VOID):
        return
    was = invoice.status
    if invoice.balance_due <= 0:
        invoice.status = PAID
    elif invoice.amount_paid + invoice.amount_credited > 0:
        invoice.status = PARTIALLY_PAID
    else:
        invoice.status = ISSUED
    if invoice.status == PAID and was != PAID:
        _announce(invoice, "paid")


def _announce(invoice: Invoice, change: str) -> None:
    invoice_changed.send(
        invoice,
        organization_id=invoice.organization_id,
        invoice_id=invoice.id,
        patient_id=invoice.patient_id,
        change=change,
    )


def issue_invoice(organization_id: str, invoice_id: str, *, actor: audit.Actor) -> Invoice:
    """Give a draft the organization's next invoice number, today's date and its due date
    (today + the payment terms unless the draft has one). Raises NotFound, Conflict when it is
    not a draft, Invalid when it has no lines."""
    invoice = lock_invoice(organization_id, invoice_id)
    if invoice.status != DRAFT:
        raise Conflict(ALREADY_ISSUED)
    if not lines_of(invoice.id):
        raise Invalid(errors=[FieldError("lines", "Add at least one line before issuing.")])
    settings = catalog.billing_settings(organization_id)
    number = numbering.formatted(settings.invoice_prefix, numbering.take_number(organization_id, INVOICE_SEQUENCE))
    today = local_today(organization_zone(organization_id))
    due = invoice.due_date if invoice.due_date and invoice.due_date >= today else None
    due = due or today + timedelta(days=settings.payment_terms_days)
    # Conditional on still being a draft: if another request issued it first, nothing changes,
    # and the Conflict rolls this transaction back, the number taken above included.
    changed = db.session.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.status == DRAFT)
        .values(
            status=ISSUED, number=number, issue_date=today, due_date=due, issued_at=utcnow(), issued_by_id=actor.user_id
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise Conflict(ALREADY_ISSUED)
    totals.note_move(db.session, invoice, DRAFT, ISSUED)
    db.session.refresh(invoice)
    record(
        "invoice_issued",
        organization_id,
        actor,
        target_type="invoice",
        target_id=invoice.id,
        patient_id=invoice.patient_id,
        number=number,
        total=invoice.total,
    )
    _announce(invoice, "issued")
    return invoice


def _reason(reason: str | None, field: str = "reason") -> str:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(errors=[FieldError(field, "Give the reason.")])
    if plain.unusable(reason) or len(reason) > REASON_MAX:
        raise Invalid(errors=[FieldError(field, f"At most {REASON_MAX} characters of plain text.")])
    return reason


def void_invoice(organization_id: str, invoice_id: str, *, reason: str | None, actor: audit.Actor) -> Invoice:
    """Void an issued invoice, keeping its number (the reason is required and kept encrypted).
    An invoice with money on it must have it refunded first (Conflict): voiding never makes a
    payment disappear. Drafts are deleted, not voided (Conflict)."""
    invoice = lock_invoice(organization_id, invoice_id)
    if invoice.status == DRAFT:
        raise Conflict("A draft has no number: delete it instead.")
    if invoice.status == VOID:
        raise Conflict("This invoice is already void.")
    text_reason = _reason(reason)
    if invoice.amount_paid > 0:
        raise Conflict("Payments have been recorded on this invoice: refund them or issue a credit note.")
    invoice.status = VOID
    invoice.voided_at = utcnow()
    invoice.voided_by_id = actor.user_id
    invoice.void_reason_enc = crypto.vault_for(organization_id).encrypt(INVOICE_FIELDS["void_reason"], text_reason)
    db.session.flush()
    record(
        "invoice_voided",
        organization_id,
        actor,
        target_type="invoice",
        target_id=invoice.id,
        patient_id=invoice.patient_id,
        number=invoice.number,
    )
    return invoice


@dataclass(frozen=True)
class CreditLineInput:
    invoice_line_id: str
    quantity: int


def get_credit_note(organization_id: str, credit_note_id: str | None) -> CreditNote:
    note = db.session.get(CreditNote, credit_note_id) if credit_note_id and not plain.unusable(credit_note_id) else None
    if note is None or note.organization_id != organization_id:
        raise NotFound(CREDIT_NOTE_NOT_FOUND)
    return note


def credit_note_lines(credit_note_id: str) -> list[CreditNoteLine]:
    return list(
        db.session.scalars(
            select(CreditNoteLine).where(CreditNoteLine.credit_note_id == credit_note_id).order_by(CreditNoteLine.id)
        )
    )


def issue_credit_note(
    organization_id: str,
    invoice_id: str,
    *,
    lines: list[CreditLineInput] | None,
    reason: str | None,
    actor: audit.Actor,
) -> CreditNote:
    """Credit part or all of an issued invoice (``lines`` None: everything not yet credited),
    numbered in the credit-note sequence. It first reduces the invoice's balance; what exceeds the
    balance (an invoice already paid) becomes the patient's credit. Raises Conflict for a draft or
    void invoice, Invalid for a line or quantity beyond what remains to credit."""
    invoice = lock_invoice(organization_id, invoice_id)
    if invoice.status in (DRAFT, VOID):
        raise Conflict("Only an issued invoice can be credited.")
    text_reason = _reason(reason)
    invoice_lines = {line.id: line for line in lines_of(invoice.id)}
    wanted = (
        lines
        if lines is not None
        else [
            CreditLineInput(line.id, line.quantity - line.credited_quantity)
            for line in invoice_lines.values()
            if line.quantity > line.credited_quantity
        ]
    )
    errors = []
    seen: set[str] = set()
    for index, entry in enumerate(wanted):
        line = invoice_lines.get(entry.invoice_line_id)
        if entry.invoice_line_id in seen:
            errors.append(FieldError(f"lines.{index}.invoice_line_id", "This line is already listed."))
        elif line is None:
            errors.append(FieldError(f"lines.{index}.invoice_line_id", "Not a line of this invoice."))
        elif not 1 <= entry.quantity <= line.quantity - line.credited_quantity:
            errors.append(FieldError(f"lines.{index}.quantity", "More than remains to credit on this line."))
        seen.add(entry.invoice_line_id)
    if errors or not wanted:
        raise Invalid(errors=errors or [FieldError("lines", "Nothing remains to credit on this invoice.")])
    settings = catalog.billing_settings(organization_id)
    number = numbering.formatted(
        settings.credit_note_prefix, numbering.take_number(organization_id, CREDIT_NOTE_SEQUENCE)
    )
    note = CreditNote(
        organization_id=organization_id,
        number=number,
        invoice_id=invoice.id,
        patient_id=invoice.patient_id,
        currency=invoice.currency,
        issue_date=local_today(organization_zone(organization_id)),
        subtotal=0,
        tax_total=0,
        total=0,
        reason_enc=crypto.vault_for(organization_id).encrypt(CREDIT_NOTE_FIELDS["reason"], text_reason),
        created_at=utcnow(),
        created_by_id=actor.user_id,
    )
    db.session.add(note)
    db.session.flush()
    for entry in wanted:
        line = invoice_lines[entry.invoice_line_id]
        amounts = line_amounts(entry.quantity, line.unit_price, line.discount_basis_points, line.tax_basis_points)
        if entry.quantity == line.quantity - line.credited_quantity:
            # The last of a line credits exactly what is left of it, so rounding never leaves a cent.
            done = credit_note_lines_of_line(line.id)
            net = line.net - sum(c.net for c in done)
            tax = line.tax - sum(c.tax for c in done)
        else:
            net, tax = amounts.net, amounts.tax
        db.session.add(
            CreditNoteLine(
                organization_id=organization_id,
                credit_note_id=note.id,
                invoice_line_id=line.id,
                code=line.code,
                description=line.description,
                quantity=entry.quantity,
                unit_price=line.unit_price,
                tax_basis_points=line.tax_basis_points,
                net=net,
                tax=tax,
                total=net + tax,
            )
        )
        line.credited_quantity += entry.quantity
        note.subtotal += net
        note.tax_total += tax
        note.total += net + tax
    reduces = min(note.total, max(invoice.balance_due, 0))
    invoice.amount_credited += reduces
    if note.total > reduces:
        db.session.add(
            PatientCredit(
                organization_id=organization_id,
                patient_id=invoice.patient_id,
                amount=note.total - reduces,
                source=CREDIT_NOTE,
                invoice_id=invoice.id,
                credit_note_id=note.id,
                created_at=utcnow(),
            )
        )
    settle_status(invoice)
    db.session.flush()
    record(
        "credit_note_issued",
        organization_id,
        actor,
        target_type="credit_note",
        target_id=note.id,
        patient_id=invoice.patient_id,
        number=number,
        invoice_id=invoice.id,
        total=note.total,
    )
    return note


def credit_note_lines_of_line(invoice_line_id: str) -> list[CreditNoteLine]:
    return list(db.session.scalars(select(CreditNoteLine).where(CreditNoteLine.invoice_line_id == invoice_line_id)))
