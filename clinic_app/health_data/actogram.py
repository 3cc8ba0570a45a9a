"""The actogram: a recording of activity counts drawn as SVG on the server, double plotted.

Each row shows 48 hours, day N on the left and day N+1 on the right, so the nights sit whole in
the middle of a row and a rhythm that drifts reads as a slanted column. Bars are the mean count
per epoch in short bins (5 minutes; 10 past 16 days, or one epoch when epochs are longer), scaled
so the 95th percentile of the bins is full height (the highest bin when that percentile is 0):
one burst of activity does not flatten the rest, and the few taller bins are cut off. Epochs with
no value, or inside a non-wear run (``analysis.nonwear``), are hatched rather than drawn as zero;
in-bed intervals are shaded behind the bars. Times are the device's wall clock, as ``Series``
keeps them, so nothing moves with the server's or the clinic's time zone.

Pure: no database, no request. The SVG carries ``role="img"``, a ``<title>`` and a ``<desc>``
holding the same text summary as ``Actogram.summary``, for people who cannot see the picture.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from markupsafe import Markup, escape

from clinic_app.health_data.analysis.nonwear import nonwear_mask
from clinic_app.health_data.series import Series

PERCENTILE = 95
MAX_DAYS = 62  # rows drawn at most (the most recent days); an analysis covers 31
LEFT, RIGHT, TOP, BOTTOM = 92, 10, 24, 6  # margins: date labels on the left, hours on top
PLOT_WIDTH = 960  # 48 hours, 20 units an hour
ROW_HEIGHT, BAR_HEIGHT = 34, 28
ACTIVITY, IN_BED, GRID, AXIS, LABEL = "#1f6f8b", "#d6e6f5", "#d9dee7", "#8a94a6", "#3d4657"


@dataclass(frozen=True)
class Actogram:
    svg: Markup
    title: str
    summary: str
    days: int
    bin_minutes: int
    scale: float  # the mean count per epoch a full-height bar stands for
    scale_from: str  # "percentile" or "max"
    in_bed_intervals: int
    no_data_minutes: float


def clip(series: Series, start: datetime | None, end: datetime | None) -> Series:
    """The epochs of ``series`` that begin in [start, end) (either bound may be None)."""
    first = 0 if start is None else max(0, math.ceil((start - series.start) / series.epoch))
    last = len(series) if end is None else min(len(series), math.ceil((end - series.start) / series.epoch))
    if first >= last:
        return Series(series.start + series.epoch * first, series.epoch, [])
    return Series(series.timestamp(first), series.epoch, series.values[first:last])


def in_bed_from_result(result: Mapping[str, Any] | None) -> list[tuple[datetime, datetime]]:
    """The in-bed intervals of an analysis' nights (``sleep_metrics.nights[]``), device clock."""
    intervals = []
    for night in ((result or {}).get("sleep_metrics") or {}).get("nights") or []:
        try:
            start = datetime.fromisoformat(night["in_bed_start"]).replace(tzinfo=None)
            end = datetime.fromisoformat(night["in_bed_end"]).replace(tzinfo=None)
        except (KeyError, TypeError, ValueError):
            continue
        if end > start:
            intervals.append((start, end))
    return intervals


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile with linear interpolation between ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _bin_minutes(epoch_minutes: float, days: int) -> int:
    wanted = max(5 if days <= 16 else 10, epoch_minutes)
    return next(size for size in range(math.ceil(wanted), 1441) if 1440 % size == 0)


def _number(value: float) -> str:
    return f"{round(value, 2):g}"


@dataclass
class _Grid:
    """Mean counts per bin, day by day: a float, ``None`` for no data, absent (outside) when the
    recording does not reach the bin."""

    first_day: date
    days: int
    per_day: int
    cells: list[dict[int, float | None]]


