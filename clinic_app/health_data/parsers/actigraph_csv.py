"""ActiGraph epoch CSV files as ActiLife exports them, read one line at a time.

A 10-line header, then an optional column line, then one epoch per line::

    ------------ Data File Created By ActiGraph GT3X+ ActiLife v6.13.3 Firmware v2.5.0 date format M/d/yyyy ...
    Serial Number: NEO1F18120387
    Start Time 00:00:00
    Start Date 5/7/2012
    Epoch Period (hh:mm:ss) 00:01:00
    Download Time 11:24:32
    Download Date 5/14/2012
    Current Memory Address: 0
    Current Battery Voltage: 4.22     Mode = 61
    --------------------------------------------------
    Axis1,Axis2,Axis3,Steps,Lux,Inclinometer Off,Inclinometer Standing,Inclinometer Sitting,Inclinometer Lying
    120,30,22,4,0,0,60,0,0

The start date follows the banner's ``date format`` (``M/d/yyyy`` when it names none). Without a
column line the columns are Axis1, Axis2, Axis3, Steps, ... in that order. ``Date``/``Time`` columns,
when present, are ignored: epoch i starts at start + i epochs, the device's local clock. The series
holds Axis1 (vertical) counts, or the vector magnitude: the ``Vector Magnitude`` column if there is one,
else sqrt(Axis1² + Axis2² + Axis3²).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from clinic_app.health_data.parsers.errors import ParseError
from clinic_app.health_data.series import Series

HEADER_LINES = 10
BANNER = "------------ Data File Created By ActiGraph"
DEFAULT_COLUMNS = [
    "Axis1",
    "Axis2",
    "Axis3",
    "Steps",
    "Lux",
    "Inclinometer Off",
    "Inclinometer Standing",
    "Inclinometer Sitting",
    "Inclinometer Lying",
]
MEASURES = ("axis1", "vector_magnitude")
# header field: (the line it sits on in ActiLife's layout, its prefix)
FIELDS = {
    "start_time": (3, "Start Time"),
    "start_date": (4, "Start Date"),
    "epoch": (5, "Epoch Period (hh:mm:ss)"),
}

_DATE_FORMAT = re.compile(r"date format\s+([dMy]+)([/.-])([dMy]+)\2([dMy]+)", re.IGNORECASE)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})")


@dataclass
class ActigraphRecording:
    serial: str
    columns: list[str]
    measure: str
    series: Series
    steps: list[float] | None = None


def _date_order(banner: str) -> tuple[str, str, str]:
    """The order of day, month and year in the start date, from the banner's ``date format``."""
    match = _DATE_FORMAT.search(banner)
    if match is None:
        return ("M", "d", "y")
    order = tuple(part[0] for part in (match.group(1), match.group(3), match.group(4)))
    if sorted(order) != ["M", "d", "y"]:
        raise ParseError(1, f"unreadable date format in {banner.strip()!r}")
    return order[0], order[1], order[2]


def _clock(text: str, number: int, name: str) -> time:
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise ParseError(number, f"{name} {text!r} is not HH:MM:SS")
    hours, minutes, seconds = (int(part) for part in match.groups())
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ParseError(number, f"{name} {text!r} is not a time of day")
    return time(hours, minutes, seconds)


def _start_date(text: str, number: int, order: tuple[str, str, str]) -> date:
    parts = re.split(r"[/.-]", text)
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise ParseError(number, f"start date {text!r} does not follow the date format {'/'.join(order)}")
    fields = dict(zip(order, (int(part) for part in parts), strict=True))
    try:
        return date(fields["y"], fields["M"], fields["d"])
    except ValueError:
        raise ParseError(number, f"start date {text!r} is not a real date") from None


def _header_field(header: list[str], name: str) -> tuple[str, int]:
    """The text after a field's prefix and its line number (it may sit on any header line)."""
    usual, prefix = FIELDS[name]
    for number, text in enumerate(header, start=1):
        if text.startswith(prefix):
            return text[len(prefix) :].strip(), number
    raise ParseError(usual, f"the header has no {prefix!r} line")


