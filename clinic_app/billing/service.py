"""Billing's interface, in one place: what views, the API, other features and jobs call.
The work is written in ``catalog`` (settings, tax rates, items), ``invoices`` (drafts and lines),
``lifecycle`` (issue, void, credit notes), ``payments`` and ``queries``."""

from __future__ import annotations

from clinic_app.billing.catalog import (
    ItemInput,
    SettingsInput,
    archive_item,
    billing_settings,
    create_item,
    create_tax_rate,
    get_item,
    items,
    items_for_appointment_type,
    tax_rates,
    update_item,
    update_settings,
)
from clinic_app.billing.invoices import (
    DraftInput,
    LineInput,
    add_line,
    create_draft,
    delete_draft,
    get_invoice,
    is_open_for_appointment,
    remove_line,
    update_draft,
    update_line,
)
from clinic_app.billing.lifecycle import (
    CreditLineInput,
    get_credit_note,
    issue_credit_note,
    issue_invoice,
    void_invoice,
)
from clinic_app.billing.payments import (
    PaymentInput,
    apply_credit,
    credit_balance,
    record_payment,
    refund_credit,
    refund_payment,
)

__all__ = [
    "CreditLineInput",
    "DraftInput",
    "ItemInput",
    "LineInput",
    "PaymentInput",
    "SettingsInput",
    "add_line",
    "apply_credit",
    "archive_item",
    "billing_settings",
    "create_draft",
    "create_item",
    "create_tax_rate",
    "credit_balance",
    "delete_draft",
    "get_credit_note",
    "get_invoice",
    "get_item",
    "is_open_for_appointment",
    "issue_credit_note",
    "issue_invoice",
    "items",
    "items_for_appointment_type",
    "record_payment",
    "refund_credit",
    "refund_payment",
    "remove_line",
    "tax_rates",
    "update_draft",
    "update_item",
    "update_line",
    "update_settings",
    "void_invoice",
]
