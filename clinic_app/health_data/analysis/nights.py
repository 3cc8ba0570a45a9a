"""Per-night sleep measures from scored epochs and an in-bed interval, and main rest period detection.

Within the in-bed interval [start, end): an epoch is sleep only if it was scored sleep (a missing or
non-wear epoch counts as not asleep).

* total_sleep_minutes: sleep epochs x epoch length;
* sleep_onset_latency_minutes: in-bed start to the start of the first sleep epoch;
* waso_minutes: wake epochs between the first and the last sleep epoch;
* awakenings: wake bouts (runs of consecutive wake epochs) between the first and last sleep epoch;
* sleep_efficiency: total sleep / time in bed.

Without an in-bed interval, ``main_rest_periods`` detects one main rest period per noon-to-noon
day window from the scored epochs alone (see its docstring and docs/health-data.md, "Nights").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, time, timedelta

# Main rest period detection. The smoothing, run and gap lengths are those of the sleep period
# window heuristic of van Hees et al. 2018 (HDCZA, Sci Rep 8:12975): a 5-minute rolling median,
# blocks of sustained rest of at least 30 minutes, joined across gaps shorter than 60 minutes. Every
# sleep-scored epoch used to start a block, so a quiet afternoon with a sleep-scored minute every
# half hour chained up to the night; the median keeps the brief wake flags of a fragmented night
# (Oakley, Sadeh) from breaking its runs.
SMOOTHING_MINUTES = 5
SUSTAINED_MINUTES = 30
BRIDGE_MINUTES = 60
# Our own floor: a shorter block is a nap, not the night.
MIN_REST_MINUTES = 180
# The block must overlap the clock window of this many hours most often scored asleep over the
# whole recording (the sleep analogue of L5; GGIR falls back on a window around L5 in the same
# way), so an afternoon doze on a day whose night is missing is not taken for that night.
HABITUAL_REST_HOURS = 5
DAY_BOUNDARY = time(12, 0)
DAY_MINUTES = 24 * 60


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


def _day_windows(count: int, start: datetime, epoch: timedelta) -> list[tuple[int, int]]:
    """Index ranges ``[first, end)`` of the epochs starting in each noon-to-noon window."""
    anchor = datetime.combine(start.date(), DAY_BOUNDARY)
    if start < anchor:
        anchor -= timedelta(days=1)
    windows = []
    first = 0
    while first < count:
        anchor += timedelta(days=1)
        end = min(count, -((start - anchor) // epoch))  # epochs starting before the next noon
        if end > first:
            windows.append((first, end))
        first = max(first, end)
    return windows


def _minute_of_day(start: datetime, epoch: timedelta, index: int) -> float:
    midnight = datetime.combine(start.date(), time(0, 0))
    return ((start - midnight).total_seconds() + index * epoch.total_seconds()) / 60 % DAY_MINUTES


def habitual_rest_window(sleep: Sequence[bool | None], start: datetime, epoch: timedelta) -> int | None:
    """The minute of the day (0-1439) that starts the ``HABITUAL_REST_HOURS`` clock window with the
    highest share of epochs scored asleep over the recording (on a tie, the first from midnight);
    None without any sleep. Each clock minute's share counts the epochs observed then (not None)."""
    per_epoch = max(1, round(epoch.total_seconds() / 60))  # clock minutes an epoch covers
    asleep = [0] * DAY_MINUTES
    observed = [0] * DAY_MINUTES
    for i, flag in enumerate(sleep):
        if flag is None:
            continue
        minute = int(_minute_of_day(start, epoch, i))
        for slot in range(minute, minute + per_epoch):
            observed[slot % DAY_MINUTES] += 1
            asleep[slot % DAY_MINUTES] += bool(flag)
    if not any(asleep):
        return None
    share = [a / o if o else 0.0 for a, o in zip(asleep, observed, strict=True)]
    width = HABITUAL_REST_HOURS * 60
    total = math.fsum(share[:width])
    best, best_total = 0, total
    for onset in range(1, DAY_MINUTES):
        total += share[(onset + width - 1) % DAY_MINUTES] - share[onset - 1]
        if total > best_total + 1e-9:
            best, best_total = onset, total
    return best


