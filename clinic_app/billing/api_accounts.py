"""The billing JSON API's settings and accounts: billable items, tax rates, billing settings, a
patient's balance (and refunding their credit) and the aged receivables."""

from __future__ import annotations

from clinic_app.billing import bp, queries
from clinic_app.billing import service as billing
from clinic_app.billing.access import reader_scope
from clinic_app.billing.api import summary_of
from clinic_app.billing.models import BillableItem, BillingSettings
from clinic_app.billing.schemas import (
    AgedRowOut,
    BalanceOut,
    BucketsOut,
    ItemIn,
    ItemListOut,
    ItemOut,
    PaymentIn,
    PaymentOut,
    ReceivablesOut,
    ReceivablesQuery,
    SettingsIn,
    SettingsOut,
    TaxRateIn,
    TaxRateListOut,
    TaxRateOut,
)
from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.pagination import offset_cursor, offset_from_cursor
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import local_today, organization_zone
from clinic_app.patients import service as patients

TAGS = ("billing",)


def _item_out(item: BillableItem) -> ItemOut:
    return ItemOut(
        id=item.id,
        name=item.name,
        code=item.code,
        unit_price=item.unit_price,
        tax_rate_id=item.tax_rate_id,
        appointment_type_id=item.appointment_type_id,
        archived=item.archived_at is not None,
    )


def _item_input(body: ItemIn) -> billing.ItemInput:
    return billing.ItemInput(**body.model_dump())


@api_route(
    bp,
    "/api/v1/billing/items",
    response=ItemListOut,
    summary="Billable items",
    tags=TAGS,
    unpaged="the clinic's price list: a catalogue it keeps by hand, returned whole",
)
@requires("billing:read_own")
def api_items() -> ItemListOut:
    return ItemListOut(items=[_item_out(item) for item in billing.items(current_organization_id())])


@api_route(
    bp,
    "/api/v1/billing/items",
    methods=("POST",),
    body=ItemIn,
    response=ItemOut,
    status=201,
    summary="Create a billable item",
    description="`name` and `unit_price` (cents, before tax) are required; the tax rate defaults to the first one "
    "(GST 10 %).",
    tags=TAGS,
)
@requires("billing:settings")
def api_create_item(body: ItemIn) -> ItemOut:
    return _item_out(billing.create_item(current_organization_id(), _item_input(body), actor=current_actor()))


@api_route(bp, "/api/v1/billing/items/<item_id>", response=ItemOut, summary="A billable item", tags=TAGS)
@requires("billing:read_own")
def api_item(item_id: str) -> ItemOut:
    return _item_out(billing.get_item(current_organization_id(), item_id))


@api_route(
    bp,
    "/api/v1/billing/items/<item_id>",
    methods=("PATCH",),
    body=ItemIn,
    response=ItemOut,
    summary="Change a billable item",
    description="Lines already on invoices keep what they were billed at.",
    tags=TAGS,
)
@requires("billing:settings")
def api_update_item(item_id: str, body: ItemIn) -> ItemOut:
    return _item_out(billing.update_item(current_organization_id(), item_id, _item_input(body), actor=current_actor()))


@api_route(
    bp,
    "/api/v1/billing/items/<item_id>",
    methods=("DELETE",),
    response=ItemOut,
    summary="Archive a billable item",
    description="It stays on the invoices that bill it and is no longer offered.",
    tags=TAGS,
)
@requires("billing:settings")
def api_archive_item(item_id: str) -> ItemOut:
    return _item_out(billing.archive_item(current_organization_id(), item_id, actor=current_actor()))


@api_route(
    bp,
    "/api/v1/billing/tax-rates",
    response=TaxRateListOut,
    summary="Tax rates",
    tags=TAGS,
    unpaged="the clinic's few tax rates, returned whole",
)
@requires("billing:read_own")
def api_tax_rates() -> TaxRateListOut:
    rates = billing.tax_rates(current_organization_id())
    return TaxRateListOut(tax_rates=[TaxRateOut.model_validate(rate) for rate in rates])


