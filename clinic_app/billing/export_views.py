"""The accountant's exports: the export page (choose a period), the period's CSV files (invoices,
payments, credit notes; Xero's invoice-import columns) and the same as JSON in the API."""

from __future__ import annotations

from datetime import date

from flask import Response, render_template, request
from flask.typing import ResponseReturnValue

from clinic_app.billing import bp, exports
from clinic_app.billing.events import record
from clinic_app.billing.models import PATIENT_CREDIT, REFUND
from clinic_app.billing.schemas import (
    CreditNoteLineOut,
    ExportCreditNoteOut,
    ExportInvoiceOut,
    ExportOut,
    ExportPaymentOut,
    ExportQuery,
    ExportTotalsOut,
    LineOut,
    PaymentOut,
)
from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import local_today, organization_zone


def _period() -> tuple[date, date]:
    values = {}
    for name in ("date_from", "date_to"):
        raw = request.args.get(name) or ""
        try:
            values[name] = date.fromisoformat(raw) if raw else None
        except ValueError:
            raise Invalid(errors=[FieldError(name, "Use a date as YYYY-MM-DD.", "DATE_PARSING")]) from None
    return exports.check_period(values["date_from"], values["date_to"])


@bp.get("/billing/exports")
@requires("billing:export")
def exports_page() -> ResponseReturnValue:
    today = local_today(organization_zone(current_organization_id()))
    return render_template("billing/exports.html", today=today, first=today.replace(day=1))


def _csv(kind: str) -> Response:
    date_from, date_to = _period()
    text = exports.export_csv(current_organization_id(), kind, date_from, date_to, actor=current_actor())
    response = Response("\ufeff" + text, mimetype="text/csv")
    name = f"{kind}-{date_from.isoformat()}-to-{date_to.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/billing/exports/invoices.csv")
@requires("billing:export")
def invoices_csv() -> Response:
    return _csv("invoices")


@bp.get("/billing/exports/payments.csv")
@requires("billing:export")
def payments_csv() -> Response:
    return _csv("payments")


@bp.get("/billing/exports/credit-notes.csv")
@requires("billing:export")
def credit_notes_csv() -> Response:
    return _csv("credit-notes")


@api_route(
    bp,
    "/api/v1/billing/exports",
    unpaged="an accountant's export of one period (at most a year) as one document, like the CSV files",
    query=ExportQuery,
    response=ExportOut,
    summary="A period's invoices, payments and credit notes",
    description="For the accountant: issued, partially paid and paid invoices by issue date (with lines), payments "
    "and refunds by the date received, credit notes by date. Both dates are required; at most a year.",
    tags=("billing",),
)
@requires("billing:export")
def api_export(query: ExportQuery) -> ExportOut:
    organization_id = current_organization_id()
    date_from, date_to = exports.check_period(query.date_from, query.date_to)
    period = exports.period_records(organization_id, date_from, date_to)
    record("exported", organization_id, current_actor(), target_type="billing_export", target_id="all",
           date_from=date_from.isoformat(), date_to=date_to.isoformat(), format="json")  # fmt: skip
    invoices = [
        ExportInvoiceOut.model_validate(
            {
                **_fields(inv, ExportInvoiceOut),
                "patient_name": name,
                "balance_due": inv.balance_due,
                "lines": [LineOut.model_validate(line) for line in lines],
            }
        )
        for inv, name, lines in period.invoices
    ]
    payments = [
        ExportPaymentOut(**PaymentOut.model_validate(p).model_dump(), invoice_number=number, patient_name=name)
        for p, name, number in period.payments
    ]
    notes = [
        ExportCreditNoteOut.model_validate(
            {
                **_fields(note, ExportCreditNoteOut),
                "patient_name": name,
                "invoice_number": number,
                "lines": [CreditNoteLineOut.model_validate(line) for line in lines],
            }
        )
        for note, name, number, lines in period.credit_notes
    ]
    received = sum(
        (-p.amount if p.kind == REFUND else p.amount) for p, _, _ in period.payments if p.method != PATIENT_CREDIT
    )
    totals = ExportTotalsOut(
        invoiced=sum(i.total for i in invoices),
        tax=sum(i.tax_total for i in invoices),
        received=received,
        credited=sum(n.total for n in notes),
    )
    return ExportOut(
        date_from=date_from, date_to=date_to, invoices=invoices, payments=payments, credit_notes=notes, totals=totals
    )


def _fields(row: object, schema: type) -> dict[str, object]:
    return {name: getattr(row, name) for name in schema.model_fields if hasattr(row, name)}
