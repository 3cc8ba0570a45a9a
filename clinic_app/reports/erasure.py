"""What erasing a patient removes of their reports (``patients.signals``): every report not
signed (waiting, generating, draft; amendments in progress included) is deleted with its content.
Signed reports are clinical records the law keeps: they stay as signed, listed in the inventory
with the date until which they are kept (docs/retention.md, "Erasure")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select

from clinic_app.extensions import db
from clinic_app.patients.signals import ERASE, KEEP, InventoryLine, erasure_inventory, patient_erasing
from clinic_app.reports.models import SIGNED, Report

RECORD_YEARS = 7  # from the last signature


@erasure_inventory.connect
def reports_inventory(_sender: Any, *, patient_id: str, **_: Any) -> list[InventoryLine]:
    unsigned = db.session.scalar(
        select(func.count()).select_from(Report).where(Report.patient_id == patient_id, Report.status != SIGNED)
    )
    signed, last = db.session.execute(
        select(func.count(), func.max(Report.signed_at)).where(Report.patient_id == patient_id, Report.status == SIGNED)
    ).one()
    kept_until = date(last.year + RECORD_YEARS, last.month, min(last.day, 28)) if last else None
    return [
        InventoryLine(
            "reports", "Reports not signed (drafts, generations, amendments in progress)", unsigned or 0, ERASE
        ),
        InventoryLine(
            "reports",
            "Signed reports, as signed",
            signed or 0,
            KEEP,
            f"Signed clinical records are kept {RECORD_YEARS} years after the last one",
            kept_until,
        ),
    ]


@patient_erasing.connect
def erase_reports(_sender: Any, *, patient_id: str, erased_at: datetime, **_: Any) -> None:
    # An amendment in progress points at the signed report it amends, never at another draft.
    db.session.execute(
        delete(Report)
        .where(Report.patient_id == patient_id, Report.status != SIGNED)
        .execution_options(synchronize_session=False)
    )
