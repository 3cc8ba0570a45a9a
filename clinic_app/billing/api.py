"""The billing JSON API under /api/v1/billing: invoices (list with filters, totals and cursor
pages; create by hand, from an appointment or a consultation; lines; issue; void), payments,
refunds, patient credit and credit notes. Another organization's ids answer 404; an issued invoice
answers 409 to every change. Items, tax rates, settings, balances and receivables are in
``billing.api_accounts``."""

from __future__ import annotations

from flask import Response

from clinic_app.billing import bp, queries
from clinic_app.billing import service as billing
from clinic_app.billing.access import reader_scope
from clinic_app.billing.models import CreditNote, Invoice, InvoiceLine, Payment
from clinic_app.billing.schemas import (
    ApplyCreditIn,
    CreditNoteIn,
    CreditNoteLineOut,
    CreditNoteOut,
    CreditNoteSummary,
    InvoiceCreate,
    InvoiceListOut,
    InvoiceListQuery,
    InvoiceOut,
    InvoicePatch,
    InvoiceSummary,
    LineIn,
    LineOut,
    PaymentIn,
    PaymentOut,
    TotalsOut,
    VoidIn,
)
from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.tenancy import current_actor, current_organization_id

TAGS = ("billing",)
ISSUED_409 = {409: "The invoice has been issued (or is void) and cannot be changed this way"}


def summary_of(row: queries.InvoiceRow) -> InvoiceSummary:
    invoice = row.invoice
    return InvoiceSummary(
        id=invoice.id,
        number=invoice.number,
        status=invoice.status,  # type: ignore[arg-type]
        overdue=row.overdue,
        patient_id=invoice.patient_id,
        patient_name=row.patient_name,
        practitioner_id=invoice.practitioner_id,
        practitioner_name=row.practitioner_name,
        appointment_id=invoice.appointment_id,
        currency=invoice.currency,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        subtotal=invoice.subtotal,
        tax_total=invoice.tax_total,
        total=invoice.total,
        amount_paid=invoice.amount_paid,
        amount_credited=invoice.amount_credited,
        balance_due=invoice.balance_due,
        created_at=invoice.created_at,
    )


def _line_out(line: InvoiceLine) -> LineOut:
    return LineOut.model_validate(line)


def _payment_out(payment: Payment) -> PaymentOut:
    return PaymentOut.model_validate(payment)


def invoice_out(invoice_id: str) -> InvoiceOut:
    detail = queries.invoice_detail(current_organization_id(), invoice_id, own=reader_scope(), actor=current_actor())
    invoice: Invoice = detail.invoice
    row = queries.InvoiceRow(invoice, detail.patient_name, detail.practitioner_name, detail.overdue)
    return InvoiceOut(
        **summary_of(row).model_dump(),
        consultation_id=invoice.consultation_id,
        issued_at=invoice.issued_at,
        voided_at=invoice.voided_at,
        notes=detail.notes,
        void_reason=detail.void_reason,
        lines=[_line_out(line) for line in detail.lines],
        payments=[_payment_out(payment) for payment in detail.payments],
        credit_notes=[CreditNoteSummary.model_validate(note) for note in detail.credit_notes],
        patient_credit=detail.credit_available,
    )


def _line_input(body: LineIn) -> billing.LineInput:
    return billing.LineInput(**body.model_dump())


@api_route(
    bp,
    "/api/v1/billing/invoices",
    paginated="cursor",
    query=InvoiceListQuery,
    response=InvoiceListOut,
    summary="List invoices",
    description="Newest first, with filters (status, including the computed `overdue`; patient; practitioner; "
    "issue-date range) and the totals of every matching invoice. Clinicians see the invoices where they are the "
    "practitioner.",
    tags=TAGS,
)
@requires("billing:read_own")
def api_list_invoices(query: InvoiceListQuery) -> InvoiceListOut:
    filters = queries.InvoiceFilters(
        status=query.status,
        patient_id=query.patient_id,
        practitioner_id=query.practitioner_id,
        date_from=query.date_from,
        date_to=query.date_to,
    )
    page = queries.list_invoices(
        current_organization_id(), filters, own=reader_scope(), cursor=query.cursor, limit=query.limit
    )
    return InvoiceListOut(
        invoices=[summary_of(row) for row in page.rows],
        totals=TotalsOut.model_validate(page.totals),
        limit=query.limit,
        next_cursor=page.next_cursor,
        has_more=page.next_cursor is not None,
    )


