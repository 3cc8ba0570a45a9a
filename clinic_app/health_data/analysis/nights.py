"""Per-night sleep measures from scored epochs and an in-bed interval, and main rest period detection.

Within the in-bed interval [start, end): an epoch is sleep only if it was scored sleep (a missing or
non-wear epoch counts as not asleep).

* total_sleep_minutes: sleep epochs x epoch length;
* sleep_onset_latency_minutes: in-bed start to the start of the first sleep epoch;
* waso_minutes: wake epochs between the first and the last sleep epoch;
* awakenings: wake bouts (runs of consecutive wake epochs) between the first and last sleep epoch;
* sleep_efficiency: total sleep / time in bed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta

# Main rest period: in each noon-to-noon window, sleep epochs joined across wake gaps shorter than
# BRIDGE_MINUTES; the longest such block of at least MIN_REST_MINUTES is the night.
BRIDGE_MINUTES = 60
MIN_REST_MINUTES = 180
DAY_BOUNDARY = time(12, 0)


def night_metrics(
    sleep: Sequence[bool | None], start: datetime, epoch: timedelta, in_bed_start: datetime, in_bed_end: datetime
) -> dict:
    """The measures of one night; ``sleep`` is one flag per epoch of a series starting at ``start``."""
    if in_bed_end <= in_bed_start:
        raise ValueError("the in-bed interval must end after it starts")
    minutes = epoch.total_seconds() / 60
    first = max(0, -((start - in_bed_start) // epoch))  # first epoch starting at or after in-bed start
    last = min(len(sleep), -((start - in_bed_end) // epoch))  # epochs starting before in-bed end
    flags = [bool(sleep[i]) for i in range(first, last)]
    time_in_bed = (in_bed_end - in_bed_start).total_seconds() / 60
    asleep = [i for i, s in enumerate(flags) if s]
    result = {
        "in_bed_start": in_bed_start.isoformat(),
        "in_bed_end": in_bed_end.isoformat(),
        "time_in_bed_minutes": time_in_bed,
        "total_sleep_minutes": len(asleep) * minutes,
        "sleep_onset_latency_minutes": None,
        "waso_minutes": 0.0,
        "awakenings": 0,
        "sleep_efficiency": (len(asleep) * minutes) / time_in_bed,
    }
    if not asleep:
        return result
    onset = start + epoch * (first + asleep[0])
    result["sleep_onset_latency_minutes"] = (onset - in_bed_start).total_seconds() / 60
    span = flags[asleep[0] : asleep[-1] + 1]
    result["waso_minutes"] = sum(1 for s in span if not s) * minutes
    result["awakenings"] = sum(1 for i, s in enumerate(span) if not s and span[i - 1])
    return result


def main_rest_periods(
    sleep: Sequence[bool | None], start: datetime, epoch: timedelta
) -> list[tuple[datetime, datetime]]:
    """Detected in-bed intervals ``[(start, end)]``, at most one per noon-to-noon day window."""
    bridge = max(1, round(BRIDGE_MINUTES * 60 / epoch.total_seconds()))
    minimum = MIN_REST_MINUTES * 60 / epoch.total_seconds()
    windows: dict[datetime, list[int]] = {}
    for i, flag in enumerate(sleep):
        if not flag:
            continue
        moment = start + epoch * i
        anchor = datetime.combine(moment.date(), DAY_BOUNDARY)
        if moment < anchor:
            anchor -= timedelta(days=1)
        windows.setdefault(anchor, []).append(i)
    periods = []
    for _, indices in sorted(windows.items()):
        blocks: list[list[int]] = [[indices[0], indices[0]]]
        for i in indices[1:]:
            if i - blocks[-1][1] - 1 < bridge:
                blocks[-1][1] = i
            else:
                blocks.append([i, i])
        best = max(blocks, key=lambda b: b[1] - b[0])
        if best[1] - best[0] + 1 >= minimum:
            periods.append((start + epoch * best[0], start + epoch * (best[1] + 1)))
    return periods
