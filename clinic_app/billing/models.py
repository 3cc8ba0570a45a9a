"""Tables of billing: the organization's billing settings and tax rates, billable items, invoices
and their lines, payments, credit notes and their lines, the patient credit ledger, and one counter
row per numbered sequence.

Money is integer minor units (cents) of the organization's currency, never floats. Amounts are
plaintext (lists total and sort by them); what someone wrote about a patient (invoice notes, a void
or credit reason) is stored as ciphertext in ``*_enc`` columns, bound to its organization and column.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core import crypto
from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin

DRAFT, ISSUED, PARTIALLY_PAID, PAID, VOID = "draft", "issued", "partially_paid", "paid", "void"
STATUSES = (DRAFT, ISSUED, PARTIALLY_PAID, PAID, VOID)
OPEN_STATUSES = (ISSUED, PARTIALLY_PAID)  # issued and not settled: what can be overdue
COUNTED_STATUSES = (ISSUED, PARTIALLY_PAID, PAID)  # what totals and balances count

CARD, CASH, EFT, HEALTH_FUND, OTHER, PATIENT_CREDIT = "card", "cash", "eft", "health_fund", "other", "patient_credit"
METHODS = (CARD, CASH, EFT, HEALTH_FUND, OTHER)  # what a person can record
ALL_METHODS = (*METHODS, PATIENT_CREDIT)  # plus the patient's credit applied to an invoice

PAYMENT, REFUND = "payment", "refund"
PAYMENT_KINDS = (PAYMENT, REFUND)

INVOICE_SEQUENCE, CREDIT_NOTE_SEQUENCE = "invoice", "credit_note"
SEQUENCES = (INVOICE_SEQUENCE, CREDIT_NOTE_SEQUENCE)

# Where a patient's credit came from or went.
OVERPAYMENT, APPLIED, CREDIT_REFUNDED, CREDIT_NOTE = "overpayment", "applied", "refunded", "credit_note"
CREDIT_SOURCES = (OVERPAYMENT, APPLIED, CREDIT_REFUNDED, CREDIT_NOTE)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def _org() -> Mapped[str]:
    return mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))


class BillingSettings(TimestampMixin, Model):
    """One row per organization: currency, payment terms, number prefixes, letterhead facts."""

    __tablename__ = "billing_settings"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), default="AUD")
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=14)
    invoice_prefix: Mapped[str] = mapped_column(String(12), default="INV-")
    credit_note_prefix: Mapped[str] = mapped_column(String(12), default="CN-")
    business_number: Mapped[str | None] = mapped_column(String(40))  # the ABN
    payment_instructions: Mapped[str | None] = mapped_column(Text)


class BillingCounter(Model):
    """The next number of one sequence of one organization. Issuing increments it inside the
    issuing transaction (``UPDATE … SET next_number = next_number + 1 … RETURNING``): the row stays
    locked until commit, and a rollback gives the number back (docs/billing.md)."""

    __tablename__ = "billing_counters"
    __table_args__ = (CheckConstraint(_one_of("sequence", SEQUENCES), name="sequence"),)

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    sequence: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_number: Mapped[int] = mapped_column(Integer, default=1)


class BillingStatusTotals(Model):
    """The organization's invoices of one status, counted and summed, kept up to date in the same
    transaction as every change of an invoice (``billing.totals``): the invoice list's totals
    without filters read these few rows instead of summing every invoice."""

    __tablename__ = "billing_status_totals"
    __table_args__ = (CheckConstraint(_one_of("status", STATUSES), name="status"),)

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_total: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_credited: Mapped[int] = mapped_column(BigInteger, default=0)


class TaxRate(PublicIdMixin, TimestampMixin, Model):
    """A tax rate of the organization in basis points (GST 10 % is 1000; exempt is 0)."""

    __tablename__ = "billing_tax_rates"
    __table_args__ = (
        UniqueConstraint("organization_id", "name"),
        CheckConstraint("basis_points >= 0 AND basis_points <= 10000", name="basis_points"),
    )
    id_prefix = "tax"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    basis_points: Mapped[int] = mapped_column(Integer)
    archived_at: Mapped[datetime | None]


class BillableItem(PublicIdMixin, TimestampMixin, Model):
    """Something the clinic charges for: name, code (a Medicare or health-fund item number), price
    before tax, its tax rate, and optionally the appointment type it is billed for by default."""

    __tablename__ = "billing_items"
    __table_args__ = (
        CheckConstraint("unit_price >= 0", name="unit_price"),
        Index("ix_billing_items_org_name", "organization_id", "name"),
        Index("ix_billing_items_org_appointment_type", "organization_id", "appointment_type_id"),
    )
    id_prefix = "itm"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(40))
    unit_price: Mapped[int] = mapped_column(Integer)
    tax_rate_id: Mapped[str] = mapped_column(ForeignKey("billing_tax_rates.id"))
    appointment_type_id: Mapped[str | None] = mapped_column(ForeignKey("appointment_types.id", ondelete="SET NULL"))
    archived_at: Mapped[datetime | None]


class Invoice(PublicIdMixin, TimestampMixin, Model):
    """An invoice to one patient. A draft has no number; issuing gives the next number and freezes
    it. Totals are kept on the row (recomputed from the lines while a draft); ``amount_paid`` is net
    of refunds and ``amount_credited`` sums its credit notes. ``overdue`` is never stored."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("organization_id", "number"),
        CheckConstraint(_one_of("status", STATUSES), name="status"),
        Index("ix_invoices_org_status_created", "organization_id", "status", "created_at", "id"),
        Index("ix_invoices_org_created", "organization_id", "created_at", "id"),
        Index("ix_invoices_org_issue", "organization_id", "issue_date"),
        Index("ix_invoices_org_patient", "organization_id", "patient_id"),
        # An appointment has at most one invoice that is not void (one atomic rule, no check-then-act).
        Index(
            "uq_invoices_open_appointment",
            "organization_id",
            "appointment_id",
            unique=True,
            sqlite_where=text("status != 'void' AND appointment_id IS NOT NULL"),
            postgresql_where=text("status != 'void' AND appointment_id IS NOT NULL"),
        ),
        Index("ix_invoices_org_practitioner", "organization_id", "practitioner_id"),
    )
    id_prefix = "inv"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    number: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    practitioner_id: Mapped[str | None] = mapped_column(ForeignKey("practitioners.id", ondelete="SET NULL"))
    appointment_id: Mapped[str | None] = mapped_column(ForeignKey("appointments.id", ondelete="SET NULL"))
    consultation_id: Mapped[str | None] = mapped_column(ForeignKey("consultation_sessions.id", ondelete="SET NULL"))
    currency: Mapped[str] = mapped_column(String(3))
    issue_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    issued_at: Mapped[datetime | None]
    subtotal: Mapped[int] = mapped_column(Integer, default=0)
    tax_total: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    amount_paid: Mapped[int] = mapped_column(Integer, default=0)
    amount_credited: Mapped[int] = mapped_column(Integer, default=0)
    notes_enc: Mapped[str | None] = mapped_column(Text)
    void_reason_enc: Mapped[str | None] = mapped_column(Text)
    voided_at: Mapped[datetime | None]
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    issued_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    voided_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @property
    def balance_due(self) -> int:
        if self.status in (DRAFT, VOID):
            return 0
        return self.total - self.amount_paid - self.amount_credited