@api_route(
    bp,
    "/api/v1/billing/invoices",
    methods=("POST",),
    body=InvoiceCreate,
    response=InvoiceOut,
    status=201,
    summary="Create a draft invoice",
    description="By hand (`patient_id` and `lines`), from an appointment (its patient, practitioner and its type's "
    "items prefilled) or from a consultation. A draft has no number until it is issued. An appointment with an "
    "invoice that is not void answers 409.",
    tags=TAGS,
    extra_statuses={409: "The appointment already has an invoice"},
)
@requires("billing:write")
def api_create_invoice(body: InvoiceCreate) -> InvoiceOut:
    data = billing.DraftInput(
        patient_id=body.patient_id,
        practitioner_id=body.practitioner_id,
        appointment_id=body.appointment_id,
        consultation_id=body.consultation_id,
        due_date=body.due_date,
        notes=body.notes,
        lines=tuple(_line_input(line) for line in body.lines),
    )
    invoice = billing.create_draft(current_organization_id(), data, actor=current_actor())
    return invoice_out(invoice.id)


@api_route(
    bp,
    "/api/v1/billing/invoices/<invoice_id>",
    unpaged="the lines, payments and credit notes of one invoice",
    response=InvoiceOut,
    summary="An invoice with its lines, payments and credit notes",
    tags=TAGS,
)
@requires("billing:read_own")
def api_get_invoice(invoice_id: str) -> InvoiceOut:
    return invoice_out(invoice_id)


@api_route(
    bp,
    "/api/v1/billing/invoices/<invoice_id>",
    methods=("PATCH",),
    body=InvoicePatch,
    response=InvoiceOut,
    summary="Change a draft's practitioner, due date or notes",
    tags=TAGS,
    extra_statuses=ISSUED_409,
)
@requires("billing:write")
def api_update_invoice(invoice_id: str, body: InvoicePatch) -> InvoiceOut:
    billing.update_draft(
        current_organization_id(),
        invoice_id,
        notes=body.notes,
        due_date=body.due_date,
        practitioner_id=body.practitioner_id,
        actor=current_actor(),
    )
    return invoice_out(invoice_id)


@api_route(
    bp,
    "/api/v1/billing/invoices/<invoice_id>",
    methods=("DELETE",),
    summary="Delete a draft",
    description="Only drafts (they have no number). An issued invoice answers 409: void it or credit it.",
    tags=TAGS,
    extra_statuses=ISSUED_409,
)
@requires("billing:write")
def api_delete_invoice(invoice_id: str) -> Response:
    billing.delete_draft(current_organization_id(), invoice_id, actor=current_actor())
    return Response(status=204)


@api_route(
    bp,
    "/api/v1/billing/invoices/<invoice_id>/lines",
    methods=("POST",),
    body=LineIn,
    response=InvoiceOut,
    status=201,
    summary="Add a line to a draft",
    tags=TAGS,
    extra_statuses=ISSUED_409,
)
@requires("billing:write")
def api_add_line(invoice_id: str, body: LineIn) -> InvoiceOut:
    billing.add_line(current_organization_id(), invoice_id, _line_input(body), actor=current_actor())
    return invoice_out(invoice_id)


@api_route(
    bp,
    "/api/v1/billing/invoices/<invoice_id>/lines/<line_id>",
    methods=("PATCH",),
    body=LineIn,
    response=InvoiceOut,
    summary="Change a draft's line",
    tags=TAGS,
    extra_statuses=ISSUED_409,
)
@requires("billing:write")
def api_update_line(invoice_id: str, line_id: str, body: LineIn) -> InvoiceOut:
    billing.update_line(current_organization_id(), invoice_id, line_id, _line_input(body), actor=current_actor())
    return invoice_out(invoice_id)


@api_route(
    bp,
    "/api/v1/billing/invoices/<invoice_id>/lines/<line_id>",
    methods=("DELETE",),
    response=InvoiceOut,
    summary="Remove a draft's line",
    tags=TAGS,
    extra_statuses=ISSUED_409,
)
@requires("billing:write")
def api_remove_line(invoice_id: str, line_id: str) -> InvoiceOut:
    billing.remove_line(current_organization_id(), invoice_id, line_id, actor=current_actor())
    return invoice_out(invoice_id)


@api_route(
    bp,
    "/api/v1/billing/invoices/<invoice_id>/issue",
    methods=("POST",),
    response=InvoiceOut,
    summary="Issue a draft",
    description="Gives the organization's next invoice number (no gap, no duplicate, also under concurrency), the "
    "issue date and the due date. An invoice with no lines is 422; one already issued is 409.",
    tags=TAGS,
    extra_statuses={409: "Already issued"},
)
@requires("billing:issue")
def api_issue(invoice_id: str) -> InvoiceOut:
    billing.issue_invoice(current_organization_id(), invoice_id, actor=current_actor())
    return invoice_out(invoice_id)


