"""The background import of an uploaded file (job ``health_data.import_file``).

The job reads the sealed copy as a stream, stores the values as encrypted day blocks, and then
analyses the activity (or, for Apple Health, the step counts, as a proxy) in the same job, so the
page watching it goes from "Reading the file" to the actogram. Progress checkpoints commit the
blocks written so far, but blocks of an upload that is not ``completed`` are never read; an import
that fails (a malformed line, a damaged archive) deletes them, marks the upload ``failed`` with a
message naming the line or element, and ends the job as failed. A rerun after a crash starts over.
Values never reach the logs: messages name lines and reasons only.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import select

from clinic_app.core import audit, crypto, periodic
from clinic_app.core.jobs import CANCELLED, Job, JobCancelled, JobContext, job_function
from clinic_app.core.jobs import FAILED as JOB_FAILED
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.health_data import analyses, blocks, sealed_files, service
from clinic_app.health_data.models import (
    ACTIVITY_COUNTS,
    CHANNEL_TYPES,
    COMPLETED,
    FAILED,
    PROCESSING,
    RECEIVED,
    STEPS,
    HealthUpload,
)
from clinic_app.health_data.parsers.actigraph_csv import read_actigraph_csv
from clinic_app.health_data.parsers.apple_health import read_export
from clinic_app.health_data.parsers.awd import read_awd
from clinic_app.health_data.parsers.errors import ParseError
from clinic_app.health_data.parsers.plain_csv import read_plain_csv

log = logging.getLogger("clinic_app.health_data")

PROGRESS_EVERY = 50_000  # records between progress checkpoints
# Values outside these are device glitches, counted as rejected and not stored (same ranges as the API).
FILE_RANGES = {
    "heart_rate": (30.0, 300.0),
    "hrv_sdnn": (0.0, 200.0),
    "spo2": (70.0, 100.0),
    "respiratory_rate": (5.0, 60.0),
    "steps": (0.0, 100_000.0),
}


class ImportFailed(Exception):
    """The file could not be imported; the message names where and why (never a value)."""


def _text(handle: io.BufferedReader) -> io.TextIOWrapper:
    return io.TextIOWrapper(handle, encoding="utf-8", errors="strict", newline="")


def _apple_health(ctx: JobContext, upload: Any, handle: Any, raw: sealed_files.SealedReader, writer: Any) -> dict:
    kept: Counter[str] = Counter()
    rejected = 0
    for number, record in enumerate(read_export(handle), start=1):
        if record.kind == "sleep":
            writer.add_sample(str(record.value), record.start, record.end, None)
            kept[str(record.value)] += 1
        else:
            low, high = FILE_RANGES[record.kind]
            value = float(record.value)
            if not low <= value <= high:
                rejected += 1
                continue
            writer.add_sample(record.kind, record.start, record.end, value)
            kept[record.kind] += 1
        if number % PROGRESS_EVERY == 0:
            writer.flush()
            share = raw.tell() / raw.size if raw.size else 0
            ctx.progress(5 + 75 * share, "Reading the file", f"{number:,} records read")
    return {"records": dict(kept), "rejected": rejected}


def _series_file(upload: Any, handle: io.BufferedReader, writer: Any) -> dict:
    lines = _text(handle)
    try:
        if upload.file_format == "awd":
            series = read_awd(lines).series  # the header's subject name and serial are not kept
        elif upload.file_format == "actigraph_csv":
            series = read_actigraph_csv(lines).series
        else:
            series = read_plain_csv(lines)
    except UnicodeDecodeError as error:
        raise ParseError(0, f"the file is not UTF-8 text (byte {error.start})") from None
    except ValueError as error:
        if isinstance(error, ParseError):
            raise
        raise ParseError(0, str(error)) from None
    writer.add_series(ACTIVITY_COUNTS, series)
    return {"records": {ACTIVITY_COUNTS: sum(1 for v in series.values if v is not None)}, "rejected": 0}


def _fail(upload_id: str, organization_id: str, message: str, actor: audit.Actor, *, safe: str | None = None) -> None:
    db.session.rollback()
    upload = service.get_upload(organization_id, upload_id)
    service.mark_failed(upload, message, safe=safe)
    service.discard_file(upload)
    audit.record(
        "health_data.import_failed",
        organization_id=organization_id,
        actor=actor,
        target_type="health_upload",
        target_id=upload.id,
        patient_id=upload.patient_id,
        outcome=audit.FAILURE,
        details={"format": upload.file_format},
    )
    db.session.commit()


def import_upload(ctx: JobContext, organization_id: str, upload_id: str, algorithm: str) -> dict[str, Any]:
    """Import one received file; idempotent (a finished upload is left as it is)."""
    upload = service.get_upload(organization_id, upload_id)
    actor = audit.Actor(user_id=upload.uploaded_by_id, token_id=upload.uploaded_by_token_id)
    if upload.status in (COMPLETED, FAILED):
        return {"upload_id": upload.id, "status": upload.status}
    blocks.delete_values(upload.id)  # a rerun after a crash starts over
    upload.status = PROCESSING
    key = service.file_key(upload)
    path = service.sealed_path(upload)
    if key is None or not path.exists():
        _fail(upload_id, organization_id, "The uploaded file is no longer available; upload it again.", actor)
        raise ImportFailed("the uploaded file is no longer available")
    ctx.progress(2, "Reading the file")
    writer = blocks.BlockWriter(upload)
    try:
        raw = sealed_files.SealedReader(path, key)
        with io.BufferedReader(raw, buffer_size=sealed_files.CHUNK) as handle:
            if upload.file_format == "apple_health":
                summary = _apple_health(ctx, upload, handle, raw, writer)
            else:
                summary = _series_file(upload, handle, writer)
        writer.close()
    except ParseError as error:
        where = f"Line {error.line}: " if error.line else ""
        message = f"{where}{error.message}" if hasattr(error, "message") else str(error)
        # The job's error, the log line and the upload's plain column name the line only: the whole
        # message may quote a cell of the file, so it is kept encrypted.
        safe = f"Line {error.line}: the file is malformed." if error.line else "The file is malformed."
        _fail(upload_id, organization_id, message, actor, safe=safe)
        raise ImportFailed(safe) from None
    except JobCancelled:
        _fail(upload_id, organization_id, "The import was cancelled.", actor)
        raise
    except sealed_files.Damaged as error:
        _fail(upload_id, organization_id, f"The stored file is damaged ({error}); upload it again.", actor)
        raise ImportFailed(str(error)) from None
    upload = service.get_upload(organization_id, upload_id)
    if writer.samples == 0:
        _fail(upload_id, organization_id, "The file holds no data this app reads.", actor)
        raise ImportFailed("no data")
    channels = sorted(k for k, n in summary["records"].items() if n)
    upload.metric_types = sorted({CHANNEL_TYPES[c] for c in channels if c in CHANNEL_TYPES})
    upload.sample_count = upload.accepted_count = writer.samples
    upload.rejected_count = summary["rejected"]
    upload.starts_at = blocks.floating_utc(writer.first) if writer.first else None
    upload.ends_at = blocks.floating_utc(writer.last) if writer.last else None
    vault = crypto.vault_for(organization_id)
    upload.summary_enc = vault.encrypt(service.SUMMARY_FIELD, _summary_json(summary))
    upload.status, upload.completed_at = COMPLETED, utcnow()
    service.discard_file(upload)
    ctx.progress(82, "Analysing", f"{writer.samples:,} values stored")
    result: dict[str, Any] = {"upload_id": upload.id, "status": COMPLETED, "samples": writer.samples}
    channel = ACTIVITY_COUNTS if ACTIVITY_COUNTS in channels else STEPS if STEPS in channels else None
    if channel is not None:
        analysis = analyses.create_analysis(
            upload, channel=channel, algorithm=algorithm, actor=actor, job_id=ctx.job_id
        )
        analyses.run_analysis(organization_id, analysis.id)
        result["analysis_id"] = analysis.id
    return result


def _summary_json(summary: dict) -> str:
    return json.dumps(summary, separators=(",", ":"))


@job_function(
    service.IMPORT_KIND,
    queue="default",
    timeout=3600,
    retries=0,
    read_permission="health_data:read",
    cancel_permission="health_data:read",
)
def import_file(ctx: JobContext, upload_id: str, algorithm: str = "cole_kripke") -> dict[str, Any]:
    job = db.session.get(Job, ctx.job_id)  # the job row carries the organization it runs for
    return import_upload(ctx, job.organization_id if job and job.organization_id else "", upload_id, algorithm)


@periodic.every_tick("health_data.reconcile_imports")
def reconcile_imports(now: datetime | None = None) -> int:
    """Uploads whose import job ended without finishing them (a worker killed mid-file, then failed
    as stale; a cancelled job) are failed and their partial values deleted; analyses whose job ended
    so are failed too (instead of waiting for ever). Returns how many records."""
    orphaned = analyses.fail_orphaned()
    stuck = db.session.scalars(
        select(HealthUpload)
        .join(Job, Job.id == HealthUpload.job_id)
        .where(HealthUpload.status.in_((RECEIVED, PROCESSING)), Job.status.in_((JOB_FAILED, CANCELLED)))
    ).all()
    for upload in stuck:
        service.mark_failed(upload, "The import stopped before it finished; upload the file again.")
        service.discard_file(upload)
    db.session.commit()
    return len(stuck) + orphaned
