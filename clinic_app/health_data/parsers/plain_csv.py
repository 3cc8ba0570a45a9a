"""A plain ``timestamp,value`` CSV with a header line, read one row at a time.

Timestamps are ISO 8601; a naive one is the device's local time, one with an offset is read in that
offset (its wall clock is kept). Values are finite numbers. Errors name the 1-based line.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from clinic_app.health_data.parsers.errors import ParseError
from clinic_app.health_data.series import Series, from_points, local_clock

HEADER = ["timestamp", "value"]


def iter_points(lines: Iterable[str]) -> Iterator[tuple[datetime, float]]:
    """Yield ``(local wall-clock timestamp, value)`` for every data row."""
    reader = csv.reader(lines)
    seen_header = False
    for row in reader:
        number = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row]
        if not seen_header:
            if [c.lower() for c in cells] != HEADER:
                raise ParseError(number, f"expected the header 'timestamp,value', found {','.join(cells)!r}")
            seen_header = True
            continue
        if len(cells) != 2:
            raise ParseError(number, f"expected 2 columns (timestamp,value), found {len(cells)}")
        try:
            moment = datetime.fromisoformat(cells[0])
        except ValueError:
            raise ParseError(number, f"timestamp {cells[0]!r} is not ISO 8601") from None
        try:
            value = float(cells[1])
        except ValueError:
            raise ParseError(number, f"value {cells[1]!r} is not a number") from None
        if not math.isfinite(value):
            raise ParseError(number, f"value {cells[1]!r} is not a finite number")
        yield local_clock(moment), value
    if not seen_header:
        raise ParseError(1, "the file is empty: expected the header 'timestamp,value'")


def read_plain_csv(lines: Iterable[str], epoch: timedelta | None = None) -> Series:
    """The rows placed on a regular grid (see ``series.from_points``)."""
    points = list(iter_points(lines))
    if not points:
        raise ParseError(2, "no data rows after the header")
    return from_points(points, epoch)


def read_plain_csv_file(path: str | Path, epoch: timedelta | None = None) -> Series:
    with open(path, encoding="utf-8", newline="") as handle:
        return read_plain_csv(handle, epoch)
