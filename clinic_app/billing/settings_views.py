"""The billing settings page: number prefixes, payment terms, currency, and what invoices print
(business number, payment instructions). The same service the API's ``PATCH
/api/v1/billing/settings`` uses decides what is valid; a change applies to invoices issued after it
(numbers already given keep their prefix)."""

from __future__ import annotations

from flask import make_response, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.billing import bp, catalog
from clinic_app.billing.forms import SettingsForm
from clinic_app.billing.money import CURRENCIES
from clinic_app.core.access import requires
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.web import done, put_errors, render_page


def _page(form: SettingsForm, status: int = 200) -> ResponseReturnValue:
    form.currency.choices = [(code, code) for code in CURRENCIES]
    page = render_page("billing/settings.html", "billing/_settings.html", form=form)
    return make_response(page, status)


@bp.get("/billing/settings")
@requires("billing:settings")
def settings() -> ResponseReturnValue:
    current = catalog.billing_settings(current_organization_id())
    form = SettingsForm(
        data={
            "invoice_prefix": current.invoice_prefix,
            "credit_note_prefix": current.credit_note_prefix,
            "payment_terms_days": current.payment_terms_days,
            "currency": current.currency,
            "business_number": current.business_number or "",
            "payment_instructions": current.payment_instructions or "",
        }
    )
    return _page(form)


@bp.post("/billing/settings")
@requires("billing:settings")
def save_settings() -> ResponseReturnValue:
    form = SettingsForm()
    if request.form.get("payment_terms_days", "").strip() and form.payment_terms_days.data is None:
        form.payment_terms_days.errors = ["Enter a whole number of days, such as 14."]
        return _page(form, 422)
    data = catalog.SettingsInput(
        currency=form.currency.data or None,
        payment_terms_days=form.payment_terms_days.data,
        invoice_prefix=form.invoice_prefix.data,
        credit_note_prefix=form.credit_note_prefix.data,
        business_number=form.business_number.data or "",
        payment_instructions=form.payment_instructions.data or "",
    )
    try:
        catalog.update_settings(current_organization_id(), data, actor=current_actor())
    except Invalid as error:
        put_errors(form, error.errors or [FieldError("invoice_prefix", error.detail)])
        return _page(form, 422)
    return done("Billing settings saved.", url_for("billing.settings"))
