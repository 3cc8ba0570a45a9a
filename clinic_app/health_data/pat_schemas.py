"""JSON shapes of the actigraphy ("PAT") and insights API (seed 004): ``ActigraphyInput`` with a
``patient_id``, the accepted analysis, the ``ActigraphyAnalysis`` result, the service descriptions,
and the insights in the seed's ``{data, metadata}`` envelope.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field
from clinic_app.health_data.models import ALGORITHMS, STATUSES
from clinic_app.health_data.schemas import IsoTime

MAX_POINTS = 50_000
MAX_COUNT = 1_000_000  # far above any device's counts (or steps) per epoch

Algorithm = Literal[ALGORITHMS]  # type: ignore[valid-type]
AnalysisStatus = Literal[STATUSES]  # type: ignore[valid-type]


def _count(value: float) -> float:
    if not (math.isfinite(value) and 0 <= value <= MAX_COUNT):
        raise PydanticCustomError(
            "out_of_range", "A count must be a finite number from 0 to {high}.", {"high": f"{MAX_COUNT:,}"}
        )
    return value


class DataPoint(Schema):
    """Seed 004 ``ActigraphyDataPoint``: one epoch's count."""

    timestamp: IsoTime = Field(description="ISO 8601; without an offset it is the device's clock")
    value: Annotated[float, AfterValidator(_count)] = Field(
        strict=True,
        json_schema_extra={"minimum": 0, "maximum": MAX_COUNT},
        description="Activity counts (or steps) ≥ 0",
    )


Points = Annotated[list[DataPoint], Field(min_length=1, max_length=MAX_POINTS)]


class ActigraphyInput(Schema):
    """Seed 004 ``ActigraphyInput`` with ``patient_id`` instead of ``user_id``."""

    patient_id: str = Field(min_length=1, max_length=64)
    data_points: Points = Field(description=f"1 to {MAX_POINTS:,} activity counts {{timestamp, value}}")
    sampling_rate: float = Field(
        default=1.0,
        strict=True,
        gt=0,
        le=60,
        description="Samples per minute (epoch = 60 / sampling_rate seconds). Cole-Kripke and Sadeh need 1.0; "
        "Oakley takes 2.0, 1.0 or 0.5 (30-, 60- or 120-second epochs)",
    )
    duration_hours: float | None = Field(default=None, strict=True, ge=0, le=24 * 366, description="Informative only")
    algorithm: Algorithm = Field(default="cole_kripke", description="Sleep/wake scoring: cole_kripke, sadeh, oakley")


class StepDataInput(Schema):
    """Step counts per epoch (Apple HealthKit), analysed as a proxy for activity counts."""

    patient_id: str = Field(min_length=1, max_length=64)
    step_data: Points | None = Field(default=None, description="Step counts {timestamp, value}")
    data_points: Points | None = Field(default=None, description="Accepted instead of step_data")
    sampling_rate: float = Field(
        default=1.0, strict=True, gt=0, le=60, description="Samples per minute, as for /pat/analyze"
    )
    duration_hours: float | None = Field(default=None, strict=True, ge=0, le=24 * 366, description="Informative only")
    algorithm: Algorithm = Field(default="cole_kripke")


class AnalysisAccepted(Schema):
    processing_id: str = Field(description="The analysis id (hda_…): GET /api/v1/pat/analysis/{processing_id}")
    status: AnalysisStatus
    message: str
    estimated_processing_time: int = Field(description="Seconds, roughly")
    analysis_url: str
    upload_id: str = Field(description="The stored series (an upload of kind series)")
    job_id: str | None
    proxy: bool = Field(description="True for step data: the results are a proxy")


