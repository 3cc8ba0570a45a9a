"""Actiwatch ``.AWD`` files (Cambridge Neurotechnology / Philips Respironics Actiwatch).

Layout, as pyActigraphy's reader and the files themselves show it: a 7-line header, then one epoch
per line.

====  ==========================================================
line  header field
====  ==========================================================
1     subject name (PHI: kept in the result, never logged)
2     start date, ``23-Jan-1918``
3     start time, ``13:58``
4     epoch code: 1 = 15 s, 2 = 30 s, 4 = 1 min, 8 = 2 min, 20 = 5 min, 81 = 2 s, C1 = 5 s, C2 = 10 s
5     age
6     device serial; its first letter is the model (V = Actiwatch-4, L = Actiwatch-L, ...)
7     sex / spare field
====  ==========================================================

Each data line is an activity count, optionally followed by ``, <light>`` (light-sensing models)
and/or a marker ``M`` (event button). The timestamps are the device's local clock: start + i epochs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from clinic_app.health_data.parsers.errors import ParseError
from clinic_app.health_data.series import Series

HEADER_LINES = 7
EPOCH_CODES: dict[str, timedelta] = {
    "1": timedelta(seconds=15),
    "2": timedelta(seconds=30),
    "4": timedelta(minutes=1),
    "8": timedelta(minutes=2),
    "20": timedelta(minutes=5),
    "81": timedelta(seconds=2),
    "C1": timedelta(seconds=5),
    "C2": timedelta(seconds=10),
}
DATE_FORMATS = ("%d-%b-%Y", "%d-%b-%y", "%Y-%m-%d", "%d/%m/%Y")
TIME_FORMATS = ("%H:%M", "%H:%M:%S")


@dataclass
class AwdRecording:
    subject: str
    serial: str
    age: str
    series: Series
    markers: list[int] = field(default_factory=list)  # epoch indices with an event marker
    light: list[float] | None = None


def _parse_start(date_text: str, time_text: str) -> datetime:
    for date_format in DATE_FORMATS:
        for time_format in TIME_FORMATS:
            try:
                return datetime.strptime(f"{date_text} {time_text}", f"{date_format} {time_format}")
            except ValueError:
                continue
    raise ValueError(f"unreadable start date/time {date_text!r} {time_text!r}")


def _parse_row(text: str, number: int) -> tuple[int, float | None, bool]:
    """``(count, light or None, marker)`` of one data line."""
    parts = text.replace(",", " , ").split()
    marker = bool(parts) and parts[-1].upper() == "M"
    if marker:
        parts = parts[:-1]
    light = None
    if "," in parts:
        if len(parts) != 3 or parts[1] != ",":
            raise ParseError(number, f"expected '<count> , <light>', found {text.strip()!r}")
        try:
            light = float(parts[2])
        except ValueError:
            raise ParseError(number, f"light value {parts[2]!r} is not a number") from None
        parts = parts[:1]
    if len(parts) != 1:
        raise ParseError(number, f"expected one activity count, found {text.strip()!r}")
    try:
        count = int(parts[0])
    except ValueError:
        raise ParseError(number, f"activity count {parts[0]!r} is not a whole number") from None
    if count < 0:
        raise ParseError(number, f"activity count {count} is negative")
    return count, light, marker


def read_awd(lines: Iterable[str]) -> AwdRecording:
    """Parse an AWD file given as an iterable of text lines (read one line at a time)."""
    header: list[str] = []
    counts: list[float | None] = []
    light: list[float] = []
    markers: list[int] = []
    number = 0
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if number <= HEADER_LINES:
            header.append(text.strip())
            if number == 4 and header[3] not in EPOCH_CODES:
                raise ParseError(4, f"unknown epoch code {header[3]!r} (known: {', '.join(EPOCH_CODES)})")
            if number == 3:
                try:
                    _parse_start(header[1], header[2])
                except ValueError as error:
                    raise ParseError(3, str(error)) from None
            continue
        if not text.strip():
            continue
        count, light_value, marker = _parse_row(text, number)
        if light_value is not None:
            if len(light) != len(counts):
                raise ParseError(number, "light values appear on some lines but not on others")
            light.append(light_value)
        elif light:
            raise ParseError(number, "light values appear on some lines but not on others")
        if marker:
            markers.append(len(counts))
        counts.append(float(count))
    if number < HEADER_LINES:
        raise ParseError(number + 1, f"the header ends early: an AWD header has {HEADER_LINES} lines")
    if not counts:
        raise ParseError(number + 1, "no activity counts after the header")
    start = _parse_start(header[1], header[2])
    return AwdRecording(
        subject=header[0],
        serial=header[5],
        age=header[4],
        series=Series(start, EPOCH_CODES[header[3]], counts),
        markers=markers,
        light=light or None,
    )


def read_awd_file(path: str | Path) -> AwdRecording:
    with open(path, encoding="utf-8", errors="strict", newline="") as handle:
        return read_awd(handle)