@api_route(
    bp,
    "/api/v1/billing/tax-rates",
    methods=("POST",),
    body=TaxRateIn,
    response=TaxRateOut,
    status=201,
    summary="Create a tax rate",
    tags=TAGS,
)
@requires("billing:settings")
def api_create_tax_rate(body: TaxRateIn) -> TaxRateOut:
    rate = billing.create_tax_rate(
        current_organization_id(), name=body.name, basis_points=body.basis_points, actor=current_actor()
    )
    return TaxRateOut.model_validate(rate)


def _settings_out(settings: BillingSettings) -> SettingsOut:
    return SettingsOut.model_validate(settings)


@api_route(bp, "/api/v1/billing/settings", response=SettingsOut, summary="Billing settings", tags=TAGS)
@requires("billing:read")
def api_settings() -> SettingsOut:
    return _settings_out(billing.billing_settings(current_organization_id()))


@api_route(
    bp,
    "/api/v1/billing/settings",
    methods=("PATCH",),
    body=SettingsIn,
    response=SettingsOut,
    summary="Change billing settings",
    description="Currency, payment terms (days), number prefixes, business number (ABN), payment instructions.",
    tags=TAGS,
)
@requires("billing:settings")
def api_update_settings(body: SettingsIn) -> SettingsOut:
    data = billing.SettingsInput(**body.model_dump())
    return _settings_out(billing.update_settings(current_organization_id(), data, actor=current_actor()))


@api_route(
    bp,
    "/api/v1/billing/patients/<patient_id>/balance",
    unpaged="one patient's account with their newest invoices (at most 100); /api/v1/billing/invoices?patient_id= "
    "pages through all of them",
    response=BalanceOut,
    summary="A patient's balance",
    description="What is due on their issued invoices, their credit, and the balance (due less credit), with their "
    "invoices. Clinicians see only the invoices where they are the practitioner.",
    tags=TAGS,
)
@requires("billing:read_own")
def api_balance(patient_id: str) -> BalanceOut:
    organization_id = current_organization_id()
    patient = patients.get_patient(organization_id, patient_id)
    account = queries.patient_account(organization_id, patient.id, own=reader_scope())
    return BalanceOut(
        patient_id=patient.id,
        currency=billing.billing_settings(organization_id).currency,
        invoiced=account.invoiced,
        paid=account.paid,
        credited=account.credited,
        due=account.due,
        credit=account.credit,
        balance=account.balance,
        invoices=[summary_of(row) for row in account.invoices],
    )


@api_route(
    bp,
    "/api/v1/billing/patients/<patient_id>/credit-refunds",
    methods=("POST",),
    body=PaymentIn,
    response=PaymentOut,
    status=201,
    summary="Refund a patient's credit",
    tags=TAGS,
)
@requires("billing:payments")
def api_refund_credit(patient_id: str, body: PaymentIn) -> PaymentOut:
    data = billing.PaymentInput(body.amount, body.method, body.received_on, body.reference)
    refund = billing.refund_credit(current_organization_id(), patient_id, data, actor=current_actor())
    return PaymentOut.model_validate(refund)


@api_route(
    bp,
    "/api/v1/billing/receivables",
    query=ReceivablesQuery,
    response=ReceivablesOut,
    paginated="cursor",
    summary="Aged receivables",
    description="What is owed on issued invoices per patient by days past the due date: current, 1-30, 31-60, "
    "61-90 and over 90. Largest amount owed first, `limit` at a time: follow `next_cursor` until it is null "
    "(the totals are always over everyone).",
    tags=TAGS,
)
@requires("billing:read")
def api_receivables(query: ReceivablesQuery) -> ReceivablesOut:
    organization_id = current_organization_id()
    rows, totals = queries.aged_receivables(organization_id)
    start = offset_from_cursor(query.cursor, maximum=len(rows)) if query.cursor else 0
    shown = rows[start : start + query.limit]
    after = start + len(shown)
    return ReceivablesOut(
        currency=billing.billing_settings(organization_id).currency,
        as_of=local_today(organization_zone(organization_id)),
        patients=[
            AgedRowOut(patient_id=row.patient_id, patient_name=row.patient_name, total=row.total, **row.buckets)
            for row in shown
        ],
        totals=BucketsOut(total=sum(totals.values()), **totals),
        next_cursor=offset_cursor(after) if after < len(rows) else None,
    )
