"""Billing's other pages: billable items (the price list), a patient's account (invoices,
payments and balance) and the aged receivables."""

from __future__ import annotations

from flask import make_response, url_for
from flask.typing import ResponseReturnValue

from clinic_app.appointments import practitioners as practitioner_setup
from clinic_app.billing import bp, catalog, queries
from clinic_app.billing import service as billing
from clinic_app.billing.access import reader_scope
from clinic_app.billing.forms import ItemForm, cents
from clinic_app.core.access import requires
from clinic_app.core.errors import Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.web import done, put_errors, render_page
from clinic_app.patients import service as patients


def _items_page(form: ItemForm, status: int = 200) -> ResponseReturnValue:
    organization_id = current_organization_id()
    rates = catalog.tax_rates(organization_id)
    kinds = practitioner_setup.list_types(organization_id)
    form.tax_rate_id.choices = [(rate.id, rate.name) for rate in rates]
    form.appointment_type_id.choices = [("", "— none —")] + [(kind.id, kind.name) for kind in kinds]
    page = render_page(
        "billing/items.html",
        "billing/_items.html",
        form=form,
        items=catalog.items(organization_id),
        rate_names={rate.id: rate.name for rate in catalog.tax_rates(organization_id, include_archived=True)},
        type_names={kind.id: kind.name for kind in kinds},
    )
    return make_response(page, status)


@bp.get("/billing/items")
@requires("billing:settings")
def items() -> ResponseReturnValue:
    return _items_page(ItemForm())


@bp.post("/billing/items")
@requires("billing:settings")
def create_item() -> ResponseReturnValue:
    form = ItemForm()
    price = cents(form, "unit_price")
    if price is None:
        return _items_page(form, 422)
    data = billing.ItemInput(
        name=form.name.data or "",
        code=form.code.data or None,
        unit_price=price,
        tax_rate_id=form.tax_rate_id.data or None,
        appointment_type_id=form.appointment_type_id.data or None,
    )
    try:
        billing.create_item(current_organization_id(), data, actor=current_actor())
    except Invalid as error:
        put_errors(form, error.errors)
        return _items_page(form, 422)
    return done(f"Added {data.name}.", url_for("billing.items"))


@bp.post("/billing/items/<item_id>/archive")
@requires("billing:settings")
def archive_item(item_id: str) -> ResponseReturnValue:
    item = billing.archive_item(current_organization_id(), item_id, actor=current_actor())
    return done(f"{item.name} is no longer offered.", url_for("billing.items"))


@bp.get("/billing/patients/<patient_id>")
@requires("billing:read_own")
def patient_account(patient_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    patient = patients.get_patient(organization_id, patient_id)
    account = queries.patient_account(organization_id, patient.id, own=reader_scope())
    return render_page("billing/account.html", "billing/_account.html", patient=patient, account=account)


@bp.get("/billing/receivables")
@requires("billing:read")
def receivables() -> ResponseReturnValue:
    rows, totals = queries.aged_receivables(current_organization_id())
    return render_page(
        "billing/receivables.html", "billing/_receivables.html", rows=rows, totals=totals, buckets=queries.BUCKETS
    )
