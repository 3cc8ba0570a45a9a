"""JSON shapes of the health-data API (seed 004): uploads of metrics (``HealthDataUpload`` with a
``patient_id`` where the seed had a user), their processing status, the HAL-style page of uploads,
and the HealthKit file upload. The actigraphy ("PAT") and insights shapes are in ``pat_schemas``.

Times: ``client_timestamp`` and the metrics' own times may be given with or without an offset (a
naive time is the device's clock; one with an offset is read on its own clock). ``starts_at`` and
``ends_at`` of an upload are the device's clock written as if it were UTC ("floating" times, see
docs/health-data.md, "API"), as are the list's ``start_date``/``end_date`` filters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field
from clinic_app.health_data.metrics import MAX_METRICS, DeviceTime, HealthMetric
from clinic_app.health_data.models import STATUSES
from clinic_app.health_data.queries import CURSOR_MAX, DEFAULT_PAGE, MAX_PAGE

UploadStatus = Literal[STATUSES]  # type: ignore[valid-type]
FileFormat = Literal["apple_health", "awd", "actigraph_csv", "plain_csv"]


def _iso_text(value: Any) -> Any:
    """A time given as ISO 8601 text only (pydantic alone would take ``0`` or ``"0"`` for 1970)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("datetime_from_iso", "Give an ISO 8601 date and time.")


IsoTime = Annotated[DeviceTime, BeforeValidator(_iso_text)]


PatientId = Annotated[str, Field(min_length=1, max_length=64, description="The patient the data belongs to")]


# --- uploading metrics -------------------------------------------------------------------------


class HealthDataUploadIn(Schema):
    """Seed 004 ``HealthDataUpload``, with ``patient_id`` instead of ``user_id``. Every metric is
    validated before anything is stored: one invalid metric answers 422 and nothing is written."""

    patient_id: PatientId
    metrics: list[HealthMetric] = Field(
        min_length=1,
        max_length=MAX_METRICS,
        description=f"1 to {MAX_METRICS} metrics of the seed's 13 types, each with the data its type needs",
    )
    upload_source: str = Field(
        min_length=1, max_length=40, description="What the client calls its source, e.g. apple_health, fitbit"
    )
    client_timestamp: IsoTime = Field(description="When the client sent the batch (with or without an offset)")
    sync_token: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Makes the upload idempotent: the same token for the same patient answers the first "
        "upload's response and stores nothing new",
    )


class HealthDataResponse(Schema):
    """Seed 004 ``HealthDataResponse``."""

    processing_id: str = Field(description="The upload's id (hdu_…); poll /api/v1/health-data/processing/{id}")
    status: UploadStatus = Field(description="completed: JSON metrics are stored before the answer is sent")
    accepted_metrics: int
    rejected_metrics: int = Field(description="Always 0: a batch with an invalid metric is refused whole (422)")
    validation_errors: list[dict[str, str]] = Field(description="Always empty on 202 (see rejected_metrics)")
    estimated_processing_time: int = Field(description="Seconds until the upload is processed (0: it is)")
    sync_token: str | None
    message: str
    timestamp: Timestamp = Field(description="When the upload was received (the first time, for a repeat)")


# --- reading uploads ---------------------------------------------------------------------------


class ProcessingStatus(Schema):
    """An upload's status and what it holds, without its values."""

    processing_id: str
    status: UploadStatus
    patient_id: str
    kind: Literal["metrics", "file", "series", "diary"]
    source: str = Field(description="apple_health, fitbit, actiwatch, actigraph, csv, api or diary")
    upload_source: str | None = Field(description="The client's own name for its source, when it gave one")
    file_format: FileFormat | None
    metric_types: list[str] = Field(description="The seed metric types the upload holds")
    sample_count: int
    accepted_count: int
    rejected_count: int = Field(description="Values of a file outside the accepted ranges, not stored")
    starts_at: Timestamp | None = Field(description="First value, on the device's clock written as UTC")
    ends_at: Timestamp | None
    created_at: Timestamp
    completed_at: Timestamp | None
    error: str | None = Field(description="Why a file failed (names the line or element, never a value)")
    job_id: str | None = Field(description="The import job of a file (GET /api/v1/jobs/{job_id})")
    progress: int | None = Field(description="The import job's progress, 0 to 100, when there is a job")
    analysis_id: str | None = Field(description="The upload's latest analysis (GET /api/v1/pat/analysis/{id})")


class UploadListItem(ProcessingStatus):
    values: list[dict[str, Any]] | None = Field(
        description="Only with include_values=true (the read is recorded): a metrics upload's metrics as "
        "sent, or a file's samples {channel, start, end, value}; at most 10,000 per upload"
    )
    values_truncated: bool | None = Field(description="With include_values: whether more values were left out")


class UploadListQuery(Schema):
    patient_id: str | None = Field(default=None, max_length=64, description="Only this patient's uploads")
    metric_type: str | None = Field(default=None, max_length=40, description="Only uploads holding this type")
    start_date: IsoTime | None = Field(default=None, description="Only uploads with data at or after (device clock)")
    end_date: IsoTime | None = Field(default=None, description="Only uploads with data at or before (device clock)")
    limit: int = limit_field(DEFAULT_PAGE, MAX_PAGE, note=" (at most 100 with include_values)")
    cursor: str | None = cursor_field(max_length=CURSOR_MAX)
    include_values: bool = Field(default=False, description="Include each upload's values (recorded as a read)")


class Pagination(Schema):
    page_size: int
    has_next: bool
    has_previous: bool
    next_cursor: str | None
    total_count: int = Field(description="Uploads matching the filters, over all pages")


class PageLinks(Schema):
    self: str
    next: str | None
    first: str


class UploadListOut(Schema):
    """Seed 004's HAL-style page: newest upload first."""

    data: list[UploadListItem]
    pagination: Pagination
    links: PageLinks
    next_cursor: str | None = next_cursor_field()


class ServiceHealth(Schema):
    status: Literal["healthy"]
    service: str
    timestamp: Timestamp
    metric_types: list[str] | None = None
    max_metrics_per_upload: int | None = None
    file_formats: list[str] | None = None


# --- HealthKit files ---------------------------------------------------------------------------


class HealthKitUploadOut(Schema):
    upload_id: str
    status: UploadStatus = Field(description="received: the import runs in the background")
    job_id: str | None
    status_url: str = Field(description="Poll GET /api/v1/healthkit/upload-status/{upload_id}")
    message: str


class HealthKitStatusOut(Schema):
    upload_id: str
    status: UploadStatus
    file_format: FileFormat | None
    progress: int = Field(description="0 to 100 (100 once completed or failed)")
    message: str = Field(description="What the import is doing, or how it ended")
    error: str | None = Field(description="Why it failed, naming the line or element")
    records: dict[str, int] = Field(description="Records stored per kind (steps, heart_rate, in_bed, asleep …)")
    rejected_records: int = Field(description="Values outside the accepted ranges, not stored")
    job_id: str | None
    analysis_id: str | None
    analysis_url: str | None
    created_at: Timestamp
    completed_at: Timestamp | None