class InvoiceLine(PublicIdMixin, Model):
    """One line: quantity x unit price, less a percentage discount, plus tax at the line's rate.
    ``net``, ``tax`` and ``total`` are rounded half-up per line (``billing.money.line_amounts``)."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        UniqueConstraint("invoice_id", "position"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("discount_basis_points >= 0 AND discount_basis_points <= 10000", name="discount"),
    )
    id_prefix = "inl"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[str | None] = mapped_column(ForeignKey("billing_items.id", ondelete="SET NULL"))
    code: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Integer)
    discount_basis_points: Mapped[int] = mapped_column(Integer, default=0)
    tax_name: Mapped[str] = mapped_column(String(60))
    tax_basis_points: Mapped[int] = mapped_column(Integer)
    net: Mapped[int] = mapped_column(Integer)
    tax: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    credited_quantity: Mapped[int] = mapped_column(Integer, default=0)


class Payment(PublicIdMixin, Model):
    """Money received (``payment``) or given back (``refund``), always a positive amount. A payment
    larger than the invoice's balance is recorded in full: ``applied`` is what settled the invoice
    and the rest became the patient's credit. A refund of credit has no invoice."""

    __tablename__ = "billing_payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint(_one_of("method", ALL_METHODS), name="method"),
        CheckConstraint(_one_of("kind", PAYMENT_KINDS), name="kind"),
        Index("ix_billing_payments_org_received", "organization_id", "received_on"),
        Index("ix_billing_payments_org_invoice", "organization_id", "invoice_id"),
        Index("ix_billing_payments_org_patient", "organization_id", "patient_id"),
    )
    id_prefix = "pay"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    kind: Mapped[str] = mapped_column(String(8), default=PAYMENT)
    method: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    applied: Mapped[int] = mapped_column(Integer)
    received_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class CreditNote(PublicIdMixin, Model):
    """A correction of an issued invoice, numbered in its own sequence when it is created."""

    __tablename__ = "credit_notes"
    __table_args__ = (
        UniqueConstraint("organization_id", "number"),
        Index("ix_credit_notes_org_issue", "organization_id", "issue_date"),
        Index("ix_credit_notes_org_invoice", "organization_id", "invoice_id"),
    )
    id_prefix = "crn"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(40))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    currency: Mapped[str] = mapped_column(String(3))
    issue_date: Mapped[date] = mapped_column(Date)
    subtotal: Mapped[int] = mapped_column(Integer)
    tax_total: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    reason_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class CreditNoteLine(PublicIdMixin, Model):
    """Part of an invoice line credited back: the quantity, at that line's price, discount and tax."""

    __tablename__ = "credit_note_lines"
    id_prefix = "cnl"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    credit_note_id: Mapped[str] = mapped_column(ForeignKey("credit_notes.id", ondelete="CASCADE"), index=True)
    invoice_line_id: Mapped[str] = mapped_column(ForeignKey("invoice_lines.id"))
    code: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Integer)
    tax_basis_points: Mapped[int] = mapped_column(Integer)
    net: Mapped[int] = mapped_column(Integer)
    tax: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)


class PatientCredit(PublicIdMixin, Model):
    """One movement of a patient's credit (signed: an overpayment or credit note adds, applying it
    to an invoice or refunding it takes away). The balance is the sum and is never negative."""

    __tablename__ = "patient_credits"
    __table_args__ = (
        CheckConstraint(_one_of("source", CREDIT_SOURCES), name="source"),
        Index("ix_patient_credits_org_patient", "organization_id", "patient_id"),
    )
    id_prefix = "pcr"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    amount: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("billing_payments.id"))
    credit_note_id: Mapped[str | None] = mapped_column(ForeignKey("credit_notes.id"))
    created_at: Mapped[datetime]


# The field name each column's ciphertext is bound to (and that key rotation re-encrypts under).
INVOICE_FIELDS = {"notes": "invoices.notes", "void_reason": "invoices.void_reason"}
CREDIT_NOTE_FIELDS = {"reason": "credit_notes.reason"}

for _name, _field in INVOICE_FIELDS.items():
    crypto.encrypted_column(Invoice, f"{_name}_enc", _field)
for _name, _field in CREDIT_NOTE_FIELDS.items():
    crypto.encrypted_column(CreditNote, f"{_name}_enc", _field)
