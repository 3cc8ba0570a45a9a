"""One call that fills the seed's ActigraphyAnalysis shape from a series of activity counts.

``analyze(series)`` returns ``activity_patterns``, ``sleep_metrics``, ``circadian_rhythm``,
``feature_embeddings`` and ``confidence_scores``; every value is documented in docs/health-data.md.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from clinic_app.health_data.analysis.circadian import circadian_metrics
from clinic_app.health_data.analysis.cosinor import cosinor
from clinic_app.health_data.analysis.nights import main_rest_periods, night_metrics
from clinic_app.health_data.analysis.nonwear import nonwear_mask, wear_fraction
from clinic_app.health_data.analysis.sleep import score
from clinic_app.health_data.series import Series, from_points

SEDENTARY_BELOW = 100  # counts per minute (Matthews et al. 2008, ActiGraph); device-dependent
MIN_DAYS_FOR_RHYTHM = 7  # days of recording usually asked for IS/IV (Van Someren et al. 1999)


def _as_series(data, sampling_rate: float) -> Series:
    if isinstance(data, Series):
        return data
    if sampling_rate <= 0:
        raise ValueError("sampling_rate (samples per minute) must be positive")
    points = []
    for point in data:
        if isinstance(point, Mapping):
            moment, value = point["timestamp"], point["value"]
        else:
            moment, value = point
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        points.append((moment, float(value)))
    return from_points(points, timedelta(seconds=60 / sampling_rate))


def _activity_patterns(series: Series, worn: list[float | None]) -> tuple[dict, list[float]]:
    per_minute = 60 / series.epoch_seconds
    days: dict[str, list[float]] = defaultdict(list)
    hours: dict[int, list[float]] = defaultdict(list)
    sedentary = active = 0.0
    for i, value in enumerate(worn):
        if value is None:
            continue
        moment = series.timestamp(i)
        days[moment.date().isoformat()].append(value)
        hours[moment.hour].append(value)
        if value * per_minute < SEDENTARY_BELOW:
            sedentary += series.epoch_seconds / 60
        else:
            active += series.epoch_seconds / 60
    hourly = [math.fsum(hours[h]) / len(hours[h]) if hours[h] else 0.0 for h in range(24)]
    observed = [h for h in range(24) if hours[h]]
    n_days = max(1, len(days))
    patterns = {
        "daily_totals": [
            {"date": day, "total_counts": math.fsum(values), "valid_minutes": len(values) * series.epoch_seconds / 60}
            for day, values in sorted(days.items())
        ],
        "hourly_mean_counts": hourly,
        "most_active_hour": max(observed, key=lambda h: hourly[h]) if observed else None,
        "least_active_hour": min(observed, key=lambda h: hourly[h]) if observed else None,
        "sedentary_minutes_per_day": sedentary / n_days,
        "active_minutes_per_day": active / n_days,
        "sedentary_threshold_counts_per_minute": SEDENTARY_BELOW,
    }
    return patterns, hourly


def analyze(
    data: Series | Iterable,
    *,
    sampling_rate: float = 1.0,
    algorithm: str = "cole_kripke",
    in_bed: list[tuple[datetime, datetime]] | None = None,
) -> dict:
    """Analyse activity counts: a ``Series``, or points ``{timestamp, value}`` / ``(timestamp, value)``.

    ``sampling_rate`` is samples per minute (1.0 = 60-s epochs) and only used for points. Nights use
    the ``in_bed`` intervals when given, else the detected main rest periods.
    """
    series = _as_series(data, sampling_rate)
    mask = nonwear_mask(series.values, epoch_seconds=series.epoch_seconds)
    worn = [None if m else v for v, m in zip(series.values, mask, strict=True)]
    # Sleep is scored on the recorded counts: a still wrist in bed also records long zero runs, so
    # the non-wear mask is reported per night instead of turning those minutes into wake.
    flags = score(
        [0.0 if v is None else v for v in series.values], algorithm, epoch_seconds=round(series.epoch_seconds)
    )
    sleep: list[bool | None] = [None if v is None else f for v, f in zip(series.values, flags, strict=True)]
    if in_bed is None:
        resting = [bool(f) and not m for f, m in zip(sleep, mask, strict=True)]  # non-wear is not a night
        in_bed = main_rest_periods(resting, series.start, series.epoch)
        source = "detected_main_rest_period"
    else:
        source = "given"
    intervals = in_bed
    nights = []
    for begin, end in intervals:
        night = night_metrics(sleep, series.start, series.epoch, begin, end)
        night["nonwear_minutes"] = night_metrics(mask, series.start, series.epoch, begin, end)["total_sleep_minutes"]
        nights.append(night)

    patterns, hourly = _activity_patterns(series, worn)
    peak = max(hourly) if hourly else 0.0
    circadian = circadian_metrics(series)
    circadian["counts"] = circadian_metrics(series, binarized=False)
    circadian["cosinor"] = cosinor(series.timestamps(), worn)
    circadian["binarize_threshold"] = 4
    recording_days = len(series) * series.epoch_seconds / 86400
    wear = wear_fraction(series.values, mask)
    return {
        "activity_patterns": patterns,
        "sleep_metrics": {
            "algorithm": algorithm,
            "in_bed_source": source,
            "nights": nights,
        },
        "circadian_rhythm": circadian,
        "feature_embeddings": [h / peak if peak > 0 else 0.0 for h in hourly],
        "confidence_scores": {
            "valid_wear_fraction": wear,
            "nonwear_minutes": sum(mask) * series.epoch_seconds / 60,
            "recording_days": recording_days,
            "sufficient_days_for_rhythm": recording_days >= MIN_DAYS_FOR_RHYTHM,
        },
    }
