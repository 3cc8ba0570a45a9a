"""The seed's health metrics (``HealthMetric`` with biometric, sleep, activity and mental-health data)
as validated models, with the physiological ranges a clinical system accepts.

Every range check fails with code ``OUT_OF_RANGE`` and a message naming the quantity, the range and
the unit; an unknown metric type fails with ``UNKNOWN_METRIC_TYPE``; a metric without the data its
type needs (a ``heart_rate`` metric without ``biometric_data.heart_rate``) fails with
``REQUIRED_FOR_METRIC_TYPE``. Ranges and their sources are listed in docs/health-data.md.

Times: a timestamp without an offset is the device's local clock and is kept as such; one with an
offset is kept with it. Either must fall between 1900 and 2100.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from clinic_app.core.time import moment_in_range, out_of_range
from clinic_app.health_data.models import METRIC_TYPES

MAX_METRICS = 100


def _ranged(low: float, high: float, name: str, unit: str = "") -> Any:
    suffix = f" {unit}" if unit else ""

    def check(value: float) -> float:
        if not (math.isfinite(value) and low <= value <= high):
            raise PydanticCustomError(
                "out_of_range",
                "{name} must be between {low} and {high}{suffix}.",
                {"name": name, "low": low, "high": high, "suffix": suffix},
            )
        return value

    return Annotated[float, AfterValidator(check), Field(json_schema_extra={"minimum": low, "maximum": high})]


def _device_time(value: datetime) -> datetime:
    if not moment_in_range(value):
        raise PydanticCustomError("out_of_range", out_of_range("a date and time"))
    return value


DeviceTime = Annotated[datetime, AfterValidator(_device_time)]


def _metric_type(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in METRIC_TYPES:
        return value.strip().lower()  # the seed's documents spell them HEART_RATE, its API heart_rate
    raise PydanticCustomError(
        "unknown_metric_type", "Unknown metric type; use one of: {types}.", {"types": ", ".join(METRIC_TYPES)}
    )


MetricType = Annotated[Literal[METRIC_TYPES], BeforeValidator(_metric_type)]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BiometricData(_Strict):
    heart_rate: _ranged(30, 300, "Heart rate", "bpm") | None = None  # type: ignore[valid-type]
    blood_pressure_systolic: _ranged(70, 250, "Systolic blood pressure", "mmHg") | None = None  # type: ignore[valid-type]
    blood_pressure_diastolic: _ranged(40, 150, "Diastolic blood pressure", "mmHg") | None = None  # type: ignore[valid-type]
    oxygen_saturation: _ranged(70, 100, "Oxygen saturation", "%") | None = None  # type: ignore[valid-type]
    heart_rate_variability: _ranged(0, 200, "Heart rate variability", "ms") | None = None  # type: ignore[valid-type]
    respiratory_rate: _ranged(5, 60, "Respiratory rate", "breaths/min") | None = None  # type: ignore[valid-type]
    body_temperature: _ranged(35, 42, "Body temperature", "°C") | None = None  # type: ignore[valid-type]
    blood_glucose: _ranged(50, 500, "Blood glucose", "mg/dL") | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _pressure_order(self) -> BiometricData:
        systolic, diastolic = self.blood_pressure_systolic, self.blood_pressure_diastolic
        if systolic is not None and diastolic is not None and systolic <= diastolic:
            raise PydanticCustomError("out_of_range", "Systolic pressure must be higher than diastolic pressure.")
        return self


class SleepData(_Strict):
    total_sleep_minutes: _ranged(0, 1440, "Total sleep", "minutes") | None = None  # type: ignore[valid-type]
    sleep_efficiency: _ranged(0, 1, "Sleep efficiency (a fraction)") | None = None  # type: ignore[valid-type]
    time_to_sleep_minutes: _ranged(0, 720, "Time to fall asleep", "minutes") | None = None  # type: ignore[valid-type]
    wake_count: Annotated[int, Field(ge=0, le=200)] | None = None
    sleep_stages: (
        dict[
            Literal["awake", "rem", "light", "deep", "core", "in_bed", "asleep"],
            _ranged(0, 1440, "A sleep stage", "minutes"),
        ]
        | None
    ) = None  # type: ignore[valid-type]
    sleep_start: DeviceTime | None = None
    sleep_end: DeviceTime | None = None

    @model_validator(mode="after")
    def _span(self) -> SleepData:
        if self.sleep_start and self.sleep_end:
            if (self.sleep_start.tzinfo is None) != (self.sleep_end.tzinfo is None):
                raise PydanticCustomError(
                    "inconsistent_times", "Give sleep_start and sleep_end both with or both without an offset."
                )
            span = (self.sleep_end - self.sleep_start).total_seconds() / 60
            if span <= 0 or span > 1440:
                raise PydanticCustomError("out_of_range", "sleep_end must come after sleep_start, within 24 hours.")
            if self.total_sleep_minutes is not None and self.total_sleep_minutes > span + 1e-9:
                raise PydanticCustomError(
                    "out_of_range", "Total sleep cannot be longer than the time from sleep_start to sleep_end."
                )
        return self


class ActivityData(_Strict):
    steps: Annotated[int, Field(ge=0, le=100_000)] | None = None
    distance: _ranged(0, 500, "Distance", "km") | None = None  # type: ignore[valid-type]
    active_energy: _ranged(0, 20_000, "Active energy", "kcal") | None = None  # type: ignore[valid-type]
    exercise_minutes: _ranged(0, 1440, "Exercise", "minutes") | None = None  # type: ignore[valid-type]
    flights_climbed: Annotated[int, Field(ge=0, le=10_000)] | None = None
    vo2_max: _ranged(10, 100, "VO2 max", "mL/kg/min") | None = None  # type: ignore[valid-type]
    active_minutes: _ranged(0, 1440, "Active time", "minutes") | None = None  # type: ignore[valid-type]
    resting_heart_rate: _ranged(30, 200, "Resting heart rate", "bpm") | None = None  # type: ignore[valid-type]


class MentalHealthData(_Strict):
    mood_score: Literal["very_low", "low", "neutral", "good", "excellent"] | None = None
    stress_level: _ranged(1, 10, "Stress level (1-10)") | None = None  # type: ignore[valid-type]
    anxiety_level: _ranged(1, 10, "Anxiety level (1-10)") | None = None  # type: ignore[valid-type]
    energy_level: _ranged(1, 10, "Energy level (1-10)") | None = None  # type: ignore[valid-type]
    focus_rating: _ranged(1, 10, "Focus rating (1-10)") | None = None  # type: ignore[valid-type]
    social_interaction_minutes: _ranged(0, 1440, "Social interaction", "minutes") | None = None  # type: ignore[valid-type]
    meditation_minutes: _ranged(0, 1440, "Meditation", "minutes") | None = None  # type: ignore[valid-type]
    notes: Annotated[str, Field(max_length=2000)] | None = None
    timestamp: DeviceTime | None = None


# What each metric type needs: (data attribute, fields of which at least one / all must be given).
REQUIRED: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "heart_rate": ("biometric_data", ("heart_rate",), True),
    "heart_rate_variability": ("biometric_data", ("heart_rate_variability",), True),
    "blood_pressure": ("biometric_data", ("blood_pressure_systolic", "blood_pressure_diastolic"), True),
    "blood_oxygen": ("biometric_data", ("oxygen_saturation",), True),
    "respiratory_rate": ("biometric_data", ("respiratory_rate",), True),
    "body_temperature": ("biometric_data", ("body_temperature",), True),
    "blood_glucose": ("biometric_data", ("blood_glucose",), True),
    "sleep_analysis": ("sleep_data", (), False),
    "activity_level": ("activity_data", (), False),
    "stress_indicators": ("mental_health_data", ("stress_level", "anxiety_level"), False),
    "mood_assessment": ("mental_health_data", ("mood_score",), True),
    "cognitive_metrics": ("mental_health_data", ("focus_rating", "energy_level"), False),
    "environmental": ("raw_data", (), False),
}


class HealthMetric(BaseModel):
    model_config = ConfigDict(extra="ignore")

    metric_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    metric_type: MetricType
    biometric_data: BiometricData | None = None
    sleep_data: SleepData | None = None
    activity_data: ActivityData | None = None
    mental_health_data: MentalHealthData | None = None
    device_id: Annotated[str, Field(max_length=200)] | None = None
    raw_data: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    created_at: DeviceTime | None = None

    @model_validator(mode="after")
    def _has_its_data(self) -> HealthMetric:
        attribute, fields, need_all = REQUIRED[self.metric_type]
        data = getattr(self, attribute)
        given = [f for f in fields if data is not None and getattr(data, f) is not None]
        missing = data is None or (fields and (len(given) < len(fields) if need_all else not given))
        if missing:
            wanted = (
                f"{attribute}." + (" and ".join(fields) if need_all else " or ".join(fields)) if fields else attribute
            )
            raise PydanticCustomError(
                "required_for_metric_type",
                "A {metric_type} metric needs {wanted}.",
                {"metric_type": self.metric_type, "wanted": wanted},
            )
        return self

    @property
    def observed_at(self) -> datetime | None:
        """When the value was observed: the sleep start, the mental-health timestamp, else created_at."""
        if self.sleep_data and self.sleep_data.sleep_start:
            return self.sleep_data.sleep_start
        if self.mental_health_data and self.mental_health_data.timestamp:
            return self.mental_health_data.timestamp
        return self.created_at


def metric_fields(metric: HealthMetric) -> dict[str, Any]:
    """A metric as stored (JSON): its type and given data, without empty parts."""
    return metric.model_dump(mode="json", exclude_none=True)