def _overlaps_clock_window(begin: float, length: float, onset: int, width: float) -> bool:
    """Whether the clock span ``[begin, begin + length)`` (minutes of the day) meets the cyclic
    window ``[onset, onset + width)``."""
    if length >= DAY_MINUTES:
        return True
    return any(
        max(begin, onset + shift) < min(begin + length, onset + shift + width)
        for shift in (-DAY_MINUTES, 0, DAY_MINUTES)
    )


def smoothed_rest(sleep: Sequence[bool | None], epoch: timedelta) -> list[bool]:
    """The rolling median of the sleep flags over ``SMOOTHING_MINUTES`` (an odd number of epochs,
    centred, truncated at the ends): True where most epochs around are scored asleep."""
    width = max(1, round(SMOOTHING_MINUTES * 60 / epoch.total_seconds()))
    half = width // 2
    running = [0]
    for flag in sleep:
        running.append(running[-1] + bool(flag))
    count = len(sleep)
    result = []
    for i in range(count):
        low, high = max(0, i - half), min(count, i + half + 1)
        result.append(2 * (running[high] - running[low]) > high - low)
    return result


def _rest_blocks(rest: Sequence[bool], first: int, end: int, sustained: float, bridge: int) -> list[list[int]]:
    """Runs of rest in ``[first, end)`` lasting at least ``sustained`` epochs, joined across gaps of
    fewer than ``bridge`` epochs, as half-open index ranges ``[begin, stop)``."""
    blocks: list[list[int]] = []
    i = first
    while i < end:
        if not rest[i]:
            i += 1
            continue
        run_end = i
        while run_end < end and rest[run_end]:
            run_end += 1
        if run_end - i >= sustained:
            if blocks and i - blocks[-1][1] < bridge:
                blocks[-1][1] = run_end
            else:
                blocks.append([i, run_end])
        i = run_end
    return blocks


def main_rest_periods(
    sleep: Sequence[bool | None], start: datetime, epoch: timedelta
) -> list[tuple[datetime, datetime]]:
    """Detected in-bed intervals ``[(start, end)]``, at most one per noon-to-noon day window.

    In each window (local clock), runs of ``smoothed_rest`` lasting at least ``SUSTAINED_MINUTES``
    are joined across gaps shorter than ``BRIDGE_MINUTES``; of the joined blocks lasting
    ``MIN_REST_MINUTES`` or more and overlapping the habitual rest window (``habitual_rest_window``),
    the longest (the earliest on a tie) is the window's main rest period, from its first to its last
    sleep-scored epoch. A window with no such block has no night. A missing (None) epoch is not
    asleep.
    """
    seconds = epoch.total_seconds()
    onset = habitual_rest_window(sleep, start, epoch)
    if onset is None:
        return []
    rest = smoothed_rest(sleep, epoch)
    sustained = SUSTAINED_MINUTES * 60 / seconds
    bridge = max(1, round(BRIDGE_MINUTES * 60 / seconds))
    minimum = MIN_REST_MINUTES * 60 / seconds
    habitual_width = HABITUAL_REST_HOURS * 60
    periods = []
    for first, end in _day_windows(len(sleep), start, epoch):
        fitting = [
            (begin, stop)
            for begin, stop in _rest_blocks(rest, first, end, sustained, bridge)
            if stop - begin >= minimum
            and _overlaps_clock_window(
                _minute_of_day(start, epoch, begin), (stop - begin) * seconds / 60, onset, habitual_width
            )
        ]
        if not fitting:
            continue
        begin, stop = max(fitting, key=lambda block: block[1] - block[0])
        asleep = [i for i in range(begin, stop) if sleep[i]]
        if asleep:  # in bed from the first to the last sleep epoch: no latency by construction
            periods.append((start + epoch * asleep[0], start + epoch * (asleep[-1] + 1)))
    return periods
