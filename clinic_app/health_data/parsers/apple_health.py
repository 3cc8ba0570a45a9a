"""Apple Health exports (``export.zip`` holding ``apple_health_export/export.xml``, or ``export.xml``).

The XML is read as a stream: the file (for a zip, the member opened with ``zipfile.ZipFile.open``) is
fed in 64 KiB pieces to expat (``xml.parsers.expat``, set up as ElementTree's parser sets it up), whose
own position gives every record its line; only the attributes of the records of the piece just fed
are kept (no element tree is built), so memory stays flat however many records the export holds.

Records kept (``HealthRecord.kind``):

=================  ==================================================  ==========================
kind               Apple type                                          value
=================  ==================================================  ==========================
steps              HKQuantityTypeIdentifierStepCount                   count
heart_rate         HKQuantityTypeIdentifierHeartRate                   count/min
hrv_sdnn           HKQuantityTypeIdentifierHeartRateVariabilitySDNN    ms
spo2               HKQuantityTypeIdentifierOxygenSaturation            % (Apple stores 0-1)
respiratory_rate   HKQuantityTypeIdentifierRespiratoryRate             count/min
sleep              HKCategoryTypeIdentifierSleepAnalysis               in_bed | asleep | awake
=================  ==================================================  ==========================

Every other ``Record`` type is skipped and counted. Timestamps (``2024-03-01 23:10:00 +1100``) keep the
wall clock they were recorded in (the offset is checked, then dropped), as ``series.local_clock`` does.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, BinaryIO
from xml.parsers import expat

from clinic_app.health_data.parsers.errors import ParseError

EXPORT_MEMBER = "apple_health_export/export.xml"
READ_SIZE = 1 << 16  # bytes fed to the parser at a time

QUANTITY_KINDS: dict[str, tuple[str, str, float]] = {
    # Apple type: (kind, unit reported, factor applied to Apple's value)
    "HKQuantityTypeIdentifierStepCount": ("steps", "count", 1.0),
    "HKQuantityTypeIdentifierHeartRate": ("heart_rate", "count/min", 1.0),
    "HKQuantityTypeIdentifierHeartRateVariabilitySDNN": ("hrv_sdnn", "ms", 1.0),
    "HKQuantityTypeIdentifierOxygenSaturation": ("spo2", "%", 100.0),
    "HKQuantityTypeIdentifierRespiratoryRate": ("respiratory_rate", "count/min", 1.0),
}
SLEEP_TYPE = "HKCategoryTypeIdentifierSleepAnalysis"
SLEEP_PREFIX = "HKCategoryValueSleepAnalysis"
IN_BED, ASLEEP, AWAKE = "in_bed", "asleep", "awake"

_OFFSET = re.compile(r" ?[+-](?:[01]\d|2[0-3]):?[0-5]\d")


@dataclass(frozen=True, slots=True)
class HealthRecord:
    kind: str
    start: datetime  # the wall clock it was recorded in (naive)
    end: datetime
    value: float | str  # a number, or for sleep the state: in_bed | asleep | awake
    unit: str
    source: str
    category: str = ""  # the Apple sleep value, e.g. HKCategoryValueSleepAnalysisAsleepREM
    line: int = 0


@dataclass
class ExportStats:
    """Filled in while ``read_export`` runs: records kept per kind and skipped per Apple type."""

    kept: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class ExportSummary:
    records: dict[str, int]
    skipped: dict[str, int]
    first: datetime | None
    last: datetime | None

    @property
    def total(self) -> int:
        return sum(self.records.values())


@dataclass(frozen=True)
class SleepNight:
    """One night (noon to noon, by the interval's start): merged in-bed and asleep intervals."""

    night: date  # the date the evening belongs to
    in_bed: list[tuple[datetime, datetime]]
    asleep: list[tuple[datetime, datetime]]

    @property
    def in_bed_minutes(self) -> float:
        return _minutes(self.in_bed)

    @property
    def asleep_minutes(self) -> float:
        return _minutes(self.asleep)

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """In-bed start and end for nights analysis: the in-bed span, else the asleep span."""
        intervals = self.in_bed or self.asleep
        return intervals[0][0], max(end for _, end in intervals)


def parse_timestamp(text: str, line: int, name: str) -> datetime:
    """Apple's ``YYYY-MM-DD HH:MM:SS +HHMM`` as the naive wall clock it was recorded in."""
    clock, offset = text[:19], text[19:]
    if len(clock) != 19 or clock[10] != " " or (offset and _OFFSET.fullmatch(offset) is None):
        raise ParseError(line, f"{name} {text!r} is not 'YYYY-MM-DD HH:MM:SS +HHMM'")
    try:
        return datetime.fromisoformat(clock)
    except ValueError:
        raise ParseError(line, f"{name} {text!r} is not a real date and time") from None


def _number(text: str | None, line: int, record_type: str) -> float:
    if text is None:
        raise ParseError(line, f"{record_type} record has no value")
    try:
        value = float(text)
    except ValueError:
        raise ParseError(line, f"{record_type} value {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ParseError(line, f"{record_type} value {text!r} is not a finite number")
    return value


def _sleep_state(text: str | None, line: int) -> str:
    name = (text or "").removeprefix(SLEEP_PREFIX)
    if name == "InBed":
        return IN_BED
    if name.startswith("Asleep"):  # Asleep, AsleepUnspecified, AsleepCore, AsleepDeep, AsleepREM
        return ASLEEP
    if name == "Awake":
        return AWAKE
    raise ParseError(line, f"unknown sleep analysis value {text!r}")


def _record(attrib: dict[str, str], line: int, stats: ExportStats) -> HealthRecord | None:
    record_type = attrib.get("type", "")
    quantity = QUANTITY_KINDS.get(record_type)
    if quantity is None and record_type != SLEEP_TYPE:
        stats.skipped[record_type or "(no type)"] += 1
        return None
    start_text = attrib.get("startDate")
    if start_text is None:
        raise ParseError(line, f"{record_type} record has no startDate")
    start = parse_timestamp(start_text, line, "startDate")
    end_text = attrib.get("endDate")
    end = start if end_text is None or end_text == start_text else parse_timestamp(end_text, line, "endDate")
    if end < start:
        raise ParseError(line, f"{record_type} record ends ({end_text}) before it starts ({start_text})")
    source = attrib.get("sourceName", "")
    if quantity is None:
        category = attrib.get("value", "")
        state = _sleep_state(category, line)
        stats.kept["sleep"] += 1
        return HealthRecord("sleep", start, end, state, "", source, category, line)
    kind, unit, factor = quantity
    value = _number(attrib.get("value"), line, record_type) * factor
    stats.kept[kind] += 1
    return HealthRecord(kind, start, end, value, unit, source, "", line)


class _UndefinedEntity(Exception):
    """An entity expat skipped (declared nowhere it can see): an error, as ElementTree makes it."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class _Scanner:
    """Expat's handlers: the attributes and line of each top-level ``<Record>`` start tag, and the root's tag.

    Names are ElementTree's (``namespace}name`` for a namespaced one, so a namespaced ``Record`` is
    not a record); the line is expat's, the one the start tag begins on.
    """

    def __init__(self) -> None:
        # ElementTree's own set-up: the document's encoding, "}" between a namespace and a name.
        self.parser = expat.ParserCreate(None, "}")
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.SkippedEntityHandler = self._skipped
        self.found: list[tuple[dict[str, str], int]] = []
        self.depth = 0
        self.root: str | None = None

    def _start(self, tag: str, attrib: dict[str, str]) -> None:
        self.depth += 1
        if self.depth == 2:
            if tag == "Record":
                self.found.append((attrib, self.parser.CurrentLineNumber))
        elif self.depth == 1:
            self.root = tag

    def _end(self, tag: str) -> None:
        self.depth -= 1

    def _skipped(self, name: str, is_parameter_entity: bool) -> None:
        if not is_parameter_entity:
            line, column = self.parser.CurrentLineNumber, self.parser.CurrentColumnNumber
            raise _UndefinedEntity(f"undefined entity &{name};: line {line}, column {column}", line)


def _events(raw: IO[bytes], stats: ExportStats) -> Iterator[HealthRecord]:
    scanner = _Scanner()
    parser = scanner.parser
    # Expat never fetches external entities, and the bundled expat (>= 2.4) stops entity-expansion
    # bombs, so the export can be parsed without defusedxml.
    while True:
        try:
            data = raw.read(READ_SIZE)
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise ParseError(parser.CurrentLineNumber, f"the zip archive is damaged ({error})") from None
        failure: ParseError | None = None
        try:
            parser.Parse(data, not data)
        except expat.ExpatError as error:
            failure = ParseError(error.lineno, f"the export is not well-formed XML ({error})")
        except _UndefinedEntity as error:
            failure = ParseError(error.line, f"the export is not well-formed XML ({error})")
        # The records read before an error come first, in file order, as they stand in the file.
        for attrib, line in scanner.found:
            record = _record(attrib, line, stats)
            if record is not None:
                yield record
        scanner.found.clear()
        if failure is not None:
            raise failure
        if not data:
            break
    if scanner.root != "HealthData":
        raise ParseError(1, "not an Apple Health export: the root element is not <HealthData>")


def _export_member(archive: zipfile.ZipFile) -> str:
    names = archive.namelist()
    if EXPORT_MEMBER in names:
        return EXPORT_MEMBER
    candidates = sorted((n for n in names if n.rsplit("/", 1)[-1] == "export.xml"), key=lambda n: n.count("/"))
    if not candidates:
        raise ParseError(1, f"the zip archive has no {EXPORT_MEMBER}")
    return candidates[0]


def _from_zip(handle: BinaryIO | str | Path, stats: ExportStats) -> Iterator[HealthRecord]:
    try:
        archive = zipfile.ZipFile(handle)
    except zipfile.BadZipFile as error:
        raise ParseError(1, f"the zip archive is damaged ({error})") from None
    with archive, archive.open(_export_member(archive)) as member:
        yield from _events(member, stats)


def read_export(source: str | Path | BinaryIO, stats: ExportStats | None = None) -> Iterator[HealthRecord]:
    """Yield the kept records of an export (a path, or a binary file object), zip or XML, in file order.

    ``stats`` (if given) counts the records kept per kind and skipped per Apple type as they are read.
    """
    stats = stats if stats is not None else ExportStats()
    if isinstance(source, str | Path):
        if zipfile.is_zipfile(source):
            yield from _from_zip(source, stats)
            return
        with open(source, "rb") as handle:
            yield from _events(handle, stats)
        return
    if source.seekable():
        position = source.tell()
        is_zip = zipfile.is_zipfile(source)
        source.seek(position)
        if is_zip:
            yield from _from_zip(source, stats)
            return
    yield from _events(source, stats)


def summarize(source: str | Path | BinaryIO) -> ExportSummary:
    """Read a whole export (streaming) and count it: records per kind, skipped types, time span."""
    stats = ExportStats()
    first: datetime | None = None
    last: datetime | None = None
    for record in read_export(source, stats):
        first = record.start if first is None or record.start < first else first
        last = record.end if last is None or record.end > last else last
    return ExportSummary(dict(stats.kept), dict(stats.skipped), first, last)


def merge_intervals(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted intervals with every overlapping (or touching) pair joined."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def sleep_nights(records: Iterable[HealthRecord]) -> list[SleepNight]:
    """Group sleep records into nights (noon to noon by start) with merged in-bed and asleep intervals.

    Overlapping records (an iPhone and a Watch both recording, or stages inside an in-bed span) are
    merged, so no minute counts twice; awake records are left out of both lists.
    """
    in_bed: dict[date, list[tuple[datetime, datetime]]] = {}
    asleep: dict[date, list[tuple[datetime, datetime]]] = {}
    for record in records:
        if record.kind != "sleep" or record.value == AWAKE or record.end <= record.start:
            continue
        night = (record.start - timedelta(hours=12)).date()
        target = in_bed if record.value == IN_BED else asleep
        target.setdefault(night, []).append((record.start, record.end))
    return [
        SleepNight(night, merge_intervals(in_bed.get(night, [])), merge_intervals(asleep.get(night, [])))
        for night in sorted(in_bed.keys() | asleep.keys())
    ]


def _minutes(intervals: list[tuple[datetime, datetime]]) -> float:
    return sum((end - start).total_seconds() for start, end in intervals) / 60
