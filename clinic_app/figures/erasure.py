"""What erasing a patient removes of their figures and re-engagement contacts
(``patients.signals``): each recorded contact (its outcome and note) and the patient's stored
figures are deleted, and the dashboard is told its counts changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from clinic_app.extensions import db
from clinic_app.figures.models import EngagementContact, PatientAppointmentStats
from clinic_app.figures.signals import figures_changed
from clinic_app.patients.signals import ERASE, InventoryLine, erasure_inventory, patient_erasing


def _count(model: Any, patient_id: str) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(model.patient_id == patient_id)) or 0


@erasure_inventory.connect
def figures_inventory(_sender: Any, *, patient_id: str, **_: Any) -> list[InventoryLine]:
    return [
        InventoryLine(
            "engagement", "Re-engagement contacts with their notes", _count(EngagementContact, patient_id), ERASE
        ),
        InventoryLine(
            "figures",
            "Stored appointment figures and re-engagement risk",
            _count(PatientAppointmentStats, patient_id),
            ERASE,
        ),
    ]


@patient_erasing.connect
def erase_figures(_sender: Any, *, organization_id: str, patient_id: str, erased_at: datetime, **_: Any) -> None:
    for model in (EngagementContact, PatientAppointmentStats):
        db.session.execute(
            delete(model).where(model.patient_id == patient_id).execution_options(synchronize_session=False)
        )
    figures_changed.send(__name__, organization_id=organization_id, patient_ids=None)
