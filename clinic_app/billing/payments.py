"""Money in and out: payments on an invoice (partial, or more than is due: the rest becomes the
patient's credit), refunds, and applying a patient's credit to an invoice.

Every change of an invoice's paid amount holds the invoice (``lock_invoice``), and every change of
a patient's credit holds that patient's credit ledger, so two desks recording at once never lose
an update or spend the same credit twice. Every movement is audited with the patient's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select, text

from clinic_app.billing.events import record
from clinic_app.billing.invoices import lock_invoice
from clinic_app.billing.lifecycle import settle_status
from clinic_app.billing.models import (
    APPLIED,
    CREDIT_REFUNDED,
    DRAFT,
    METHODS,
    OVERPAYMENT,
    PAID,
    PATIENT_CREDIT,
    PAYMENT,
    REFUND,
    VOID,
    Invoice,
    PatientCredit,
    Payment,
)
from clinic_app.billing.money import MAX_AMOUNT
from clinic_app.core import audit
from clinic_app.core import text as plain
from clinic_app.core.errors import Conflict, FieldError, Invalid
from clinic_app.core.time import day_in_range, local_today, organization_zone, utcnow
from clinic_app.extensions import db
from clinic_app.patients import service as patients

REFERENCE_MAX = 100


@dataclass(frozen=True)
class PaymentInput:
    amount: int | None = None
    method: str | None = None
    received_on: date | None = None
    reference: str | None = None


def _checked(organization_id: str, data: PaymentInput) -> tuple[int, str, date, str | None]:
    errors: list[FieldError] = []
    if data.amount is None or not 1 <= data.amount <= MAX_AMOUNT:
        errors.append(FieldError("amount", f"Give the amount in cents (1 to {MAX_AMOUNT})."))
    if data.method not in METHODS:
        errors.append(FieldError("method", "Choose one of " + ", ".join(METHODS) + "."))
    today = local_today(organization_zone(organization_id))
    received_on = data.received_on or today
    if not day_in_range(received_on) or received_on > today:
        errors.append(FieldError("received_on", "Choose a date that is not in the future."))
    reference = (data.reference or "").strip() or None
    if reference is not None and (plain.unusable(reference) or len(reference) > REFERENCE_MAX):
        errors.append(FieldError("reference", f"At most {REFERENCE_MAX} characters of plain text."))
    if errors:
        raise Invalid(errors=errors)
    return data.amount or 0, data.method or "", received_on, reference


def _hold_credit(patient_id: str) -> None:
    """Serialise changes to one patient's credit until the transaction ends."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"credit:{patient_id}"})
    elif dialect == "sqlite":
        db.session.execute(text("UPDATE patient_credits SET amount = amount WHERE 0"))


def credit_balance(organization_id: str, patient_id: str) -> int:
    """The patient's credit in minor units (never negative)."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(PatientCredit.amount), 0)).where(
            PatientCredit.organization_id == organization_id, PatientCredit.patient_id == patient_id
        )
    )
    return int(total or 0)


def _payable(organization_id: str, invoice_id: str) -> Invoice:
    invoice = lock_invoice(organization_id, invoice_id)
    if invoice.status in (DRAFT, VOID):
        raise Conflict("Only an issued invoice takes payments.")
    return invoice


def _add_payment(
    organization_id: str,
    patient_id: str,
    invoice_id: str | None,
    *,
    kind: str,
    method: str,
    amount: int,
    applied: int,
    received_on: date,
    reference: str | None = None,
    actor: audit.Actor,
) -> Payment:
    """A payment or refund row, added and flushed (so its id can be referred to)."""
    payment = Payment(
        organization_id=organization_id,
        patient_id=patient_id,
        invoice_id=invoice_id,
        kind=kind,
        method=method,
        amount=amount,
        applied=applied,
        received_on=received_on,
        reference=reference,
        created_at=utcnow(),
        created_by_id=actor.user_id,
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def _add_credit(
    organization_id: str, patient_id: str, amount: int, source: str, payment: Payment, invoice_id: str | None = None
) -> None:
    """A movement of the patient's credit (negative: credit used or paid back), tied to ``payment``."""
    db.session.add(
        PatientCredit(
            organization_id=organization_id,
            patient_id=patient_id,
            amount=amount,
            source=source,
            invoice_id=invoice_id,
            payment_id=payment.id,
            created_at=utcnow(),
        )
    )


