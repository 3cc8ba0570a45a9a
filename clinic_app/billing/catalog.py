"""The organization's billing settings, tax rates and billable items.

Every function takes the organization explicitly; another organization's item or rate is
``NotFound``. Writes only flush and are audited; the request commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from clinic_app.appointments.models import AppointmentType
from clinic_app.billing.events import ITEM_NOT_FOUND, TAX_RATE_NOT_FOUND, record
from clinic_app.billing.models import BillableItem, BillingSettings, TaxRate
from clinic_app.billing.money import BASIS, CURRENCIES, MAX_AMOUNT
from clinic_app.core import audit, text
from clinic_app.core.errors import FieldError, Invalid, NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

NAME_MAX, CODE_MAX, PREFIX_MAX, BUSINESS_NUMBER_MAX, INSTRUCTIONS_MAX = 200, 40, 12, 40, 1000
TERMS_MAX_DAYS = 365
DEFAULT_RATES = (("GST 10%", 1000), ("GST free", 0))


# --- settings -----------------------------------------------------------------------------------


def billing_settings(organization_id: str) -> BillingSettings:
    """The organization's settings, created with the defaults on first use (AUD, 14 days,
    ``INV-`` and ``CN-``)."""
    settings = db.session.get(BillingSettings, organization_id)
    if settings is None:
        settings = BillingSettings(
            organization_id=organization_id,
            currency="AUD",
            payment_terms_days=14,
            invoice_prefix="INV-",
            credit_note_prefix="CN-",
        )
        db.session.add(settings)
        db.session.flush()
    return settings


@dataclass(frozen=True)
class SettingsInput:
    currency: str | None = None
    payment_terms_days: int | None = None
    invoice_prefix: str | None = None
    credit_note_prefix: str | None = None
    business_number: str | None = None
    payment_instructions: str | None = None


def _bounded(errors: list[FieldError], name: str, value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if text.unusable(value):
        errors.append(FieldError(name, text.MESSAGE))
    elif len(value) > limit:
        errors.append(FieldError(name, f"At most {limit} characters."))
    return value


def update_settings(organization_id: str, data: SettingsInput, *, actor: audit.Actor) -> BillingSettings:
    """Change the given settings. Raises Invalid naming each bad field."""
    settings = billing_settings(organization_id)
    errors: list[FieldError] = []
    if data.currency is not None and data.currency.upper() not in CURRENCIES:
        errors.append(FieldError("currency", "Choose one of " + ", ".join(CURRENCIES) + "."))
    if data.payment_terms_days is not None and not 0 <= data.payment_terms_days <= TERMS_MAX_DAYS:
        errors.append(FieldError("payment_terms_days", f"Between 0 and {TERMS_MAX_DAYS} days."))
    values = {
        "invoice_prefix": _bounded(errors, "invoice_prefix", data.invoice_prefix, PREFIX_MAX),
        "credit_note_prefix": _bounded(errors, "credit_note_prefix", data.credit_note_prefix, PREFIX_MAX),
        "business_number": _bounded(errors, "business_number", data.business_number, BUSINESS_NUMBER_MAX),
        "payment_instructions": _bounded(errors, "payment_instructions", data.payment_instructions, INSTRUCTIONS_MAX),
    }
    if errors:
        raise Invalid(errors=errors)
    if data.currency is not None:
        settings.currency = data.currency.upper()
    if data.payment_terms_days is not None:
        settings.payment_terms_days = data.payment_terms_days
    changed = [name for name, value in values.items() if value is not None]
    for name in changed:
        optional = name in ("business_number", "payment_instructions")
        setattr(settings, name, (values[name] or None) if optional else values[name])
    db.session.flush()
    record("settings_changed", organization_id, actor, target_type="billing_settings", target_id=organization_id)
    return settings


# --- tax rates ----------------------------------------------------------------------------------


def tax_rates(organization_id: str, *, include_archived: bool = False) -> list[TaxRate]:
    """The organization's tax rates (GST 10 % and GST free are created on first use)."""
    query = select(TaxRate).where(TaxRate.organization_id == organization_id)
    rates = list(db.session.scalars(query.order_by(TaxRate.basis_points.desc(), TaxRate.name)))
    if not rates:
        for name, basis_points in DEFAULT_RATES:
            db.session.add(TaxRate(organization_id=organization_id, name=name, basis_points=basis_points))
        db.session.flush()
        rates = list(db.session.scalars(query.order_by(TaxRate.basis_points.desc(), TaxRate.name)))
    return [rate for rate in rates if include_archived or rate.archived_at is None]


def get_tax_rate(organization_id: str, tax_rate_id: str | None) -> TaxRate:
    rate = db.session.get(TaxRate, tax_rate_id) if tax_rate_id and not text.unusable(tax_rate_id) else None
    if rate is None or rate.organization_id != organization_id:
        raise NotFound(TAX_RATE_NOT_FOUND)
    return rate


