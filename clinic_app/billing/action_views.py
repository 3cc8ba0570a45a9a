"""The invoice page's actions: lines of a draft, issue, delete a draft, record a payment, apply
the patient's credit, void (reason and confirmation) and credit in full (reason and confirmation).
An issued invoice answers 409 to every change of a draft (core.errors renders the page)."""

from __future__ import annotations

from flask import request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.billing import bp, mailing
from clinic_app.billing import service as billing
from clinic_app.billing.forms import LineForm, PaymentForm, ReasonForm, cents
from clinic_app.billing.views import invoice_page
from clinic_app.core.access import requires
from clinic_app.core.errors import Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.web import done, put_errors


def _back(invoice_id: str) -> str:
    return url_for("billing.invoice", invoice_id=invoice_id)


@bp.post("/billing/invoices/<invoice_id>/lines")
@requires("billing:write")
def add_line(invoice_id: str) -> ResponseReturnValue:
    billing.get_invoice(current_organization_id(), invoice_id)  # another organization's: 404 first
    form = LineForm()
    valid = form.validate()
    price = cents(form, "unit_price", required=False)
    if not valid or (form.unit_price.data and price is None):
        return invoice_page(invoice_id, 422, line_form=form)
    data = billing.LineInput(
        item_id=form.item_id.data or None,
        description=(form.description.data or "").strip() or None,
        quantity=form.quantity.data or 1,
        unit_price=price,
    )
    try:
        billing.add_line(current_organization_id(), invoice_id, data, actor=current_actor())
    except Invalid as error:
        put_errors(form, error.errors, fallback="description")
        return invoice_page(invoice_id, 422, line_form=form)
    return done(None, _back(invoice_id))


@bp.post("/billing/invoices/<invoice_id>/lines/<line_id>/remove")
@requires("billing:write")
def remove_line(invoice_id: str, line_id: str) -> ResponseReturnValue:
    billing.remove_line(current_organization_id(), invoice_id, line_id, actor=current_actor())
    return done(None, _back(invoice_id))


@bp.post("/billing/invoices/<invoice_id>/issue")
@requires("billing:issue")
def issue(invoice_id: str) -> ResponseReturnValue:
    issued = billing.issue_invoice(current_organization_id(), invoice_id, actor=current_actor())
    return done(f"Issued {issued.number}.", _back(invoice_id))


@bp.post("/billing/invoices/<invoice_id>/delete")
@requires("billing:write")
def delete(invoice_id: str) -> ResponseReturnValue:
    billing.delete_draft(current_organization_id(), invoice_id, actor=current_actor())
    return done("Draft deleted.", url_for("billing.invoices"))


@bp.post("/billing/invoices/<invoice_id>/payments")
@requires("billing:payments")
def record_payment(invoice_id: str) -> ResponseReturnValue:
    billing.get_invoice(current_organization_id(), invoice_id)
    form = PaymentForm()
    amount = cents(form, "amount")
    if amount is None or not form.validate():
        return invoice_page(invoice_id, 422, payment_form=form)
    data = billing.PaymentInput(amount, form.method.data, None, form.reference.data or None)
    try:
        billing.record_payment(current_organization_id(), invoice_id, data, actor=current_actor())
    except Invalid as error:
        put_errors(form, error.errors)
        return invoice_page(invoice_id, 422, payment_form=form)
    return done("Payment recorded.", _back(invoice_id))


@bp.post("/billing/invoices/<invoice_id>/apply-credit")
@requires("billing:payments")
def apply_credit(invoice_id: str) -> ResponseReturnValue:
    billing.apply_credit(current_organization_id(), invoice_id, amount=None, actor=current_actor())
    return done("The patient's credit was applied.", _back(invoice_id))


@bp.post("/billing/invoices/<invoice_id>/void")
@requires("billing:void")
def void(invoice_id: str) -> ResponseReturnValue:
    billing.get_invoice(current_organization_id(), invoice_id)
    form = ReasonForm(prefix="void")
    if not (form.reason.data or "").strip():
        form.reason.errors = [*list(form.reason.errors or []), "Give the reason for voiding."]
        return invoice_page(invoice_id, 422, void_form=form)
    if request.form.get("confirmed") != "yes":
        # htmx asks with hx-confirm and sends confirmed=yes; a plain form gets the question first.
        return invoice_page(invoice_id, 200, void_form=form, confirm="void")
    try:
        billing.void_invoice(current_organization_id(), invoice_id, reason=form.reason.data, actor=current_actor())
    except Invalid as error:
        put_errors(form, error.errors)
        return invoice_page(invoice_id, 422, void_form=form)
    return done("Invoice voided. Its number is kept.", _back(invoice_id))


@bp.post("/billing/invoices/<invoice_id>/credit-note")
@requires("billing:void")
def credit_note(invoice_id: str) -> ResponseReturnValue:
    billing.get_invoice(current_organization_id(), invoice_id)
    form = ReasonForm(prefix="credit")
    if not (form.reason.data or "").strip():
        form.reason.errors = [*list(form.reason.errors or []), "Give the reason for the credit note."]
        return invoice_page(invoice_id, 422, credit_form=form)
    if request.form.get("confirmed") != "yes":
        return invoice_page(invoice_id, 200, credit_form=form, confirm="credit")
    try:
        note = billing.issue_credit_note(
            current_organization_id(), invoice_id, lines=None, reason=form.reason.data, actor=current_actor()
        )
    except Invalid as error:
        put_errors(form, error.errors)
        return invoice_page(invoice_id, 422, credit_form=form)
    return done(f"Credit note {note.number} issued.", _back(invoice_id))


@bp.post("/billing/invoices/<invoice_id>/email")
@requires("billing:issue")
def email(invoice_id: str) -> ResponseReturnValue:
    mailing.email_invoice(current_organization_id(), invoice_id, actor=current_actor())
    return done("The invoice was e-mailed to the patient.", _back(invoice_id))
