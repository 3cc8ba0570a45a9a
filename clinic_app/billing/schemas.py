"""Pydantic schemas of the billing JSON API. Every amount is an integer in the currency's minor
units (cents): ``12000`` is $120.00. Bodies of routes with an id in the path leave their fields
optional here and the service checks them after the record is found, so another organization's id
is a 404 whatever the body says."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field
from clinic_app.core.time import day_in_range, out_of_range

MINOR = "in minor units (cents)"
# Aged receivables answered every patient who owed before the list paged; a page this long keeps
# that for all but the largest practices, which now follow next_cursor.
RECEIVABLES_PAGE, RECEIVABLES_PAGE_MAX = 200, 500


def _iso_day(value: object) -> object:
    # Only YYYY-MM-DD: pydantic would otherwise read "0" as a Unix time (1 January 1970).
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise PydanticCustomError("date_format", "Use a date as YYYY-MM-DD.")
    if not isinstance(value, str | date):
        raise PydanticCustomError("date_type", "Use a date as YYYY-MM-DD.")
    return value


def _day(value: date) -> date:
    if not day_in_range(value):
        raise PydanticCustomError("date_out_of_range", out_of_range())
    return value


Day = Annotated[date, BeforeValidator(_iso_day), AfterValidator(_day)]
Amount = Annotated[int, Field(ge=0, le=10_000_000)]
Method = Literal["card", "cash", "eft", "health_fund", "other"]
InvoiceStatus = Literal["draft", "issued", "partially_paid", "paid", "void"]
Id = Annotated[str, Field(max_length=40)]


# --- items, tax rates, settings ----------------------------------------------------------------


class TaxRateIn(Schema):
    name: str = Field(max_length=60)
    basis_points: int = Field(ge=0, le=10_000, description="1000 is 10 %")


class TaxRateOut(Schema):
    id: str
    name: str
    basis_points: int


class TaxRateListOut(Schema):
    tax_rates: list[TaxRateOut]


class ItemIn(Schema):
    name: str | None = Field(default=None, max_length=200)
    code: str | None = Field(default=None, max_length=40, description="Medicare or health-fund item number")
    unit_price: Amount | None = Field(default=None, description=f"Price before tax, {MINOR}")
    tax_rate_id: Id | None = None
    appointment_type_id: Id | None = Field(default=None, description="Billed by default for this appointment type")
    clear_appointment_type: bool = False


class ItemOut(Schema):
    id: str
    name: str
    code: str | None
    unit_price: int
    tax_rate_id: str
    appointment_type_id: str | None
    archived: bool


class ItemListOut(Schema):
    items: list[ItemOut]


class SettingsIn(Schema):
    currency: str | None = Field(default=None, max_length=3)
    payment_terms_days: int | None = Field(default=None, ge=0, le=365)
    invoice_prefix: str | None = Field(default=None, max_length=12)
    credit_note_prefix: str | None = Field(default=None, max_length=12)
    business_number: str | None = Field(default=None, max_length=40, description="ABN")
    payment_instructions: str | None = Field(default=None, max_length=1000)


class SettingsOut(Schema):
    currency: str
    payment_terms_days: int
    invoice_prefix: str
    credit_note_prefix: str
    business_number: str | None
    payment_instructions: str | None


# --- invoices ----------------------------------------------------------------------------------


class LineIn(Schema):
    item_id: Id | None = Field(default=None, description="A billable item; its values are the defaults")
    description: str | None = Field(default=None, max_length=200)
    code: str | None = Field(default=None, max_length=40)
    quantity: int | None = Field(default=None, ge=1, le=1000)
    unit_price: Amount | None = None
    discount_basis_points: int | None = Field(default=None, ge=0, le=10_000, description="1000 is 10 % off")
    tax_rate_id: Id | None = None


class InvoiceCreate(Schema):
    patient_id: Id | None = Field(default=None, description="Required unless an appointment or consultation is given")
    practitioner_id: Id | None = None
    appointment_id: Id | None = Field(default=None, description="Prefills patient, practitioner and its type's items")
    consultation_id: Id | None = None
    due_date: Day | None = None
    notes: str | None = Field(default=None, max_length=2000, description="Stored encrypted")
    lines: list[LineIn] = Field(default_factory=list, max_length=50)


class InvoicePatch(Schema):
    practitioner_id: Id | None = None
    due_date: Day | None = None
    notes: str | None = Field(default=None, max_length=2000)


class LineOut(Schema):
    id: str
    position: int
    item_id: str | None
    code: str | None
    description: str
    quantity: int
    unit_price: int
    discount_basis_points: int
    tax_name: str
    tax_basis_points: int
    net: int
    tax: int
    total: int
    credited_quantity: int


class PaymentOut(Schema):
    id: str
    invoice_id: str | None
    patient_id: str
    kind: Literal["payment", "refund"]
    method: str
    amount: int
    applied: int = Field(description="What settled the invoice; the rest of a payment became the patient's credit")
    received_on: date
    reference: str | None
    created_at: Timestamp


class CreditNoteSummary(Schema):
    id: str
    number: str
    issue_date: date
    total: int


class InvoiceSummary(Schema):
    id: str
    number: str | None
    status: InvoiceStatus
    overdue: bool = Field(description="Issued, not settled, past the due date (computed, never stored)")
    patient_id: str
    patient_name: str
    practitioner_id: str | None
    practitioner_name: str | None
    appointment_id: str | None
    currency: str
    issue_date: date | None
    due_date: date | None
    subtotal: int
    tax_total: int
    total: int
    amount_paid: int
    amount_credited: int
    balance_due: int
    created_at: Timestamp


class InvoiceOut(InvoiceSummary):
    consultation_id: str | None
    issued_at: Timestamp | None
    voided_at: Timestamp | None
    notes: str | None
    void_reason: str | None
    lines: list[LineOut]
    payments: list[PaymentOut]
    credit_notes: list[CreditNoteSummary]
    patient_credit: int = Field(description=f"The patient's credit available, {MINOR}")


class InvoiceListQuery(Schema):
    limit: int = limit_field(50, 100)
    cursor: str | None = cursor_field()
    status: Literal["draft", "issued", "partially_paid", "paid", "void", "overdue"] | None = None
    patient_id: Id | None = None
    practitioner_id: Id | None = None
    date_from: Day | None = Field(default=None, description="Issue date from (inclusive)")
    date_to: Day | None = Field(default=None, description="Issue date to (inclusive)")


class TotalsOut(Schema):
    count: int = Field(description="Invoices matching the filters (every page)")
    invoiced: int = Field(description=f"Issued, partially paid and paid invoices' totals, {MINOR}")
    tax: int
    paid: int
    credited: int
    due: int


class InvoiceListOut(Schema):
    invoices: list[InvoiceSummary]
    totals: TotalsOut
    limit: int
    next_cursor: str | None = next_cursor_field()
    has_more: bool


class VoidIn(Schema):
    reason: str | None = Field(default=None, max_length=500, description="Required; stored encrypted")


class PaymentIn(Schema):
    amount: Amount | None = Field(default=None, description=f"Required, {MINOR}")
    method: Method | None = Field(default=None, description="Required")
    received_on: Day | None = Field(default=None, description="Defaults to today; never in the future")
    reference: str | None = Field(default=None, max_length=100)


class ApplyCreditIn(Schema):
    amount: Amount | None = Field(default=None, description="Defaults to as much as the credit and balance allow")


class CreditLineIn(Schema):
    invoice_line_id: Id
    quantity: int = Field(ge=1, le=1000)


class CreditNoteIn(Schema):
    reason: str | None = Field(default=None, max_length=500, description="Required; stored encrypted")
    lines: list[CreditLineIn] | None = Field(
        default=None, max_length=50, description="Omit to credit everything not yet credited"
    )


class CreditNoteLineOut(Schema):
    invoice_line_id: str
    code: str | None
    description: str
    quantity: int
    unit_price: int
    tax_basis_points: int
    net: int
    tax: int
    total: int


class CreditNoteOut(Schema):
    id: str
    number: str
    invoice_id: str
    invoice_number: str | None
    patient_id: str
    currency: str
    issue_date: date
    subtotal: int
    tax_total: int
    total: int
    reason: str | None
    lines: list[CreditNoteLineOut]
    created_at: Timestamp


# --- accounts and receivables ------------------------------------------------------------------


class BalanceOut(Schema):
    patient_id: str
    currency: str
    invoiced: int
    paid: int
    credited: int
    due: int = Field(description="Owed on issued invoices")
    credit: int = Field(description="The patient's credit (overpayments, credit notes beyond the balance)")
    balance: int = Field(description="Due less credit: what the patient owes (negative: what the clinic owes)")
    invoices: list[InvoiceSummary]


class BucketsOut(Schema):
    current: int = Field(description="Not yet past the due date")
    days_1_30: int
    days_31_60: int
    days_61_90: int
    days_over_90: int
    total: int


class AgedRowOut(BucketsOut):
    patient_id: str
    patient_name: str


class ReceivablesQuery(Schema):
    limit: int = limit_field(RECEIVABLES_PAGE, RECEIVABLES_PAGE_MAX)
    cursor: str | None = cursor_field()


class ReceivablesOut(Schema):
    currency: str
    as_of: date
    patients: list[AgedRowOut] = Field(description="Largest amount owed first, `limit` at a time")
    totals: BucketsOut = Field(description="Over every patient who owes, not only this page's")
    next_cursor: str | None = next_cursor_field()


# --- exports -----------------------------------------------------------------------------------


class ExportQuery(Schema):
    date_from: Day | None = Field(default=None, description="Required: the period's first day")
    date_to: Day | None = Field(default=None, description="Required: the period's last day (at most a year on)")


class ExportInvoiceOut(Schema):
    id: str
    number: str | None
    status: InvoiceStatus
    patient_id: str
    patient_name: str
    practitioner_id: str | None
    issue_date: date | None
    due_date: date | None
    currency: str
    subtotal: int
    tax_total: int
    total: int
    amount_paid: int
    amount_credited: int
    balance_due: int
    lines: list[LineOut]


class ExportPaymentOut(PaymentOut):
    invoice_number: str | None
    patient_name: str


class ExportCreditNoteOut(Schema):
    id: str
    number: str
    invoice_id: str
    invoice_number: str | None
    patient_id: str
    patient_name: str
    issue_date: date
    currency: str
    subtotal: int
    tax_total: int
    total: int
    lines: list[CreditNoteLineOut]


class ExportTotalsOut(Schema):
    invoiced: int
    tax: int
    received: int = Field(description="Payments less refunds, patient credit applied excluded")
    credited: int


class ExportOut(Schema):
    date_from: date
    date_to: date
    invoices: list[ExportInvoiceOut]
    payments: list[ExportPaymentOut]
    credit_notes: list[ExportCreditNoteOut]
    totals: ExportTotalsOut
