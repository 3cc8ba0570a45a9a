"""Billing pages: the invoice list (filters and totals), the invoice page, and a new invoice (from
an appointment: "Invoice this appointment" on the appointment and on Today; or for a patient).
Thin: parse, call the service, render; htmx requests get the partial. The invoice's actions are in
``action_views``; items, a patient's account and the receivables in ``account_views``."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import make_response, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.appointments import detail as appointment_detail
from clinic_app.appointments import practitioners as practitioner_setup
from clinic_app.billing import bp, catalog, queries
from clinic_app.billing import service as billing
from clinic_app.billing.access import reader_scope
from clinic_app.billing.forms import METHOD_LABELS, LineForm, NewInvoiceForm, PaymentForm, ReasonForm
from clinic_app.billing.money import display
from clinic_app.core.access import requires
from clinic_app.core.errors import Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.web import done, render_page
from clinic_app.patients import service as patients

STATUS_LABELS = {
    "draft": "Draft",
    "issued": "Issued",
    "partially_paid": "Partially paid",
    "paid": "Paid",
    "void": "Void",
    "overdue": "Overdue",
}


@bp.app_context_processor
def _billing_helpers() -> dict[str, Any]:
    return {"money": display, "invoice_status_labels": STATUS_LABELS, "payment_method_labels": METHOD_LABELS}


def _day(name: str) -> date | None:
    raw = request.args.get(name) or ""
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@bp.get("/billing/invoices")
@requires("billing:read_own")
def invoices() -> ResponseReturnValue:
    organization_id = current_organization_id()
    status = request.args.get("status") or None
    filters = queries.InvoiceFilters(
        status=status if status in queries.FILTER_STATUSES else None,
        patient_id=request.args.get("patient_id") or None,
        practitioner_id=request.args.get("practitioner_id") or None,
        date_from=_day("date_from"),
        date_to=_day("date_to"),
    )
    try:
        page = queries.list_invoices(
            organization_id, filters, own=reader_scope(), cursor=request.args.get("cursor") or None, limit=50
        )
    except Invalid:
        page = queries.list_invoices(organization_id, filters, own=reader_scope(), limit=50)
    context = {
        "results": page,
        "filters": filters,
        "statuses": queries.FILTER_STATUSES,
        "practitioners": practitioner_setup.list_practitioners(organization_id),
        "currency": catalog.billing_settings(organization_id).currency,
    }
    return render_page("billing/invoices.html", "billing/_invoice_list.html", **context)


def invoice_page(invoice_id: str, status: int = 200, **forms: Any) -> ResponseReturnValue:
    """The invoice page (or its partial), with the action forms (``forms`` carry errors)."""
    organization_id = current_organization_id()
    detail = queries.invoice_detail(organization_id, invoice_id, own=reader_scope(), actor=current_actor())
    line_form = forms.get("line_form") or LineForm()
    line_form.item_id.choices = [("", "— a line by hand —")] + [
        (item.id, f"{item.name} ({display(item.unit_price)})") for item in catalog.items(organization_id)
    ]
    settings = catalog.billing_settings(organization_id)
    page = render_page(
        "billing/invoice.html",
        "billing/_invoice.html",
        detail=detail,
        invoice=detail.invoice,
        settings=settings,
        line_form=line_form,
        payment_form=forms.get("payment_form") or PaymentForm(),
        void_form=forms.get("void_form") or ReasonForm(prefix="void"),
        credit_form=forms.get("credit_form") or ReasonForm(prefix="credit"),
        confirm=forms.get("confirm"),
    )
    return make_response(page, status)


@bp.get("/billing/invoices/<invoice_id>")
@requires("billing:read_own")
def invoice(invoice_id: str) -> ResponseReturnValue:
    return invoice_page(invoice_id)


@bp.route("/billing/invoices/new", methods=["GET", "POST"])
@requires("billing:write")
def new_invoice() -> ResponseReturnValue:
    organization_id = current_organization_id()
    form = NewInvoiceForm(data=request.args) if request.method == "GET" else NewInvoiceForm()
    appointment_id, patient_id = form.appointment_id.data or None, form.patient_id.data or None
    appointment = appointment_detail.get_appointment(organization_id, appointment_id) if appointment_id else None
    patient = patients.get_patient(organization_id, patient_id or (appointment.patient_id if appointment else "") or "")
    existing = billing.is_open_for_appointment(organization_id, appointment.id) if appointment else None
    if request.method == "POST" and existing is None:
        data = billing.DraftInput(appointment_id=appointment_id, patient_id=patient.id)
        created = billing.create_draft(organization_id, data, actor=current_actor())
        return done("Draft invoice created.", url_for("billing.invoice", invoice_id=created.id))
    items = catalog.items_for_appointment_type(organization_id, appointment.appointment_type_id) if appointment else []
    return render_page(
        "billing/new.html",
        "billing/_new.html",
        form=form,
        appointment=appointment,
        patient=patient,
        items=items,
        existing=existing,
    )