def _grid(series: Series, mask: Sequence[bool], bin_minutes: int) -> _Grid:
    first_day = series.start.date()
    days = (series.timestamp(len(series) - 1).date() - first_day).days + 1
    sums: list[dict[int, float]] = [{} for _ in range(days)]
    counts: list[dict[int, int]] = [{} for _ in range(days)]
    moment = series.start
    for value, masked in zip(series.values, mask, strict=True):
        day, index = (moment.date() - first_day).days, (moment.hour * 60 + moment.minute) // bin_minutes
        sums[day].setdefault(index, 0.0)
        counts[day].setdefault(index, 0)
        if value is not None and not masked:
            sums[day][index] += value
            counts[day][index] += 1
        moment += series.epoch
    cells = [{i: (s[i] / c[i] if c[i] else None) for i in s} for s, c in zip(sums, counts, strict=True)]
    return _Grid(first_day, days, 1440 // bin_minutes, cells)


def _runs(indexes: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive indexes as (first, last + 1) runs."""
    runs: list[tuple[int, int]] = []
    for index in sorted(indexes):
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


def _half(
    grid: _Grid, day: int, x: float, top: float, scale: float, in_bed: Sequence[tuple[datetime, datetime]], hatch: str
) -> list[str]:
    """One day drawn in one half of a row whose bar area starts at ``top``."""
    half = PLOT_WIDTH / 2
    unit = half / grid.per_day
    midnight = datetime.combine(grid.first_day + timedelta(days=day), datetime.min.time())
    parts = []
    for start, end in in_bed:
        begin, finish = max(start, midnight), min(end, midnight + timedelta(days=1))
        if finish > begin:
            left = x + (begin - midnight) / timedelta(days=1) * half
            width = (finish - begin) / timedelta(days=1) * half
            parts.append(
                f'<rect x="{_number(left)}" y="{top}" width="{_number(width)}" height="{BAR_HEIGHT}" fill="{IN_BED}"/>'
            )
    cells = grid.cells[day]
    for first, stop in _runs(i for i, v in cells.items() if v is None):
        parts.append(
            f'<rect x="{_number(x + first * unit)}" y="{top}" width="{_number((stop - first) * unit)}" '
            f'height="{BAR_HEIGHT}" fill="url(#{hatch})"/>'
        )
    heights = {i: round(min(v / scale, 1.0) * BAR_HEIGHT, 1) for i, v in cells.items() if v is not None}
    path = []
    for first, stop in _runs(i for i, h in heights.items() if h > 0):
        path.append(f"M{first} 0" + "".join(f"V{-heights[i]:g}H{i + 1}" for i in range(first, stop)) + "V0Z")
    if path:
        parts.append(
            f'<path transform="translate({_number(x)} {top + BAR_HEIGHT}) scale({unit:.6g} 1)" '
            f'fill="{ACTIVITY}" d="{"".join(path)}"/>'
        )
    baseline = top + BAR_HEIGHT
    parts.append(f'<line x1="{_number(x)}" x2="{_number(x + half)}" y1="{baseline}" y2="{baseline}" stroke="{AXIS}"/>')
    return parts


def _epoch_words(series: Series) -> str:
    seconds = series.epoch_seconds
    return f"{seconds / 60:g}-minute" if seconds % 60 == 0 else f"{seconds:g}-second"


def render_actogram(
    series: Series,
    *,
    in_bed: Sequence[tuple[datetime, datetime]] = (),
    nonwear: Sequence[bool] | None = None,
    label: str = "activity counts",
    id_prefix: str = "actogram",
) -> Actogram:
    """The double-plotted actogram of ``series``. ``nonwear`` marks epochs not worn (computed with
    ``analysis.nonwear`` when not given); ``in_bed`` intervals are shaded. Raises ValueError for an
    empty series."""
    if not series.values:
        raise ValueError("an actogram needs at least one epoch")
    if nonwear is None:
        nonwear = nonwear_mask(series.values, epoch_seconds=series.epoch_seconds)
    end_day = series.timestamp(len(series) - 1).date()
    if (end_day - series.start.date()).days >= MAX_DAYS:
        start = datetime.combine(end_day - timedelta(days=MAX_DAYS - 1), datetime.min.time())
        skip = len(series) - len(clip(series, start, None))
        series, nonwear = clip(series, start, None), list(nonwear)[skip:]
    span_days = (end_day - series.start.date()).days + 1
    bin_minutes = _bin_minutes(series.epoch_seconds / 60, span_days)
    grid = _grid(series, nonwear, bin_minutes)
    means = [v for cells in grid.cells for v in cells.values() if v is not None]
    scale, scale_from = percentile(means, PERCENTILE), "percentile"
    if scale <= 0:
        scale, scale_from = (max(means) if means and max(means) > 0 else 1.0), "max"
    shown = [(s, e) for s, e in in_bed if e > series.start and s < series.end]
    no_data = sum(1 for v, m in zip(series.values, nonwear, strict=True) if v is None or m)
    no_data_minutes = no_data * series.epoch_seconds / 60

    last = series.end
    title = f"Actogram, {series.start:%d %b %Y} to {last:%d %b %Y}"
    scale_words = "the 95th percentile of the bins" if scale_from == "percentile" else "the highest bin"
    summary = (
        f"{grid.days} days of {_epoch_words(series)} {label}, {series.start:%d %b %Y %H:%M} to "
        f"{last:%d %b %Y %H:%M} (the device's clock), double plotted: each row shows one day and the next, "
        f"48 hours. Bars are the mean count per epoch in {bin_minutes}-minute bins; a full bar is "
        f"{scale:,.1f} counts ({scale_words}), higher bins are cut off. "
        f"{len(shown)} in-bed interval{'s' if len(shown) != 1 else ''} shaded. "
        f"{no_data_minutes / 60:,.1f} hours without data or not worn, hatched."
    )
    width, height = LEFT + PLOT_WIDTH + RIGHT, TOP + grid.days * ROW_HEIGHT + BOTTOM
    hatch = f"{id_prefix}-hatch"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="actogram-svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="{id_prefix}-title {id_prefix}-desc" font-family="system-ui, sans-serif">',
        f'<title id="{id_prefix}-title">{escape(title)}</title>',
        f'<desc id="{id_prefix}-desc">{escape(summary)}</desc>',
        f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eef1f5"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{AXIS}" stroke-width="2.5"/></pattern></defs>',
    ]
    bottom = TOP + grid.days * ROW_HEIGHT
    for hour in range(0, 49, 6):
        x = LEFT + hour * PLOT_WIDTH / 48
        colour, anchor = (AXIS, "middle") if hour in (0, 24, 48) else (GRID, "middle")
        anchor = "start" if hour == 0 else "end" if hour == 48 else anchor
        parts.append(f'<line x1="{_number(x)}" x2="{_number(x)}" y1="{TOP - 4}" y2="{bottom}" stroke="{colour}"/>')
        parts.append(
            f'<text x="{_number(x)}" y="{TOP - 8}" font-size="12" fill="{LABEL}" text-anchor="{anchor}">'
            f"{hour % 24:02d}:00</text>"
        )
    for row in range(grid.days):
        top = TOP + row * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT)
        day = grid.first_day + timedelta(days=row)
        parts.append(
            f'<text x="{LEFT - 8}" y="{top + BAR_HEIGHT - 8}" font-size="13" fill="{LABEL}" '
            f'text-anchor="end">{day:%a %d %b}</text>'
        )
        for side in (0, 1):
            if row + side < grid.days:
                x = LEFT + side * PLOT_WIDTH / 2
                parts.extend(_half(grid, row + side, x, top, scale, shown, hatch))
    parts.append("</svg>")
    return Actogram(
        svg=Markup("".join(parts)),  # noqa: S704  (built here from numbers and escaped text)
        title=title,
        summary=summary,
        days=grid.days,
        bin_minutes=bin_minutes,
        scale=scale,
        scale_from=scale_from,
        in_bed_intervals=len(shown),
        no_data_minutes=no_data_minutes,
    )