def _parse_header(header: list[str]) -> tuple[datetime, timedelta, str]:
    order = _date_order(header[0])
    if not header[-1].startswith("---"):
        raise ParseError(HEADER_LINES, f"expected the dashed line that ends the header, found {header[-1]!r}")
    time_text, time_line = _header_field(header, "start_time")
    date_text, date_line = _header_field(header, "start_date")
    epoch_text, epoch_line = _header_field(header, "epoch")
    start = datetime.combine(_start_date(date_text, date_line, order), _clock(time_text, time_line, "start time"))
    period = _clock(epoch_text, epoch_line, "epoch period")
    epoch = timedelta(hours=period.hour, minutes=period.minute, seconds=period.second)
    if epoch <= timedelta(0):
        raise ParseError(epoch_line, "the epoch period must be longer than zero")
    serial = next((t.split(":", 1)[1].strip() for t in header if t.startswith("Serial Number:")), "")
    return start, epoch, serial


def _number(cell: str, number: int, column: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise ParseError(number, f"{column} value {cell!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ParseError(number, f"{column} value {cell!r} is not a count (a finite number >= 0)")
    return value


def _columns(cells: list[str], number: int) -> list[str]:
    if "Axis1" not in cells:
        raise ParseError(number, f"the column line has no Axis1 column: {','.join(cells)!r}")
    return cells


def read_actigraph_csv(lines: Iterable[str], measure: str = "axis1") -> ActigraphRecording:
    """Parse an ActiLife epoch CSV given as an iterable of text lines (read one line at a time)."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}")
    header: list[str] = []
    columns: list[str] | None = None
    index: dict[str, int] = {}
    values: list[float | None] = []
    steps: list[float] = []
    number = 0
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if number <= HEADER_LINES:
            if number == 1 and not text.startswith(BANNER):
                raise ParseError(1, f"not an ActiGraph epoch CSV: expected a line starting {BANNER!r}")
            header.append(text.strip())
            if number == HEADER_LINES:
                _parse_header(header)
            continue
        if not text.strip():
            continue
        cells = [cell.strip().strip('"') for cell in text.split(",")]
        if columns is None:
            has_names = not _is_number(cells[0])
            columns = _columns(cells, number) if has_names else DEFAULT_COLUMNS[: len(cells)]
            index = {name: i for i, name in enumerate(columns)}
            if measure == "vector_magnitude" and "Vector Magnitude" not in index and "Axis3" not in index:
                raise ParseError(number, "the vector magnitude needs a Vector Magnitude column or Axis1-Axis3")
            if has_names:
                continue
        if len(cells) != len(columns):
            raise ParseError(number, f"expected {len(columns)} columns, found {len(cells)}")
        values.append(_measure(cells, index, number, measure))
        if "Steps" in index:
            steps.append(_number(cells[index["Steps"]], number, "Steps"))
    if number < HEADER_LINES:
        raise ParseError(number + 1, f"the header ends early: an ActiGraph header has {HEADER_LINES} lines")
    if not values:
        raise ParseError(number + 1, "no epochs after the header")
    start, epoch, serial = _parse_header(header)
    return ActigraphRecording(
        serial=serial,
        columns=list(columns or []),
        measure=measure,
        series=Series(start, epoch, values),
        steps=steps if "Steps" in index else None,
    )


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _measure(cells: list[str], index: dict[str, int], number: int, measure: str) -> float:
    if measure == "axis1":
        return _number(cells[index["Axis1"]], number, "Axis1")
    if "Vector Magnitude" in index:
        return _number(cells[index["Vector Magnitude"]], number, "Vector Magnitude")
    axes = [_number(cells[index[name]], number, name) for name in ("Axis1", "Axis2", "Axis3")]
    return math.sqrt(sum(a * a for a in axes))


def read_actigraph_csv_file(path: str | Path, measure: str = "axis1") -> ActigraphRecording:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return read_actigraph_csv(handle, measure)