@api_route(
    bp,
    "/api/v1/billing/invoices/<invoice_id>/void",
    methods=("POST",),
    body=VoidIn,
    response=InvoiceOut,
    summary="Void an issued invoice",
    description="The number is kept; the reason is required. An invoice with payments on it answers 409 (refund "
    "them, or issue a credit note).",
    tags=TAGS,
    extra_statuses={409: "A draft, already void, or has payments"},
)
@requires("billing:void")
def api_void(invoice_id: str, body: VoidIn) -> InvoiceOut:
    billing.void_invoice(current_organization_id(), invoice_id, reason=body.reason, actor=current_actor())
    return invoice_out(invoice_id)


@api_route(
    bp,
    "/api/v1/billing/invoices/<invoice_id>/payments",
    methods=("POST",),
    body=PaymentIn,
    response=InvoiceOut,
    status=201,
    summary="Record a payment",
    description="Partial payments are fine; what exceeds the balance due becomes the patient's credit.",
    tags=TAGS,
    extra_statuses={409: "A draft, void or paid invoice"},
)
@requires("billing:payments")
def api_pay(invoice_id: str, body: PaymentIn) -> InvoiceOut:
    data = billing.PaymentInput(body.amount, body.method, body.received_on, body.reference)
    billing.record_payment(current_organization_id(), invoice_id, data, actor=current_actor())
    return invoice_out(invoice_id)


@api_route(
    bp,
    "/api/v1/billing/invoices/<invoice_id>/refunds",
    methods=("POST",),
    body=PaymentIn,
    response=InvoiceOut,
    status=201,
    summary="Refund money paid on an invoice",
    tags=TAGS,
    extra_statuses={409: "A draft or void invoice"},
)
@requires("billing:payments")
def api_refund(invoice_id: str, body: PaymentIn) -> InvoiceOut:
    data = billing.PaymentInput(body.amount, body.method, body.received_on, body.reference)
    billing.refund_payment(current_organization_id(), invoice_id, data, actor=current_actor())
    return invoice_out(invoice_id)


@api_route(
    bp,
    "/api/v1/billing/invoices/<invoice_id>/apply-credit",
    methods=("POST",),
    body=ApplyCreditIn,
    response=InvoiceOut,
    status=201,
    summary="Pay an invoice from the patient's credit",
    tags=TAGS,
    extra_statuses={409: "No credit, or nothing due"},
)
@requires("billing:payments")
def api_apply_credit(invoice_id: str, body: ApplyCreditIn) -> InvoiceOut:
    billing.apply_credit(current_organization_id(), invoice_id, amount=body.amount, actor=current_actor())
    return invoice_out(invoice_id)


def credit_note_out(credit_note_id: str) -> CreditNoteOut:
    detail = queries.credit_note_detail(
        current_organization_id(), credit_note_id, own=reader_scope(), actor=current_actor()
    )
    note: CreditNote = detail.note
    return CreditNoteOut(
        id=note.id,
        number=note.number,
        invoice_id=note.invoice_id,
        invoice_number=detail.invoice_number,
        patient_id=note.patient_id,
        currency=note.currency,
        issue_date=note.issue_date,
        subtotal=note.subtotal,
        tax_total=note.tax_total,
        total=note.total,
        reason=detail.reason,
        lines=[CreditNoteLineOut.model_validate(line) for line in detail.lines],
        created_at=note.created_at,
    )


@api_route(
    bp,
    "/api/v1/billing/invoices/<invoice_id>/credit-notes",
    methods=("POST",),
    body=CreditNoteIn,
    response=CreditNoteOut,
    status=201,
    summary="Issue a credit note for an invoice",
    description="Credits lines (or everything not yet credited) with its own number (`CN-000001`). It reduces the "
    "invoice's balance; what exceeds it becomes the patient's credit.",
    tags=TAGS,
    extra_statuses={409: "A draft or void invoice"},
)
@requires("billing:void")
def api_credit_note(invoice_id: str, body: CreditNoteIn) -> CreditNoteOut:
    lines = None
    if body.lines is not None:
        lines = [billing.CreditLineInput(line.invoice_line_id, line.quantity) for line in body.lines]
    note = billing.issue_credit_note(
        current_organization_id(), invoice_id, lines=lines, reason=body.reason, actor=current_actor()
    )
    return credit_note_out(note.id)


@api_route(
    bp,
    "/api/v1/billing/credit-notes/<credit_note_id>",
    unpaged="the lines of one credit note",
    response=CreditNoteOut,
    summary="A credit note",
    tags=TAGS,
)
@requires("billing:read_own")
def api_get_credit_note(credit_note_id: str) -> CreditNoteOut:
    return credit_note_out(credit_note_id)
