"""A regular activity series: a start time, an epoch length and one value per epoch.

Timestamps keep the wall clock they were recorded in: a naive timestamp is the device's local time,
and one with a UTC offset is read in that offset (the offset is dropped, the clock time kept), so
hour-of-day metrics never move with the server's time zone. A value of ``None`` is a missing or
masked epoch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise


def local_clock(moment: datetime) -> datetime:
    """The wall-clock time ``moment`` was recorded in, as a naive datetime."""
    return moment.replace(tzinfo=None)


@dataclass(frozen=True)
class Series:
    start: datetime
    epoch: timedelta
    values: list[float | None]

    def __post_init__(self) -> None:
        if self.epoch <= timedelta(0):
            raise ValueError("the epoch length must be positive")
        if self.start.tzinfo is not None:
            object.__setattr__(self, "start", local_clock(self.start))

    def __len__(self) -> int:
        return len(self.values)

    @property
    def epoch_seconds(self) -> float:
        return self.epoch.total_seconds()

    @property
    def end(self) -> datetime:
        """The end of the last epoch."""
        return self.start + self.epoch * len(self.values)

    def timestamp(self, index: int) -> datetime:
        return self.start + self.epoch * index

    def timestamps(self) -> list[datetime]:
        return [self.start + self.epoch * i for i in range(len(self.values))]

    def with_values(self, values: list[float | None]) -> Series:
        if len(values) != len(self.values):
            raise ValueError("a series keeps its length")
        return Series(self.start, self.epoch, values)

    def masked(self, mask: list[bool]) -> Series:
        """The series with every epoch where ``mask`` is true set to missing."""
        return self.with_values([None if m else v for v, m in zip(self.values, mask, strict=True)])


def infer_epoch(times: list[datetime]) -> timedelta:
    """The most common positive step between consecutive timestamps (the shortest on a tie)."""
    steps = Counter(b - a for a, b in pairwise(times) if b > a)
    if not steps:
        raise ValueError("at least two distinct timestamps are needed to infer the epoch length")
    best = max(steps.values())
    return min(step for step, count in steps.items() if count == best)


def from_points(points: Iterable[tuple[datetime, float]], epoch: timedelta | None = None) -> Series:
    """Place ``(timestamp, value)`` points on a regular grid that starts at the earliest timestamp.

    Each point falls in the epoch containing it; points sharing an epoch are summed; epochs with no
    point are missing (``None``). Without ``epoch`` the length is inferred from the timestamps.
    """
    pairs = sorted((local_clock(t), float(v)) for t, v in points)
    if not pairs:
        raise ValueError("a series needs at least one data point")
    if epoch is None:
        epoch = infer_epoch([t for t, _ in pairs])
    start = pairs[0][0]
    n = (pairs[-1][0] - start) // epoch + 1
    values: list[float | None] = [None] * n
    for moment, value in pairs:
        index = (moment - start) // epoch
        current = values[index]
        values[index] = value if current is None else current + value
    return Series(start, epoch, values)
