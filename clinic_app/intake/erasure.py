"""What erasing a patient removes of their intake (``patients.signals``): the intake record
(informants, referrer, presenting problem, precipitating factors) and their symptoms are deleted;
the submitted draft keeps its row (an API client's replayed ``Idempotency-Key`` still finds it
rather than registering the patient again) with its answers, if any were left, emptied."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from clinic_app.extensions import db
from clinic_app.intake.models import IntakeDraft, IntakeRecord, PatientSymptom
from clinic_app.patients.signals import ERASE, InventoryLine, erasure_inventory, patient_erasing


def _count(model: Any, patient_id: str) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(model.patient_id == patient_id)) or 0


@erasure_inventory.connect
def intake_inventory(_sender: Any, *, patient_id: str, **_: Any) -> list[InventoryLine]:
    return [
        InventoryLine(
            "intake",
            "Intake answers (informants, referrer, presenting problem, factors)",
            _count(IntakeRecord, patient_id),
            ERASE,
        ),
        InventoryLine(
            "intake", "Symptoms with their notes, onset and triggers", _count(PatientSymptom, patient_id), ERASE
        ),
    ]


@patient_erasing.connect
def erase_intake(_sender: Any, *, organization_id: str, patient_id: str, erased_at: datetime, **_: Any) -> None:
    db.session.execute(delete(PatientSymptom).where(PatientSymptom.patient_id == patient_id))
    db.session.execute(delete(IntakeRecord).where(IntakeRecord.patient_id == patient_id))
    db.session.execute(
        update(IntakeDraft)
        .where(IntakeDraft.organization_id == organization_id, IntakeDraft.submitted_patient_id == patient_id)
        .values(payload_enc=None)
        .execution_options(synchronize_session=False)
    )
