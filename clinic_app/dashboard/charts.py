"""Server-rendered SVG charts: no script, no web font, nothing fetched, so they work offline and
print. Each chart is an ``<svg role="img">`` named by its ``<title>`` and summarised by its
``<desc>``; every bar carries its own ``<title>`` (a tooltip, and what a screen reader reads when
exploring it); the page shows the same numbers as a table next to the chart.

Colours are SVG presentation attributes (allowed by the page's content security policy) from a
palette that stays distinguishable for the common colour-vision deficiencies; the legend names
each colour and the table does not depend on colour at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Okabe-Ito colours: distinguishable with protanopia, deuteranopia and tritanopia.
PALETTE = {
    "attended": "#0072B2",
    "did_not_arrive": "#D55E00",
    "cancelled": "#999999",
    "booked": "#56B4E9",
    "new": "#009E73",
    "returning": "#0072B2",
    "type": "#0072B2",
    "invoiced": "#56B4E9",
    "received": "#009E73",
}
AXIS, GRID, TEXT = "#555555", "#dddddd", "#222222"
FONT = 'font-family="system-ui, sans-serif"'


@dataclass(frozen=True)
class Series:
    key: str  # data-series attribute and colour
    label: str  # legend and tooltips
    values: Sequence[int]


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 * 10^n that is at least ``value`` (and at least 1): a round top for
    an axis."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if step * top >= value:
                return step * top
        top *= 10


def _ticks(top: int) -> list[int]:
    """Up to five gridlines from 0 to ``top``, at whole numbers."""
    step = max(1, top // 4) if top >= 4 else 1
    return list(range(0, top + 1, step))


def _heading(chart_id: str, title: str, description: str) -> str:
    return (
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(description)}</desc>'
    )


def _open(chart_id: str, name: str, width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" id="{chart_id}" data-chart="{name}" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">'
    )


def _legend(series: Sequence[Series], x: float, y: float) -> str:
    parts, offset = [], 0.0
    for item in series:
        parts.append(
            f'<g data-legend="{item.key}"><rect x="{x + offset:.1f}" y="{y - 10:.1f}" width="12" height="12" '
            f'fill="{PALETTE[item.key]}"/><text x="{x + offset + 16:.1f}" y="{y:.1f}" font-size="12" fill="{TEXT}" '
            f"{FONT}>{escape(item.label)}</text></g>"
        )
        offset += 24 + 7 * len(item.label)
    return "".join(parts)


def stacked_bars(
    chart_id: str,
    *,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    width: int = 640,
    height: int = 260,
) -> Markup:
    """Vertical bars, one per label, each stacked from ``series`` in order (bottom first)."""
    left, right, top_margin, bottom = 44, 12, 12, 62
    plot_w, plot_h = width - left - right, height - top_margin - bottom
    totals = [sum(item.values[index] for item in series) for index in range(len(labels))]
    top = nice_ceiling(max(totals, default=0))
    scale = plot_h / top
    slot = plot_w / max(1, len(labels))
    bar_w = slot * 0.62
    out = [_open(chart_id, chart_id, width, height), _heading(chart_id, title, description)]
    out.append('<g aria-hidden="true">')
    for tick in _ticks(top):
        y = top_margin + plot_h - tick * scale
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="{AXIS}" {FONT}>{tick}</text>'
        )
    out.append("</g>")
    for index, label in enumerate(labels):
        x = left + slot * index + (slot - bar_w) / 2
        base = top_margin + plot_h
        out.append(f'<g data-bar="{index}">')
        for item in series:
            value = item.values[index]
            if value <= 0:
                continue
            h = value * scale
            base -= h
            out.append(
                f'<rect data-series="{item.key}" data-value="{value}" x="{x:.1f}" y="{base:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}" fill="{PALETTE[item.key]}">'
                f"<title>{escape(label)}: {value} {escape(item.label.lower())}</title></rect>"
            )
        out.append("</g>")
        if len(labels) <= 12 or index % 2 == 0:
            out.append(
                f'<text aria-hidden="true" x="{x + bar_w / 2:.1f}" y="{top_margin + plot_h + 16}" font-size="11" '
                f'text-anchor="middle" fill="{AXIS}" {FONT}>{escape(label)}</text>'
            )
    out.append(
        f'<line aria-hidden="true" x1="{left}" x2="{width - right}" y1="{top_margin + plot_h}" '
        f'y2="{top_margin + plot_h}" stroke="{AXIS}" stroke-width="1"/>'
    )
    out.append(f'<g aria-hidden="true">{_legend(series, left, height - 12)}</g>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every text and label above is escaped)


def grouped_bars(
    chart_id: str,
    *,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    width: int = 640,
    height: int = 260,
) -> Markup:
    """Vertical bars side by side, one group per label and one bar per series in each (for amounts
    that must not add up, such as invoiced and received)."""
    left, right, top_margin, bottom = 56, 12, 12, 62
    plot_w, plot_h = width - left - right, height - top_margin - bottom
    top = nice_ceiling(max((value for item in series for value in item.values), default=0))
    scale = plot_h / top
    slot = plot_w / max(1, len(labels))
    bar_w = slot * 0.7 / max(1, len(series))
    out = [_open(chart_id, chart_id, width, height), _heading(chart_id, title, description), '<g aria-hidden="true">']
    for tick in _ticks(top):
        y = top_margin + plot_h - tick * scale
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="{AXIS}" {FONT}>{tick}</text>'
        )
    out.append("</g>")
    for index, label in enumerate(labels):
        x = left + slot * index + slot * 0.15
        out.append(f'<g data-bar="{index}">')
        for position, item in enumerate(series):
            value = item.values[index]
            h = max(0, value) * scale
            out.append(
                f'<rect data-series="{item.key}" data-value="{value}" x="{x + position * bar_w:.1f}" '
                f'y="{top_margin + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{PALETTE[item.key]}">'
                f"<title>{escape(label)}: {value} {escape(item.label.lower())}</title></rect>"
            )
        out.append("</g>")
        out.append(
            f'<text aria-hidden="true" x="{x + bar_w * len(series) / 2:.1f}" y="{top_margin + plot_h + 16}" '
            f'font-size="11" text-anchor="middle" fill="{AXIS}" {FONT}>{escape(label)}</text>'
        )
    out.append(f'<g aria-hidden="true">{_legend(series, left, height - 12)}</g>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every text and label above is escaped)


def horizontal_bars(
    chart_id: str,
    *,
    title: str,
    description: str,
    labels: Sequence[str],
    values: Sequence[int],
    width: int = 640,
    row_height: int = 28,
) -> Markup:
    """One horizontal bar per label, longest scale first as given."""
    label_w, right, top_margin = 190, 48, 8
    height = top_margin * 2 + row_height * max(1, len(labels))
    plot_w = width - label_w - right
    top = nice_ceiling(max(values, default=0))
    out = [_open(chart_id, chart_id, width, height), _heading(chart_id, title, description)]
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top_margin + row_height * index
        bar = plot_w * value / top
        shown = label if len(label) <= 28 else label[:27] + "…"
        out.append(
            f'<g data-bar="{index}"><text aria-hidden="true" x="{label_w - 8}" y="{y + row_height * 0.62:.1f}" '
            f'font-size="12" text-anchor="end" fill="{TEXT}" {FONT}>{escape(shown)}</text>'
            f'<rect data-series="type" data-value="{value}" x="{label_w}" y="{y + 4:.1f}" width="{bar:.1f}" '
            f'height="{row_height - 8}" fill="{PALETTE["type"]}"><title>{escape(label)}: {value}</title></rect>'
            f'<text aria-hidden="true" x="{label_w + bar + 6:.1f}" y="{y + row_height * 0.62:.1f}" font-size="12" '
            f'fill="{TEXT}" {FONT}>{value}</text></g>'
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every text and label above is escaped)