def record_payment(organization_id: str, invoice_id: str, data: PaymentInput, *, actor: audit.Actor) -> Payment:
    """Record money received for an issued invoice. Up to the balance due settles the invoice;
    the rest becomes the patient's credit. Raises Conflict for a draft, void or paid invoice."""
    invoice = _payable(organization_id, invoice_id)
    amount, method, received_on, reference = _checked(organization_id, data)
    if invoice.status == PAID:
        raise Conflict("This invoice is paid: record the payment on the next invoice (or as credit there).")
    applied = min(amount, invoice.balance_due)
    payment = _add_payment(
        organization_id,
        invoice.patient_id,
        invoice.id,
        kind=PAYMENT,
        method=method,
        amount=amount,
        applied=applied,
        received_on=received_on,
        reference=reference,
        actor=actor,
    )
    invoice.amount_paid += applied
    if amount > applied:
        _hold_credit(invoice.patient_id)
        _add_credit(organization_id, invoice.patient_id, amount - applied, OVERPAYMENT, payment, invoice.id)
    settle_status(invoice)
    db.session.flush()
    record(
        "payment_recorded",
        organization_id,
        actor,
        target_type="payment",
        target_id=payment.id,
        patient_id=invoice.patient_id,
        invoice_id=invoice.id,
        amount=amount,
        applied=applied,
        method=method,
    )
    return payment


def refund_payment(organization_id: str, invoice_id: str, data: PaymentInput, *, actor: audit.Actor) -> Payment:
    """Give back money paid on an invoice (at most what was paid on it, net of earlier refunds);
    its balance due grows again."""
    invoice = _payable(organization_id, invoice_id)
    amount, method, received_on, reference = _checked(organization_id, data)
    if amount > invoice.amount_paid:
        raise Invalid(errors=[FieldError("amount", "More than has been paid on this invoice.")])
    refund = _add_payment(
        organization_id,
        invoice.patient_id,
        invoice.id,
        kind=REFUND,
        method=method,
        amount=amount,
        applied=amount,
        received_on=received_on,
        reference=reference,
        actor=actor,
    )
    invoice.amount_paid -= amount
    settle_status(invoice)
    db.session.flush()
    record(
        "refund_recorded",
        organization_id,
        actor,
        target_type="payment",
        target_id=refund.id,
        patient_id=invoice.patient_id,
        invoice_id=invoice.id,
        amount=amount,
        method=method,
    )
    return refund


def refund_credit(organization_id: str, patient_id: str, data: PaymentInput, *, actor: audit.Actor) -> Payment:
    """Pay a patient's credit back to them (at most their credit)."""
    patient = patients.get_patient(organization_id, patient_id)
    amount, method, received_on, reference = _checked(organization_id, data)
    _hold_credit(patient.id)
    if amount > credit_balance(organization_id, patient.id):
        raise Invalid(errors=[FieldError("amount", "More than the patient's credit.")])
    refund = _add_payment(
        organization_id,
        patient.id,
        None,
        kind=REFUND,
        method=method,
        amount=amount,
        applied=0,
        received_on=received_on,
        reference=reference,
        actor=actor,
    )
    _add_credit(organization_id, patient.id, -amount, CREDIT_REFUNDED, refund)
    db.session.flush()
    record(
        "credit_refunded",
        organization_id,
        actor,
        target_type="payment",
        target_id=refund.id,
        patient_id=patient.id,
        amount=amount,
        method=method,
    )
    return refund


def apply_credit(organization_id: str, invoice_id: str, *, amount: int | None, actor: audit.Actor) -> Payment:
    """Pay an issued invoice from the patient's credit: ``amount`` or as much as both allow.
    Raises Conflict when there is no credit or nothing is due."""
    invoice = _payable(organization_id, invoice_id)
    _hold_credit(invoice.patient_id)
    available = credit_balance(organization_id, invoice.patient_id)
    if amount is not None and not 1 <= amount <= MAX_AMOUNT:
        raise Invalid(errors=[FieldError("amount", f"Give the amount in cents (1 to {MAX_AMOUNT}).")])
    if amount is not None and amount > min(available, invoice.balance_due):
        raise Invalid(errors=[FieldError("amount", "More than the patient's credit or the balance due.")])
    used = amount if amount is not None else min(available, invoice.balance_due)
    if used <= 0:
        raise Conflict("The patient has no credit, or nothing is due on this invoice.")
    payment = _add_payment(
        organization_id,
        invoice.patient_id,
        invoice.id,
        kind=PAYMENT,
        method=PATIENT_CREDIT,
        amount=used,
        applied=used,
        received_on=local_today(organization_zone(organization_id)),
        actor=actor,
    )
    _add_credit(organization_id, invoice.patient_id, -used, APPLIED, payment, invoice.id)
    invoice.amount_paid += used
    settle_status(invoice)
    db.session.flush()
    record(
        "credit_applied",
        organization_id,
        actor,
        target_type="payment",
        target_id=payment.id,
        patient_id=invoice.patient_id,
        invoice_id=invoice.id,
        amount=used,
    )
    return payment


def payments_of(organization_id: str, invoice_id: str) -> list[Payment]:
    return list(
        db.session.scalars(
            select(Payment)
            .where(Payment.organization_id == organization_id, Payment.invoice_id == invoice_id)
            .order_by(Payment.created_at, Payment.id)
        )
    )
