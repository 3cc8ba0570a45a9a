"""What erasing a patient removes of their health data (``patients.signals``): every upload with
its values, analyses and insights is deleted from the tables, and a sealed file still waiting on
disk for its import is deleted once the erasure is committed (its key, on the upload row, is
gone with the row already: what is left on disk cannot be read)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from clinic_app.core.http import after_this_transaction
from clinic_app.extensions import db
from clinic_app.health_data.models import HealthAnalysis, HealthInsight, HealthSeriesBlock, HealthUpload
from clinic_app.health_data.service import sealed_path
from clinic_app.patients.signals import ERASE, InventoryLine, erasure_inventory, patient_erasing


def _count(model: Any, patient_id: str) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(model.patient_id == patient_id)) or 0


@erasure_inventory.connect
def health_data_inventory(_sender: Any, *, patient_id: str, **_: Any) -> list[InventoryLine]:
    return [
        InventoryLine(
            "health_data",
            "Uploads (files, metrics, diaries) with their file names and summaries",
            _count(HealthUpload, patient_id),
            ERASE,
        ),
        InventoryLine("health_data", "Stored health-data values", _count(HealthSeriesBlock, patient_id), ERASE),
        InventoryLine("health_data", "Analyses", _count(HealthAnalysis, patient_id), ERASE),
        InventoryLine("health_data", "Insights", _count(HealthInsight, patient_id), ERASE),
    ]


@patient_erasing.connect
def erase_health_data(_sender: Any, *, patient_id: str, erased_at: datetime, **_: Any) -> None:
    uploads = db.session.scalars(select(HealthUpload).where(HealthUpload.patient_id == patient_id)).all()
    files = [sealed_path(upload) for upload in uploads]
    for model in (HealthInsight, HealthAnalysis, HealthSeriesBlock, HealthUpload):
        db.session.execute(
            delete(model).where(model.patient_id == patient_id).execution_options(synchronize_session=False)
        )
    for upload in uploads:
        db.session.expunge(upload)
    if files:
        ids = [upload.id for upload in uploads]
        after_this_transaction(lambda: _remove_files(ids, files), describe={"uploads": ids})


def _remove_files(upload_ids: list[str], files: list[Path]) -> None:
    """After the transaction: the files of uploads whose rows are gone (a rolled-back erasure
    leaves its uploads, and their files, as they were)."""
    with Session(db.engine) as session:
        left = set(session.scalars(select(HealthUpload.id).where(HealthUpload.id.in_(upload_ids))))
    for upload_id, path in zip(upload_ids, files, strict=True):
        if upload_id not in left:
            path.unlink(missing_ok=True)
