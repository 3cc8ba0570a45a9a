"""Non-parametric rest-activity rhythm measures: IS, IV, RA, L5, M10 (Van Someren et al. 1997, 1999).

Computed as pyActigraphy 1.2.2 computes them with its defaults, so the numbers can be checked
against it:

* binarised variant: each epoch becomes 1 if its count is > 4, else 0 (missing stays missing);
* IS and IV use hourly sums: bins of one hour anchored at the first epoch's timestamp (not at the
  top of the hour), each the sum of the epochs it holds; a bin with no valid epoch is missing;
* IS = var(hour-of-day means) / var(hourly values), both sample variances (n - 1), without the
  n/p factor of the textbook formula;
* IV = mean of squared successive differences of the hourly values / var(hourly values) (n - 1);
* L5 and M10 are the lowest 5-hour and highest 10-hour mean of the average 24-hour profile (mean of
  each epoch slot of the day over the days), windows wrapping around midnight; their onsets are the
  clock time of the window's first epoch (the earliest on a tie); RA = (M10 - L5) / (M10 + L5).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, time, timedelta
from itertools import pairwise

from clinic_app.health_data.series import Series

BINARY_THRESHOLD = 4
HOUR = timedelta(hours=1)
DAY_SECONDS = 86400


def binarize(values: list[float | None], threshold: float = BINARY_THRESHOLD) -> list[float | None]:
    """1 where the value is above ``threshold``, 0 where it is not, missing where missing."""
    return [None if v is None else (1.0 if v > threshold else 0.0) for v in values]


def _prepared(series: Series, binarized: bool, threshold: float) -> list[float | None]:
    return binarize(series.values, threshold) if binarized else list(series.values)


def _sample_variance(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = math.fsum(values) / len(values)
    return math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)


def hourly_sums(series: Series, *, binarized: bool = False, threshold: float = BINARY_THRESHOLD):
    """``[(bin start, sum or None)]``: one-hour bins anchored at the first epoch."""
    if series.epoch > HOUR:
        raise ValueError("hourly bins need epochs of one hour or shorter")
    values = _prepared(series, binarized, threshold)
    if not values:
        return []
    n_bins = (series.epoch * (len(values) - 1)) // HOUR + 1
    sums: list[list[float]] = [[] for _ in range(n_bins)]
    for i, value in enumerate(values):
        if value is not None:
            sums[(series.epoch * i) // HOUR].append(value)
    return [(series.start + HOUR * k, math.fsum(s) if s else None) for k, s in enumerate(sums)]


def _is_from_bins(bins: list[tuple[datetime, float | None]]) -> float | None:
    valid = [v for _, v in bins if v is not None]
    total_var = _sample_variance(valid)
    groups: dict[tuple[int, int, int, int], list[float]] = defaultdict(list)
    for moment, value in bins:
        if value is not None:
            groups[(moment.hour, moment.minute, moment.second, moment.microsecond)].append(value)
    hour_means = [math.fsum(g) / len(g) for _, g in sorted(groups.items())]
    profile_var = _sample_variance(hour_means)
    if total_var is None or profile_var is None or total_var == 0:
        return None
    return profile_var / total_var


def _iv_from_bins(bins: list[tuple[datetime, float | None]]) -> float | None:
    valid = [v for _, v in bins if v is not None]
    total_var = _sample_variance(valid)
    diffs = [(b - a) ** 2 for (_, a), (_, b) in pairwise(bins) if a is not None and b is not None]
    if total_var is None or total_var == 0 or not diffs:
        return None
    return (math.fsum(diffs) / len(diffs)) / total_var


def interdaily_stability(series: Series, *, binarized: bool = True, threshold: float = BINARY_THRESHOLD):
    """IS in [0, 1]: how alike the days are (1 = every day identical). ``None`` if undefined."""
    return _is_from_bins(hourly_sums(series, binarized=binarized, threshold=threshold))


def intradaily_variability(series: Series, *, binarized: bool = True, threshold: float = BINARY_THRESHOLD):
    """IV (about 0 to 2): how fragmented the rhythm is hour to hour. ``None`` if undefined."""
    return _iv_from_bins(hourly_sums(series, binarized=binarized, threshold=threshold))


def daily_profile(
    series: Series, *, binarized: bool = True, threshold: float = BINARY_THRESHOLD
) -> list[tuple[time, float]] | None:
    """The average day: ``[(clock time of the slot, mean value)]`` sorted by clock time.

    ``None`` when the epoch does not divide a day or some slot of the day has no valid value
    (a recording shorter than 24 hours, or a slot missing on every day).
    """
    seconds = series.epoch_seconds
    if DAY_SECONDS % seconds:
        return None
    slots_per_day = round(DAY_SECONDS / seconds)
    values = _prepared(series, binarized, threshold)
    sums: dict[time, list[float]] = defaultdict(list)
    for i, value in enumerate(values):
        if value is not None:
            sums[series.timestamp(i).time()].append(value)
    if len(sums) != slots_per_day:
        return None
    return [(slot, math.fsum(v) / len(v)) for slot, v in sorted(sums.items())]


def _extreme_window(profile: list[tuple[time, float]], n: int, lowest: bool) -> tuple[time, float]:
    """The first cyclic window of ``n`` slots with the lowest (highest) mean: (onset, mean)."""
    p = len(profile)
    doubled = [v for _, v in profile] * 2
    prefix = [0.0]
    for v in doubled:
        prefix.append(prefix[-1] + v)
    sums = [prefix[t + n] - prefix[t] for t in range(p)]
    target = min(sums) if lowest else max(sums)
    tolerance = 1e-9 * max(1.0, abs(target))
    start = next(t for t, s in enumerate(sums) if abs(s - target) <= tolerance)
    exact = math.fsum(doubled[start : start + n])
    return profile[start][0], exact / n


def lmx(
    series: Series, hours: float, *, lowest: bool, binarized: bool = True, threshold: float = BINARY_THRESHOLD
) -> tuple[time, float] | None:
    """Onset and mean of the least (``lowest``) or most active ``hours`` of the average day."""
    profile = daily_profile(series, binarized=binarized, threshold=threshold)
    if profile is None:
        return None
    n = round(hours * 3600 / series.epoch_seconds)
    if not 0 < n <= len(profile):
        return None
    return _extreme_window(profile, n, lowest)


def _clock(moment: time | None) -> str | None:
    return None if moment is None else moment.strftime("%H:%M" if moment.second == 0 else "%H:%M:%S")


def circadian_metrics(series: Series, *, binarized: bool = True, threshold: float = BINARY_THRESHOLD) -> dict:
    """IS, IV, RA, L5, M10 and the L5/M10 onsets (``"HH:MM"`` clock times) of one variant."""
    bins = hourly_sums(series, binarized=binarized, threshold=threshold)
    l5 = lmx(series, 5, lowest=True, binarized=binarized, threshold=threshold)
    m10 = lmx(series, 10, lowest=False, binarized=binarized, threshold=threshold)
    ra = None
    if l5 is not None and m10 is not None and (m10[1] + l5[1]) != 0:
        ra = (m10[1] - l5[1]) / (m10[1] + l5[1])
    return {
        "interdaily_stability": _is_from_bins(bins),
        "intradaily_variability": _iv_from_bins(bins),
        "relative_amplitude": ra,
        "l5": None if l5 is None else l5[1],
        "m10": None if m10 is None else m10[1],
        "l5_onset": None if l5 is None else _clock(l5[0]),
        "m10_onset": None if m10 is None else _clock(m10[0]),
    }
