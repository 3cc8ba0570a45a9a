"""What erasing a patient keeps of their billing (``patients.signals``): nothing is erased here.
Invoices, payments, credit notes and credit balances are the practice's financial records, which
the law keeps (docs/retention.md, "Erasure"); the inventory lists them with the date until which
they are kept. They point at the patient's tombstone, which holds no name any more."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from clinic_app.billing.models import CreditNote, Invoice, Payment
from clinic_app.extensions import db
from clinic_app.patients.signals import KEEP, InventoryLine, erasure_inventory

FINANCIAL_YEARS = 7  # from the latest document
REASON = f"Financial records are kept {FINANCIAL_YEARS} years (tax law)"


def _line(what: str, model: Any, dated: Any, patient_id: str) -> InventoryLine:
    count, last = db.session.execute(select(func.count(), func.max(dated)).where(model.patient_id == patient_id)).one()
    last = last.date() if isinstance(last, datetime) else last
    until = date(last.year + FINANCIAL_YEARS, last.month, min(last.day, 28)) if last else None
    return InventoryLine("billing", what, count or 0, KEEP, REASON, until)


@erasure_inventory.connect
def billing_inventory(_sender: Any, *, patient_id: str, **_: Any) -> list[InventoryLine]:
    return [
        _line("Invoices (with their lines and notes)", Invoice, Invoice.created_at, patient_id),
        _line("Payments and refunds", Payment, Payment.received_on, patient_id),
        _line("Credit notes", CreditNote, CreditNote.issue_date, patient_id),
    ]
