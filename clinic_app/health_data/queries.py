"""Reading health data back: a page of uploads (keyset pagination, newest first), one upload's
values, and the fact that a patient has data at all (what a receptionist may see).

Reads of values are audited (``health_data.viewed``); listing uploads shows no values, only what
arrived when (type, time range, counts), and is not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select

from clinic_app.core import audit, crypto
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.pagination import bad_cursor, decode_cursor, encode_cursor
from clinic_app.extensions import db
from clinic_app.health_data import blocks
from clinic_app.health_data.models import METRIC_TYPES, HealthAnalysis, HealthUpload
from clinic_app.health_data.service import SUMMARY_FIELD, get_upload

DEFAULT_PAGE, MAX_PAGE = 50, 1000
CURSOR_MAX = 500


@dataclass(frozen=True)
class UploadPage:
    rows: list[HealthUpload]
    total_count: int
    next_cursor: str | None
    has_previous: bool
    page_size: int


def _cursor(upload: HealthUpload) -> str:
    return encode_cursor(json.dumps([upload.created_at.isoformat(), upload.id]))


def _parse_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor of ``_cursor`` names (the same text cursors have always held)."""
    problem = bad_cursor(message="This cursor is not one this API gave out.")
    try:
        created, upload_id = json.loads(decode_cursor(cursor, max_length=CURSOR_MAX))
        moment = datetime.fromisoformat(created)
    except (ValueError, TypeError):  # json's decode error is a ValueError
        raise problem from None
    # An id is printable text (a NUL inside the JSON's escapes would reach the database otherwise).
    if not isinstance(upload_id, str) or not upload_id.isprintable() or len(upload_id) > 64:
        raise problem
    return moment, upload_id


def list_uploads(
    organization_id: str,
    *,
    patient_id: str | None = None,
    metric_type: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE,
) -> UploadPage:
    """A page of the organization's uploads, newest first, filtered by patient, metric type and
    time (uploads whose data overlaps ``start`` to ``end``). ``limit`` is 1 to 1000."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(errors=[FieldError("limit", f"Give a page size from 1 to {MAX_PAGE}.", "OUT_OF_RANGE")])
    if metric_type is not None and metric_type not in METRIC_TYPES:
        raise Invalid(errors=[FieldError("metric_type", "Unknown metric type.", "UNKNOWN_METRIC_TYPE")])
    where = [HealthUpload.organization_id == organization_id]
    if patient_id is not None:
        where.append(HealthUpload.patient_id == patient_id)
    if metric_type is not None:  # the JSON list as text holds the quoted name
        where.append(cast(HealthUpload.metric_types, String).like(f'%"{metric_type}"%'))
    if start is not None:
        where.append(HealthUpload.ends_at >= blocks.floating_utc(start))
    if end is not None:
        where.append(HealthUpload.starts_at <= blocks.floating_utc(end))
    total = db.session.scalar(select(func.count()).select_from(HealthUpload).where(*where)) or 0
    query = select(HealthUpload).where(*where)
    if cursor:
        created, upload_id = _parse_cursor(cursor)
        query = query.where(
            or_(
                HealthUpload.created_at < created, and_(HealthUpload.created_at == created, HealthUpload.id < upload_id)
            )
        )
    rows = list(
        db.session.scalars(query.order_by(HealthUpload.created_at.desc(), HealthUpload.id.desc()).limit(limit + 1))
    )
    more = len(rows) > limit
    page = rows[:limit]
    return UploadPage(page, total, _cursor(page[-1]) if more and page else None, bool(cursor), limit)


def upload_summary(upload: HealthUpload) -> dict[str, Any] | None:
    """What an import read (records per kind, rejected values); None for other uploads."""
    plain = crypto.vault_for(upload.organization_id).decrypt(SUMMARY_FIELD, upload.summary_enc, target_id=upload.id)
    if plain is None or isinstance(plain, crypto.Unreadable):
        return None
    return json.loads(plain)


def upload_values(
    organization_id: str, upload_id: str, *, actor: audit.Actor, channel: str, limit: int = 10_000
) -> tuple[HealthUpload, list[dict[str, Any]]]:
    """One upload's values (a JSON upload's metrics, or a file's samples, at most ``limit``),
    recording the read (``health_data.viewed``)."""
    upload = get_upload(organization_id, upload_id)
    values: list[dict[str, Any]] = []
    stored = db.session.scalars(
        select(blocks.HealthSeriesBlock.channel).where(blocks.HealthSeriesBlock.upload_id == upload.id).distinct()
    ).all()
    for name, sample in blocks.read_samples(organization_id, upload.patient_id, stored, upload_id=upload.id):
        if len(values) >= limit:
            break
        if name.startswith("metric."):
            values.append(sample.extra)
        else:
            values.append(
                {
                    "channel": name,
                    "start": sample.start.isoformat(),
                    "end": sample.end.isoformat() if sample.end else None,
                    "value": sample.value,
                }
            )
    audit.record(
        "health_data.viewed",
        organization_id=organization_id,
        actor=actor,
        target_type="health_upload",
        target_id=upload.id,
        patient_id=upload.patient_id,
        details={"channel": channel, "values": len(values)},
    )
    return upload, values


def patient_has_data(organization_id: str, patient_id: str) -> bool:
    return bool(
        db.session.scalar(
            select(func.count())
            .select_from(HealthUpload)
            .where(HealthUpload.organization_id == organization_id, HealthUpload.patient_id == patient_id)
        )
    )


def patient_uploads(organization_id: str, patient_id: str, *, limit: int = 20) -> list[HealthUpload]:
    """The patient's most recent uploads (no values), newest first."""
    return list(
        db.session.scalars(
            select(HealthUpload)
            .where(HealthUpload.organization_id == organization_id, HealthUpload.patient_id == patient_id)
            .order_by(HealthUpload.created_at.desc(), HealthUpload.id.desc())
            .limit(limit)
        )
    )


def analyses_of(organization_id: str, upload_ids: list[str]) -> dict[str, HealthAnalysis]:
    """The latest analysis of each upload (by upload id)."""
    if not upload_ids:
        return {}
    rows = db.session.scalars(
        select(HealthAnalysis)
        .where(HealthAnalysis.organization_id == organization_id, HealthAnalysis.upload_id.in_(upload_ids))
        .order_by(HealthAnalysis.created_at, HealthAnalysis.id)
    ).all()
    return {row.upload_id: row for row in rows}
