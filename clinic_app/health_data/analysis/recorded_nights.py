"""Nights from recorded sleep intervals (Apple Health's sleep analysis: in-bed and asleep records),
with the same measures ``nights.night_metrics`` computes from scored epochs.

Intervals are merged first (a phone and a watch recording the same night, stages inside an in-bed
span), so no minute counts twice. A night is everything whose interval starts in the same
noon-to-noon window. Within it:

* in bed: from the earliest in-bed start to the latest in-bed end (the asleep span when the night
  has no in-bed record); asleep intervals are clipped to it;
* total_sleep_minutes: the asleep minutes;
* sleep_onset_latency_minutes: in-bed start to the first asleep minute;
* waso_minutes: minutes not asleep between the first and the last asleep minute;
* awakenings: the gaps between asleep intervals;
* sleep_efficiency: total sleep / time in bed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

Interval = tuple[datetime, datetime]


def merge(intervals: list[Interval]) -> list[Interval]:
    """Sorted intervals with overlapping or touching ones joined."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _night_of(moment: datetime) -> date:
    return (moment - timedelta(hours=12)).date()


def _minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def recorded_nights(in_bed: list[Interval], asleep: list[Interval]) -> list[dict]:
    """One dict per night, oldest first (keys as ``nights.night_metrics`` plus ``night``)."""
    beds: dict[date, list[Interval]] = defaultdict(list)
    sleeps: dict[date, list[Interval]] = defaultdict(list)
    for interval in merge(in_bed):
        beds[_night_of(interval[0])].append(interval)
    for interval in merge(asleep):
        sleeps[_night_of(interval[0])].append(interval)
    nights = []
    for night in sorted(beds.keys() | sleeps.keys()):
        bed, slept = beds.get(night, []), sleeps.get(night, [])
        span = bed or slept
        start, end = span[0][0], max(e for _, e in span)
        clipped = [(max(s, start), min(e, end)) for s, e in slept if e > start and s < end]
        total = sum(_minutes(e - s) for s, e in clipped)
        time_in_bed = _minutes(end - start)
        result = {
            "night": night.isoformat(),
            "in_bed_start": start.isoformat(),
            "in_bed_end": end.isoformat(),
            "time_in_bed_minutes": time_in_bed,
            "total_sleep_minutes": total,
            "sleep_onset_latency_minutes": None,
            "waso_minutes": 0.0,
            "awakenings": 0,
            "sleep_efficiency": total / time_in_bed if time_in_bed > 0 else None,
        }
        if clipped:
            result["sleep_onset_latency_minutes"] = _minutes(clipped[0][0] - start)
            result["waso_minutes"] = _minutes(clipped[-1][1] - clipped[0][0]) - total
            result["awakenings"] = len(clipped) - 1
        nights.append(result)
    return nights
