"""What erasing a patient removes of their appointments (``patients.signals``): each appointment's
notes and cancellation reason are cleared. The bookings stay (time, practitioner, type, status,
no free text): invoices refer to them and the practice's counts of past days include them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select, update

from clinic_app.appointments.models import Appointment
from clinic_app.extensions import db
from clinic_app.patients.signals import ERASE, KEEP, InventoryLine, erasure_inventory, patient_erasing

RECORD_YEARS = 7  # docs/retention.md, "Erasure": from the last appointment


@erasure_inventory.connect
def appointments_inventory(_sender: Any, *, patient_id: str, **_: Any) -> list[InventoryLine]:
    total, last = db.session.execute(
        select(func.count(), func.max(Appointment.starts_at)).where(Appointment.patient_id == patient_id)
    ).one()
    with_text = db.session.scalar(
        select(func.count()).where(
            Appointment.patient_id == patient_id,
            or_(Appointment.notes_enc.is_not(None), Appointment.cancellation_reason_enc.is_not(None)),
        )
    )
    kept_until = date(last.year + RECORD_YEARS, last.month, min(last.day, 28)) if last else None
    return [
        InventoryLine("appointments", "Appointment notes and cancellation reasons", with_text or 0, ERASE),
        InventoryLine(
            "appointments",
            "Appointments without notes (time, practitioner, type, status)",
            total or 0,
            KEEP,
            "Invoices and the practice's history of past days refer to them",
            kept_until,
        ),
    ]


@patient_erasing.connect
def erase_appointment_notes(_sender: Any, *, patient_id: str, erased_at: datetime, **_: Any) -> None:
    db.session.execute(
        update(Appointment)
        .where(Appointment.patient_id == patient_id)
        .values(notes_enc=None, cancellation_reason_enc=None)
        .execution_options(synchronize_session=False)
    )
