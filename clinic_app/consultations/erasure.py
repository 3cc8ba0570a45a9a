"""What erasing a patient removes of their consultations (``patients.signals``): every transcript
is deleted and each session's chief complaint, notes and medication plan are cleared. The session
rows stay, without content (date, type, clinician, duration): signed reports, which the law keeps,
belong to them, and an invoice may name them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from clinic_app.consultations.models import ConsultationSession, Transcript
from clinic_app.extensions import db
from clinic_app.patients.signals import ERASE, KEEP, InventoryLine, erasure_inventory, patient_erasing

RECORD_YEARS = 7  # docs/retention.md, "Erasure": clinical records, from the last one


def _sessions(patient_id: str) -> Any:
    return select(ConsultationSession.id).where(ConsultationSession.patient_id == patient_id)


@erasure_inventory.connect
def consultations_inventory(_sender: Any, *, patient_id: str, **_: Any) -> list[InventoryLine]:
    sessions, last = db.session.execute(
        select(func.count(), func.max(ConsultationSession.started_at)).where(
            ConsultationSession.patient_id == patient_id
        )
    ).one()
    with_content = db.session.scalar(
        select(func.count()).where(
            ConsultationSession.patient_id == patient_id,
            or_(
                ConsultationSession.chief_complaint_enc.is_not(None),
                ConsultationSession.notes_enc.is_not(None),
                ConsultationSession.medication_plan_enc.is_not(None),
            ),
        )
    )
    transcripts = db.session.scalar(
        select(func.count()).select_from(Transcript).where(Transcript.session_id.in_(_sessions(patient_id)))
    )
    kept_until = date(last.year + RECORD_YEARS, last.month, min(last.day, 28)) if last else None
    return [
        InventoryLine("consultations", "Transcripts", transcripts or 0, ERASE),
        InventoryLine("consultations", "Chief complaints, notes and medication plans", with_content or 0, ERASE),
        InventoryLine(
            "consultations",
            "Consultation sessions without content (date, type, clinician, duration)",
            sessions or 0,
            KEEP,
            "Signed reports and invoices refer to them",
            kept_until,
        ),
    ]


@patient_erasing.connect
def erase_consultations(_sender: Any, *, patient_id: str, erased_at: datetime, **_: Any) -> None:
    db.session.execute(delete(Transcript).where(Transcript.session_id.in_(_sessions(patient_id))))
    db.session.execute(
        update(ConsultationSession)
        .where(ConsultationSession.patient_id == patient_id)
        .values(chief_complaint_enc=None, notes_enc=None, medication_plan_enc=None)
        .execution_options(synchronize_session=False)
    )
