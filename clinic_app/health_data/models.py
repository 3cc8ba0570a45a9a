"""Health data rows: uploads, their values (encrypted blocks, one per channel and device-local day),
analyses and insights.

An ``HealthUpload`` is one arrival of data for one patient of one organization: a JSON batch of
metrics (``kind="metrics"``), a file (``kind="file"``), a series posted for analysis
(``kind="series"``) or a sleep-diary entry made on the chart (``kind="diary"``). Its values live
in ``HealthSeriesBlock`` rows, one per channel (``activity_counts``, ``steps``, ``heart_rate``,
``in_bed``, ``metrics`` …) and per day of the device's clock; each block is a compressed JSON
document encrypted with the organization's data key (``values_enc``). Blocks are indexed by
organization, patient, channel and day, so reading a patient's fortnight reads about fourteen
blocks per channel, never another patient's or the rest of the history; deleting an upload
deletes its blocks (and the analyses and insights drawn from it) outright.

Times: ``starts_at``/``ends_at`` hold the device's wall clock (what it showed when the value was
recorded; an offset, when the source gave one, is kept in the stored values but not applied here)
written as if it were UTC: "floating" times, see docs/health-data.md. ``day`` is the device's own
calendar day.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core import crypto
from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin

RECEIVED, PROCESSING, COMPLETED, FAILED = "received", "processing", "completed", "failed"
STATUSES = (RECEIVED, PROCESSING, COMPLETED, FAILED)
STATUS_LABELS = {RECEIVED: "Received", PROCESSING: "Processing", COMPLETED: "Completed", FAILED: "Failed"}

SOURCES = ("apple_health", "fitbit", "actiwatch", "actigraph", "csv", "api", "diary")
KINDS = ("metrics", "file", "series", "diary")

# The seed's metric types (HealthMetricType values).
METRIC_TYPES = (
    "heart_rate",
    "heart_rate_variability",
    "blood_pressure",
    "blood_oxygen",
    "respiratory_rate",
    "sleep_analysis",
    "activity_level",
    "stress_indicators",
    "mood_assessment",
    "cognitive_metrics",
    "environmental",
    "body_temperature",
    "blood_glucose",
)

# Channels of stored values, and the seed metric type each belongs to.
CHANNEL_TYPES = {
    "activity_counts": "activity_level",
    "steps": "activity_level",
    "heart_rate": "heart_rate",
    "hrv_sdnn": "heart_rate_variability",
    "spo2": "blood_oxygen",
    "respiratory_rate": "respiratory_rate",
    "in_bed": "sleep_analysis",
    "asleep": "sleep_analysis",
    "awake": "sleep_analysis",
}
METRICS_CHANNEL = "metrics"  # whole validated metrics of a JSON upload, one channel per metric type

ALGORITHMS = ("cole_kripke", "sadeh", "oakley")
ACTIVITY_COUNTS, STEPS = "activity_counts", "steps"


class HealthUpload(PublicIdMixin, TimestampMixin, Model):
    """One arrival of health data for a patient; its id is the API's ``processing_id``/``upload_id``."""

    __tablename__ = "health_uploads"
    __table_args__ = (
        UniqueConstraint("organization_id", "patient_id", "sync_token"),
        Index("ix_health_uploads_patient", "organization_id", "patient_id", "created_at"),
    )
    id_prefix = "hdu"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    # The file's format for file uploads (apple_health, awd, actigraph_csv, plain_csv).
    file_format: Mapped[str | None] = mapped_column(String(20))
    metric_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default=RECEIVED)
    starts_at: Mapped[datetime | None] = mapped_column()
    ends_at: Mapped[datetime | None] = mapped_column()
    sample_count: Mapped[int] = mapped_column(Integer, default=0)
    accepted_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    sync_token: Mapped[str | None] = mapped_column(String(200))
    upload_source: Mapped[str | None] = mapped_column(String(40))  # what the client called its source
    client_timestamp: Mapped[datetime | None] = mapped_column()
    uploaded_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_by_token_id: Mapped[str | None] = mapped_column(String(40))
    job_id: Mapped[str | None] = mapped_column(String(40))
    # Why an import failed: ``error`` names the line only (safe for logs and lists); ``error_enc``
    # is the whole message, which may quote the offending cell (PHI, encrypted).
    error: Mapped[str | None] = mapped_column(String(1000))
    error_enc: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column()
    # A file waiting for its import job: the data key of its sealed copy on disk, wrapped by the
    # organization's key (cleared, and the copy deleted, when the import ends).
    file_key_enc: Mapped[str | None] = mapped_column(Text)
    # PHI: the file's name (it can carry the patient's name) and a summary of what was read.
    filename_enc: Mapped[str | None] = mapped_column(Text)
    summary_enc: Mapped[str | None] = mapped_column(Text)


class HealthSeriesBlock(PublicIdMixin, Model):
    """The values of one upload on one channel for one device-local day, compressed and encrypted."""

    __tablename__ = "health_series_blocks"
    __table_args__ = (
        Index("ix_health_series_blocks_lookup", "organization_id", "patient_id", "channel", "day"),
        UniqueConstraint("upload_id", "channel", "day", "part"),
    )
    id_prefix = "hsb"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    upload_id: Mapped[str] = mapped_column(ForeignKey("health_uploads.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(40))
    day: Mapped[date] = mapped_column(Date)
    part: Mapped[int] = mapped_column(Integer, default=0)  # a long import may write a day in parts
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    sample_count: Mapped[int] = mapped_column(Integer)
    values_enc: Mapped[str] = mapped_column(Text)


class HealthAnalysis(PublicIdMixin, TimestampMixin, Model):
    """An actigraphy analysis of one upload's activity counts (or step counts, as a proxy)."""

    __tablename__ = "health_analyses"
    __table_args__ = (Index("ix_health_analyses_patient", "organization_id", "patient_id", "created_at"),)
    id_prefix = "hda"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    upload_id: Mapped[str] = mapped_column(ForeignKey("health_uploads.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(40))  # activity_counts, or steps (a proxy)
    algorithm: Mapped[str] = mapped_column(String(20), default="cole_kripke")
    status: Mapped[str] = mapped_column(String(20), default=RECEIVED)
    job_id: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(String(1000))
    requested_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    completed_at: Mapped[datetime | None] = mapped_column()
    epochs: Mapped[int] = mapped_column(Integer, default=0)
    result_enc: Mapped[str | None] = mapped_column(Text)  # PHI: the ActigraphyAnalysis JSON

    @property
    def proxy(self) -> bool:
        return self.channel == STEPS


class HealthInsight(PublicIdMixin, Model):
    """A rule-based (optionally language-model written) narrative drawn from an analysis: a draft
    for clinicians, never shown outside the clinic."""

    __tablename__ = "health_insights"
    __table_args__ = (Index("ix_health_insights_patient", "organization_id", "patient_id", "created_at"),)
    id_prefix = "hin"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    analysis_id: Mapped[str] = mapped_column(ForeignKey("health_analyses.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(20), default="offline")
    model: Mapped[str | None] = mapped_column(String(80))
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column()
    content_enc: Mapped[str] = mapped_column(Text)  # PHI: {"statements": [...], "narrative": "..."}


def _register(model: type, *attributes: str) -> None:
    for attribute in attributes:
        crypto.encrypted_column(model, attribute)


_register(HealthUpload, "filename_enc", "summary_enc", "file_key_enc", "error_enc")
_register(HealthSeriesBlock, "values_enc")
_register(HealthAnalysis, "result_enc")
_register(HealthInsight, "content_enc")


def json_safe(value: Any) -> Any:
    """``value`` with NaN/inf floats replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