def create_tax_rate(organization_id: str, *, name: str, basis_points: int, actor: audit.Actor) -> TaxRate:
    """A new rate (``basis_points``: 1000 is 10 %). Raises Invalid for a bad or taken name."""
    errors: list[FieldError] = []
    name = _bounded(errors, "name", name, 60) or ""
    if not name and not errors:
        errors.append(FieldError("name", "Name the tax rate."))
    if not 0 <= basis_points <= BASIS:
        errors.append(FieldError("basis_points", "Between 0 and 10000 (100 %)."))
    if not errors and any(rate.name == name for rate in tax_rates(organization_id, include_archived=True)):
        errors.append(FieldError("name", "A tax rate with this name exists."))
    if errors:
        raise Invalid(errors=errors)
    rate = TaxRate(organization_id=organization_id, name=name, basis_points=basis_points)
    db.session.add(rate)
    db.session.flush()
    record("tax_rate_created", organization_id, actor, target_type="tax_rate", target_id=rate.id)
    return rate


# --- billable items -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemInput:
    name: str | None = None
    code: str | None = None
    unit_price: int | None = None
    tax_rate_id: str | None = None
    appointment_type_id: str | None = None
    clear_appointment_type: bool = False


def items(organization_id: str, *, include_archived: bool = False) -> list[BillableItem]:
    query = select(BillableItem).where(BillableItem.organization_id == organization_id)
    if not include_archived:
        query = query.where(BillableItem.archived_at.is_(None))
    return list(db.session.scalars(query.order_by(BillableItem.name, BillableItem.id)))


def items_for_appointment_type(organization_id: str, appointment_type_id: str | None) -> list[BillableItem]:
    """The items billed by default for an appointment of this type."""
    if appointment_type_id is None:
        return []
    return [item for item in items(organization_id) if item.appointment_type_id == appointment_type_id]


def get_item(organization_id: str, item_id: str | None) -> BillableItem:
    item = db.session.get(BillableItem, item_id) if item_id and not text.unusable(item_id) else None
    if item is None or item.organization_id != organization_id:
        raise NotFound(ITEM_NOT_FOUND)
    return item


def _check_item(organization_id: str, data: ItemInput, *, creating: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    name = _bounded(errors, "name", data.name, NAME_MAX)
    if creating and not name and not any(e.field == "name" for e in errors):
        errors.append(FieldError("name", "Name the item."))
    _bounded(errors, "code", data.code, CODE_MAX)
    if creating and data.unit_price is None:
        errors.append(FieldError("unit_price", "Give the price in cents."))
    if data.unit_price is not None and not 0 <= data.unit_price <= MAX_AMOUNT:
        errors.append(FieldError("unit_price", f"Between 0 and {MAX_AMOUNT} cents."))
    if data.tax_rate_id is not None:
        try:
            get_tax_rate(organization_id, data.tax_rate_id)
        except NotFound:
            errors.append(FieldError("tax_rate_id", "Choose one of the organization's tax rates."))
    if data.appointment_type_id is not None:
        kind = db.session.get(AppointmentType, data.appointment_type_id)
        if kind is None or kind.organization_id != organization_id:
            errors.append(FieldError("appointment_type_id", "Choose one of the organization's appointment types."))
    return errors


def create_item(organization_id: str, data: ItemInput, *, actor: audit.Actor) -> BillableItem:
    """A new billable item; without a tax rate it takes the organization's first (GST 10 %)."""
    errors = _check_item(organization_id, data, creating=True)
    if errors:
        raise Invalid(errors=errors)
    rate_id = data.tax_rate_id or tax_rates(organization_id)[0].id
    item = BillableItem(
        organization_id=organization_id,
        name=(data.name or "").strip(),
        code=(data.code or "").strip() or None,
        unit_price=data.unit_price or 0,
        tax_rate_id=rate_id,
        appointment_type_id=data.appointment_type_id,
    )
    db.session.add(item)
    db.session.flush()
    record("item_created", organization_id, actor, target_type="billing_item", target_id=item.id)
    return item


def update_item(organization_id: str, item_id: str, data: ItemInput, *, actor: audit.Actor) -> BillableItem:
    """Change an item. Lines already on invoices keep what they were billed at."""
    item = get_item(organization_id, item_id)
    errors = _check_item(organization_id, data, creating=False)
    if data.name is not None and not data.name.strip() and not errors:
        errors.append(FieldError("name", "Name the item."))
    if errors:
        raise Invalid(errors=errors)
    if data.name is not None:
        item.name = data.name.strip()
    if data.code is not None:
        item.code = data.code.strip() or None
    if data.unit_price is not None:
        item.unit_price = data.unit_price
    if data.tax_rate_id is not None:
        item.tax_rate_id = data.tax_rate_id
    if data.appointment_type_id is not None or data.clear_appointment_type:
        item.appointment_type_id = None if data.clear_appointment_type else data.appointment_type_id
    db.session.flush()
    record("item_changed", organization_id, actor, target_type="billing_item", target_id=item.id)
    return item


def archive_item(organization_id: str, item_id: str, *, actor: audit.Actor) -> BillableItem:
    """Take an item out of use (it stays on the invoices that bill it)."""
    item = get_item(organization_id, item_id)
    if item.archived_at is None:
        item.archived_at = utcnow()
        db.session.flush()
        record("item_archived", organization_id, actor, target_type="billing_item", target_id=item.id)
    return item
