"""Health-data uploads: receiving metrics and files for a patient, reading them back, deleting them.

Services take explicit arguments (organization, actor, ids, validated data) and never touch the
request. Another organization's upload or patient is a ``NotFound``; every write and every read of
values is audited (``health_data.*`` events, which record the fact and the counts, never a value).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from flask import current_app
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from clinic_app.core import audit, crypto, text
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.jobs import enqueue
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.health_data import blocks, sealed_files
from clinic_app.health_data.metrics import HealthMetric, metric_fields
from clinic_app.health_data.models import (
    COMPLETED,
    FAILED,
    PROCESSING,
    RECEIVED,
    HealthAnalysis,
    HealthUpload,
)
from clinic_app.health_data.series import Series
from clinic_app.patients import service as patients

NOT_FOUND = "No such health-data upload."
IMPORT_KIND = "health_data.import_file"
FILE_FORMATS = {
    # format: (source, label)
    "apple_health": ("apple_health", "Apple Health export (export.zip or export.xml)"),
    "awd": ("actiwatch", "Actiwatch .AWD"),
    "actigraph_csv": ("actigraph", "ActiGraph epoch CSV"),
    "plain_csv": ("csv", "CSV of timestamp,value activity counts"),
}
FILENAME_FIELD = "health_uploads.filename_enc"
SUMMARY_FIELD = "health_uploads.summary_enc"
KEY_FIELD = "health_uploads.file_key_enc"


def get_upload(organization_id: str, upload_id: str) -> HealthUpload:
    """The organization's upload. Raises NotFound for an unknown id or another organization's."""
    upload = db.session.get(HealthUpload, upload_id) if upload_id and not text.unusable(upload_id) else None
    if upload is None or upload.organization_id != organization_id:
        raise NotFound(NOT_FOUND)
    return upload


def _audit(action: str, upload: HealthUpload, actor: audit.Actor, **details: Any) -> None:
    audit.record(
        action,
        organization_id=upload.organization_id,
        actor=actor,
        target_type="health_upload",
        target_id=upload.id,
        patient_id=upload.patient_id,
        details=details,
    )


def _by_sync_token(organization_id: str, patient_id: str, sync_token: str) -> HealthUpload | None:
    return db.session.scalar(
        select(HealthUpload).where(
            HealthUpload.organization_id == organization_id,
            HealthUpload.patient_id == patient_id,
            HealthUpload.sync_token == sync_token,
        )
    )


@dataclass(frozen=True)
class Received:
    upload: HealthUpload
    repeated: bool  # the sync token named an upload that had already arrived


def record_metrics(
    organization_id: str,
    patient_id: str,
    metrics: Sequence[HealthMetric],
    *,
    actor: audit.Actor,
    upload_source: str | None = None,
    client_timestamp: datetime | None = None,
    sync_token: str | None = None,
) -> Received:
    """Store a batch of validated metrics for the patient, all or nothing.

    A ``sync_token`` already used for this patient returns that upload and writes nothing (two
    concurrent requests with the same token store one upload: the unique constraint decides).
    Raises NotFound for another organization's patient.
    """
    patient = patients.ensure_not_erased(patients.get_patient(organization_id, patient_id))
    if sync_token:
        existing = _by_sync_token(organization_id, patient.id, sync_token)
        if existing is not None:
            return Received(existing, repeated=True)
    upload = HealthUpload(
        organization_id=organization_id,
        patient_id=patient.id,
        kind="metrics",
        source="api",
        metric_types=sorted({m.metric_type for m in metrics}),
        status=PROCESSING,
        sync_token=sync_token,
        upload_source=upload_source,
        client_timestamp=client_timestamp,
        uploaded_by_id=actor.user_id,
        uploaded_by_token_id=actor.token_id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(upload)
            db.session.flush()
    except IntegrityError:
        existing = _by_sync_token(organization_id, patient.id, sync_token or "")
        if existing is None:
            raise
        return Received(existing, repeated=True)
    writer = blocks.BlockWriter(upload)
    received_at = utcnow()
    for metric in metrics:
        moment = metric.observed_at or received_at
        writer.add_sample(f"metric.{metric.metric_type}", moment, None, None, metric_fields(metric))
    writer.close()
    upload.sample_count = upload.accepted_count = len(metrics)
    upload.starts_at = blocks.floating_utc(writer.first) if writer.first else None
    upload.ends_at = blocks.floating_utc(writer.last) if writer.last else None
    upload.status, upload.completed_at = COMPLETED, utcnow()
    _audit("health_data.uploaded", upload, actor, kind="metrics", metrics=len(metrics), types=upload.metric_types)
    return Received(upload, repeated=False)


def _upload_dir() -> Path:
    return Path(current_app.config["HEALTH_UPLOAD_DIR"])


def sealed_path(upload: HealthUpload) -> Path:
    return _upload_dir() / f"{upload.id}.sealed"


def receive_file(
    organization_id: str,
    patient_id: str,
    stream: IO[bytes],
    *,
    filename: str,
    file_format: str,
    actor: audit.Actor,
    algorithm: str = "cole_kripke",
) -> HealthUpload:
    """Keep an uploaded file (sealed on disk) and queue its import; returns the ``received`` upload.

    Raises Invalid for an unknown format or an empty or too large file, NotFound for another
    organization's patient.
    """
    if file_format not in FILE_FORMATS:
        raise Invalid(errors=[FieldError("format", "Choose the kind of file.", "UNKNOWN_FORMAT")])
    patient = patients.ensure_not_erased(patients.get_patient(organization_id, patient_id))
    upload = HealthUpload(
        organization_id=organization_id,
        patient_id=patient.id,
        kind="file",
        source=FILE_FORMATS[file_format][0],
        file_format=file_format,
        status=RECEIVED,
        uploaded_by_id=actor.user_id,
        uploaded_by_token_id=actor.token_id,
    )
    db.session.add(upload)
    db.session.flush()
    vault = crypto.vault_for(organization_id)
    key = os.urandom(32)
    path = sealed_path(upload)
    limit = current_app.config["HEALTH_UPLOAD_MAX_BYTES"]
    try:
        size = sealed_files.seal(stream, path, key, max_bytes=limit)
        if size == 0:
            raise Invalid(errors=[FieldError("file", "The file is empty.", "EMPTY_FILE")])
        upload.file_key_enc = vault.encrypt(KEY_FIELD, base64.b64encode(key).decode())
        upload.filename_enc = vault.encrypt(FILENAME_FIELD, (filename or "upload")[:255])
        job = enqueue(
            IMPORT_KIND,
            organization_id=organization_id,
            created_by_id=actor.user_id,
            upload_id=upload.id,
            algorithm=algorithm,
        )
    except sealed_files.TooLarge:
        raise Invalid(errors=[FieldError("file", f"The file is larger than {limit} bytes.", "TOO_LARGE")]) from None
    except BaseException:
        path.unlink(missing_ok=True)  # the request fails as a whole: no sealed copy stays behind
        raise
    upload.job_id = job.id
    db.session.info.setdefault(PENDING_FILES, []).append(path)
    _audit("health_data.uploaded", upload, actor, kind="file", format=file_format, bytes=size)
    return upload


PENDING_FILES = "health_data_files_pending"


@event.listens_for(Session, "after_commit")
def _keep_committed_files(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(PENDING_FILES, None)


@event.listens_for(Session, "after_transaction_end")
def _discard_uncommitted_files(session: Session, transaction: SessionTransaction) -> None:
    """A sealed copy whose upload row was never committed (the request failed after the file was
    received, or the session was closed without a commit) is deleted with it."""
    if transaction.parent is None:
        for path in session.info.pop(PENDING_FILES, None) or []:
            path.unlink(missing_ok=True)


def file_key(upload: HealthUpload) -> bytes | None:
    stored = crypto.vault_for(upload.organization_id).decrypt(KEY_FIELD, upload.file_key_enc, target_id=upload.id)
    if stored is None or isinstance(stored, crypto.Unreadable):
        return None
    return base64.b64decode(stored)


def error_message(upload: HealthUpload) -> str | None:
    """Why the upload failed, in full (decrypted), for the people who may read its data."""
    if upload.error_enc is None:
        return upload.error
    value = crypto.vault_for(upload.organization_id).decrypt(ERROR_FIELD, upload.error_enc, target_id=upload.id)
    return upload.error if value is None or isinstance(value, crypto.Unreadable) else value


def filename(upload: HealthUpload) -> str | None:
    value = crypto.vault_for(upload.organization_id).decrypt(FILENAME_FIELD, upload.filename_enc, target_id=upload.id)
    return None if isinstance(value, crypto.Unreadable) else value


def add_diary_night(
    organization_id: str, patient_id: str, in_bed_start: datetime, in_bed_end: datetime, *, actor: audit.Actor
) -> HealthUpload:
    """Record one in-bed interval from a sleep diary (device-local clock times)."""
    patient = patients.ensure_not_erased(patients.get_patient(organization_id, patient_id))
    minutes = (in_bed_end - in_bed_start).total_seconds() / 60
    if not 0 < minutes <= 24 * 60:
        raise Invalid(
            errors=[
                FieldError(
                    "in_bed_end",
                    "The time out of bed must come after the time into bed, within 24 hours.",
                    "OUT_OF_RANGE",
                )
            ]
        )
    upload = HealthUpload(
        organization_id=organization_id,
        patient_id=patient.id,
        kind="diary",
        source="diary",
        metric_types=["sleep_analysis"],
        status=PROCESSING,
        uploaded_by_id=actor.user_id,
        uploaded_by_token_id=actor.token_id,
    )
    db.session.add(upload)
    db.session.flush()
    writer = blocks.BlockWriter(upload)
    writer.add_sample("in_bed", in_bed_start, in_bed_end, None)
    writer.close()
    upload.sample_count = upload.accepted_count = 1
    upload.starts_at, upload.ends_at = blocks.floating_utc(in_bed_start), blocks.floating_utc(in_bed_end)
    upload.status, upload.completed_at = COMPLETED, utcnow()
    _audit("health_data.uploaded", upload, actor, kind="diary")
    return upload


def delete_upload(organization_id: str, upload_id: str, *, actor: audit.Actor) -> None:
    """Delete an upload and everything drawn from it: its values, analyses and insights are removed
    from the tables (not flagged); the audit trail keeps only that it happened. An upload still
    being imported cannot be deleted yet (Conflict)."""
    upload = get_upload(organization_id, upload_id)
    if upload.status in (RECEIVED, PROCESSING) and upload.kind == "file":
        raise Conflict("This file is still being imported; delete it when the import has finished.")
    removed = blocks.delete_values(upload.id)
    analyses = db.session.scalars(select(HealthAnalysis).where(HealthAnalysis.upload_id == upload.id)).all()
    for analysis in analyses:
        db.session.delete(analysis)  # its insights go with it (ON DELETE CASCADE and the ORM)
    details = {"kind": upload.kind, "blocks": removed, "analyses": len(analyses), "samples": upload.sample_count}
    _audit("health_data.deleted", upload, actor, **details)
    db.session.delete(upload)
    db.session.flush()


ERROR_FIELD = "health_uploads.error_enc"


def mark_failed(upload: HealthUpload, message: str, *, safe: str | None = None) -> None:
    """A failed import keeps nothing: its values are deleted and the upload says why: ``message``
    (which may quote the file) encrypted, ``safe`` (naming only the line) in the clear."""
    blocks.delete_values(upload.id)
    vault = crypto.vault_for(upload.organization_id)
    upload.error_enc = vault.encrypt(ERROR_FIELD, message[:1000])
    upload.status, upload.error, upload.completed_at = FAILED, (safe or message)[:1000], utcnow()
    upload.sample_count = upload.accepted_count = 0
    upload.starts_at = upload.ends_at = None


def discard_file(upload: HealthUpload) -> None:
    sealed_path(upload).unlink(missing_ok=True)
    upload.file_key_enc = None


def count_uploads(organization_id: str, patient_id: str | None = None) -> int:
    query = select(func.count()).select_from(HealthUpload).where(HealthUpload.organization_id == organization_id)
    if patient_id is not None:
        query = query.where(HealthUpload.patient_id == patient_id)
    return db.session.scalar(query) or 0


def record_series(
    organization_id: str,
    patient_id: str,
    series: Series,
    *,
    channel: str,
    actor: audit.Actor,
    upload_source: str | None = None,
) -> HealthUpload:
    """Store a regular series posted for analysis (activity counts, or step counts) as an upload."""
    patient = patients.ensure_not_erased(patients.get_patient(organization_id, patient_id))
    upload = HealthUpload(
        organization_id=organization_id,
        patient_id=patient.id,
        kind="series",
        source="api",
        metric_types=["activity_level"],
        status=PROCESSING,
        upload_source=upload_source,
        uploaded_by_id=actor.user_id,
        uploaded_by_token_id=actor.token_id,
    )
    db.session.add(upload)
    db.session.flush()
    writer = blocks.BlockWriter(upload)
    writer.add_series(channel, series)
    writer.close()
    upload.sample_count = upload.accepted_count = writer.samples
    upload.starts_at = blocks.floating_utc(series.start)
    upload.ends_at = blocks.floating_utc(series.end)
    upload.status, upload.completed_at = COMPLETED, utcnow()
    _audit("health_data.uploaded", upload, actor, kind="series", channel=channel, samples=writer.samples)
    return upload
