"""The audit events of billing: ids, amounts and outcomes only, never what was written about a
patient (notes and reasons are encrypted on their rows)."""

from __future__ import annotations

from typing import Any

from clinic_app.core import audit

INVOICE_NOT_FOUND = "Invoice not found."
ITEM_NOT_FOUND = "Billable item not found."
CREDIT_NOTE_NOT_FOUND = "Credit note not found."
TAX_RATE_NOT_FOUND = "Tax rate not found."


def record(
    action: str,
    organization_id: str,
    actor: audit.Actor,
    *,
    target_type: str,
    target_id: str,
    patient_id: str | None = None,
    **details: Any,
) -> None:
    audit.record(
        f"billing.{action}",
        organization_id=organization_id,
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        patient_id=patient_id,
        details=details,
    )