class ActigraphyAnalysis(Schema):
    """Seed 004 ``ActigraphyAnalysis``, filled with documented, checkable values (docs/health-data.md)."""

    activity_patterns: dict[str, Any] = Field(description="Daily totals, hourly means, most/least active hours …")
    sleep_metrics: dict[str, Any] = Field(description="{algorithm, in_bed_source, nights[]}")
    circadian_rhythm: dict[str, Any] = Field(
        description="IS, IV, RA, L5, M10 and onsets as pyActigraphy 1.2.2 (binarised > 4), the same on raw "
        "counts under `counts`, and `cosinor`"
    )
    feature_embeddings: list[float | None] = Field(description="24 normalised hourly means (0…1); not model output")
    confidence_scores: dict[str, Any] = Field(description="valid_wear_fraction, nonwear_minutes, recording_days …")
    input: dict[str, Any] | None = Field(
        default=None, description="{channel, proxy, start, end, epoch_seconds, epochs}"
    )
    proxy_note: str | None = None


class AnalysisOut(Schema):
    processing_id: str
    status: AnalysisStatus
    patient_id: str
    upload_id: str
    message: str
    analysis: ActigraphyAnalysis | None = Field(description="Null until the analysis has completed")
    proxy: bool
    proxy_note: str | None
    algorithm: Algorithm
    created_at: Timestamp
    completed_at: Timestamp | None
    error: str | None
    job_id: str | None
    progress: int | None


class PatHealth(Schema):
    status: Literal["healthy"]
    service: str
    timestamp: Timestamp
    model_loaded: bool = Field(description="Always false: no neural network is used")
    algorithms: list[str]


class AlgorithmInfo(Schema):
    key: str
    name: str
    purpose: str
    details: str
    reference: str


class ModelsInfo(Schema):
    model: None = Field(default=None, description="Always null: no pretrained actigraphy transformer (PAT) is used")
    summary: str
    algorithms: list[AlgorithmInfo]
    feature_embeddings: str
    sleep_algorithms: list[str]
    default_algorithm: str


# --- insights ------------------------------------------------------------------------------------


class InsightRequest(Schema):
    analysis_id: str | None = Field(default=None, max_length=64, description="A completed analysis (hda_…)")
    patient_id: str | None = Field(
        default=None, max_length=64, description="Instead of analysis_id: the patient's latest completed analysis"
    )


class Statement(Schema):
    code: str
    metric: str = Field(description="Dotted path into the analysis; nights[] = mean over the nights")
    value: float | None
    threshold: float | None
    comparison: str = Field(description="below, above or within the threshold")
    severity: str = Field(description="info (the healthy side) or attention")
    text: str


class InsightData(Schema):
    insight_id: str
    patient_id: str
    analysis_id: str
    narrative: str
    key_insights: list[str] = Field(description="The statements' texts, in order")
    recommendations: list[str] = Field(description="Always empty: insights observe, they do not advise")
    statements: list[Statement]
    provider: str = Field(description="offline, openai or gemini")
    model: str | None
    fallback_reason: str | None = Field(description="Why the offline narrative stands in for a model's")
    draft: bool = Field(description="Always true: a draft for a clinician, never shown outside the clinic")
    generated_at: Timestamp


class ResponseMetadata(Schema):
    request_id: str
    timestamp: Timestamp
    service: str
    version: str = Field(description="The API version")
    processing_time_ms: float


class InsightResponse(Schema):
    data: InsightData
    metadata: ResponseMetadata


class InsightHistory(Schema):
    insights: list[InsightData] = Field(description="Newest first")
    count: int
    limit: int


class InsightHistoryResponse(Schema):
    data: InsightHistory
    metadata: ResponseMetadata
    next_cursor: str | None = next_cursor_field()


class InsightHistoryQuery(Schema):
    limit: int = limit_field(50, 200)
    cursor: str | None = cursor_field()


class LanguageModelStatus(Schema):
    configured: bool
    provider: str | None = Field(description="openai or gemini when configured; the key and URL are never shown")
    model: str | None


class InsightsStatus(Schema):
    status: Literal["healthy"]
    service: str
    timestamp: Timestamp
    offline_rules_available: bool = Field(description="Always true: the rule-based narrative needs nothing else")
    language_model: LanguageModelStatus
