"""Forms of the billing pages. They parse (and carry the CSRF token); the billing service decides
what is valid, and its field errors are put back on these fields. Amounts are typed as money
("120.00") and turned into cents here; a typo is a field error, never a float."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from clinic_app.billing.models import METHODS
from clinic_app.billing.money import parse_amount
from clinic_app.core.errors import FieldError

METHOD_LABELS = {"card": "Card", "cash": "Cash", "eft": "EFT", "health_fund": "Health fund", "other": "Other"}


def cents(form: FlaskForm, name: str, *, required: bool = True) -> int | None:
    """The field's money in cents, or None (with the error put on the field)."""
    field = getattr(form, name)
    raw = (field.data or "").strip()
    if not raw:
        if required:
            field.errors = [*list(field.errors or []), "Enter an amount such as 120.00."]
        return None
    try:
        return parse_amount(raw)
    except ValueError as error:
        field.errors = [*list(field.errors or []), str(error)]
        return None


class NewInvoiceForm(FlaskForm):
    appointment_id = HiddenField()
    patient_id = HiddenField()


class LineForm(FlaskForm):
    item_id = SelectField("Item", choices=[], validate_choice=False)
    description = StringField("Description (for a line by hand)", render_kw={"maxlength": 200})
    quantity = IntegerField("Quantity", default=1, validators=[Optional()], render_kw={"min": 1, "max": 1000})
    unit_price = StringField("Price before tax (leave empty for the item's)", render_kw={"inputmode": "decimal"})


class PaymentForm(FlaskForm):
    amount = StringField("Amount", render_kw={"inputmode": "decimal", "required": True})
    method = SelectField("Method", choices=[(m, METHOD_LABELS[m]) for m in METHODS], default="card")
    reference = StringField("Reference (optional)", render_kw={"maxlength": 100})


class ReasonForm(FlaskForm):
    reason = TextAreaField("Reason", render_kw={"rows": 2, "maxlength": 500, "required": True})


class ItemForm(FlaskForm):
    name = StringField("Name", render_kw={"maxlength": 200, "required": True})
    code = StringField("Code (e.g. an item number)", render_kw={"maxlength": 40})
    unit_price = StringField("Price before tax", render_kw={"inputmode": "decimal", "required": True})
    tax_rate_id = SelectField("Tax", choices=[], validate_choice=False)
    appointment_type_id = SelectField("Billed by default for", choices=[], validate_choice=False)


def field_errors_of(form: FlaskForm) -> list[FieldError]:
    return [FieldError(name, message) for name, messages in form.errors.items() for message in messages]


class SettingsForm(FlaskForm):
    invoice_prefix = StringField("Invoice number prefix", render_kw={"maxlength": 12})
    credit_note_prefix = StringField("Credit note number prefix", render_kw={"maxlength": 12})
    payment_terms_days = IntegerField(
        "Payment terms (days until an invoice is due)", validators=[Optional()], render_kw={"min": 0, "max": 365}
    )
    currency = SelectField("Currency", choices=[], validate_choice=False)
    business_number = StringField("Business number (ABN), printed on invoices", render_kw={"maxlength": 40})
    payment_instructions = TextAreaField(
        "Payment instructions, printed on invoices", render_kw={"rows": 3, "maxlength": 1000}
    )
