"""A synthetic Apple Health export for the import benchmark, and the parse-only baseline.

    .venv/bin/python -m bench.apple_health_export write DIR [--records 1000000] [--seed 15] [--zip]
    .venv/bin/python -m bench.apple_health_export parse FILE      # the baseline: read_export alone

``write_export()`` writes ``DIR/export.xml`` shaped like the file the Health app's "Export All
Health Data" produces (and, with ``zip_export()``, ``DIR/export.zip`` holding
``apple_health_export/export.xml`` next to a small ``export_cda.xml``, as the phone does): the XML
declaration, a DOCTYPE with an internal subset, ``<HealthData locale=...>``, ``<ExportDate>``,
``<Me>``, then the ``<Record>`` elements grouped by type, each type in time order, with Apple's
attributes (``type``, ``sourceName``, ``sourceVersion``, ``device``, ``unit``, ``creationDate``,
``startDate``, ``endDate``, ``value``) and Apple's nested elements (heart rate's motion-context
``MetadataEntry``, HRV's ``HeartRateVariabilityMetadataList``).

The mix (``MIX``), over ``DAYS`` days of Sydney clock times (+1000, +1100 in daylight saving): step
counts from an iPhone and a Watch (40 %), heart rate (42 %), active energy (8 %, a type the import
skips), respiratory rate (4 %), sleep analysis (3.5 %: an in-bed record from the phone and Watch
stages tiling the night), SpO2 (1.5 %) and HRV (1 %). Daytime and night follow a day/night pattern
with a bedtime that moves from night to night. Everything comes from ``random.Random(seed)``: the
same arguments write the same bytes (``ExportFile.sha256``).

``parse`` is the import benchmark's baseline, run in a process of its own: the app's streaming
parser (``clinic_app.health_data.parsers.apple_health.read_export``) over the same file, storing
nothing. This module imports only the standard library and that parser.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

from clinic_app.health_data.parsers.apple_health import EXPORT_MEMBER, ExportStats, read_export

RECORDS = 1_000_000
SEED = 15
DAYS = 1200
LAST_DAY = date(2024, 3, 10)
EXPORT_DATE = "2024-03-10 09:12:44 +1100"

STEPS = "HKQuantityTypeIdentifierStepCount"
HEART_RATE = "HKQuantityTypeIdentifierHeartRate"
ENERGY = "HKQuantityTypeIdentifierActiveEnergyBurned"
RESPIRATORY = "HKQuantityTypeIdentifierRespiratoryRate"
SPO2 = "HKQuantityTypeIdentifierOxygenSaturation"
HRV = "HKQuantityTypeIdentifierHeartRateVariabilitySDNN"
SLEEP = "HKCategoryTypeIdentifierSleepAnalysis"
# (Apple type, share of the records), in the order the export lists them.
MIX: tuple[tuple[str, float], ...] = (
    (STEPS, 0.40),
    (HEART_RATE, 0.42),
    (ENERGY, 0.08),
    (RESPIRATORY, 0.04),
    (SLEEP, 0.035),
    (SPO2, 0.015),
    (HRV, 0.01),
)

# (sourceName, sourceVersion, device), XML-escaped as the export writes them; the apostrophe is the
# typographic one (U+2019) the device names carry.
PHONE = (
    "Jordan\u2019s iPhone",
    "17.3.1",
    "&lt;&lt;HKDevice: 0x281b2c3f0&gt;, name:iPhone, manufacturer:Apple Inc., model:iPhone, "
    "hardware:iPhone14,5, software:17.3.1&gt;",
)
WATCH = (
    "Jordan\u2019s Apple Watch",
    "10.3",
    "&lt;&lt;HKDevice: 0x281b2c5a0&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch, "
    "hardware:Watch6,2, software:10.3&gt;",
)

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 14 -->
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary|ClinicalRecord)*)>
<!ATTLIST HealthData
  locale CDATA #REQUIRED
>
<!ELEMENT ExportDate EMPTY>
<!ATTLIST ExportDate
  value CDATA #REQUIRED
>
<!ELEMENT Me EMPTY>
<!ELEMENT Record ((MetadataEntry|HeartRateVariabilityMetadataList)*)>
<!ATTLIST Record
  type          CDATA #REQUIRED
  unit          CDATA #IMPLIED
  value         CDATA #IMPLIED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
]>
<HealthData locale="en_AU">
"""
ME = (
    ' <Me HKCharacteristicTypeIdentifierDateOfBirth="1985-04-12" '
    'HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale" '
    'HKCharacteristicTypeIdentifierBloodType="HKBloodTypeNotSet" '
    'HKCharacteristicTypeIdentifierFitzpatrickSkinType="HKFitzpatrickSkinTypeNotSet" '
    'HKCharacteristicTypeIdentifierCardioFitnessMedicationsUse="None"/>\n'
)
SLEEP_STAGES = ("AsleepCore", "AsleepDeep", "AsleepREM", "Awake")
SLEEP_WEIGHTS = (50, 15, 25, 10)
HOUR = 3600


@dataclass
class ExportFile:
    """What ``write_export`` wrote (and ``zip_export`` added)."""

    xml_path: Path
    records: int
    by_type: dict[str, int]
    xml_bytes: int
    sha256: str
    seconds: float
    zip_path: Path | None = None
    zip_bytes: int = 0
    zip_seconds: float = 0.0
    days: tuple[str, str] = ("", "")


def _first_sunday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7)


def sydney_offset(day: date) -> str:
    """+1100 from the first Sunday of October to the first Sunday of April, else +1000 (the change
    is taken at midnight: close enough for a benchmark's clock)."""
    if day < _first_sunday(day.year, 4) or day >= _first_sunday(day.year, 10):
        return "+1100"
    return "+1000"


class _Clock:
    """Apple's ``YYYY-MM-DD HH:MM:SS +HHMM`` for (day index, seconds after that day's midnight)."""

    def __init__(self, first: date, days: int) -> None:
        dates = [first + timedelta(days=i) for i in range(days + 2)]
        self._days = [(d.isoformat(), sydney_offset(d)) for d in dates]

    def stamp(self, day: int, seconds: int) -> str:
        day, seconds = day + seconds // 86400, seconds % 86400
        text, offset = self._days[day]
        return f"{text} {seconds // HOUR:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d} {offset}"


def _per_day(rng: random.Random, total: int, days: int) -> list[int]:
    """``total`` spread over ``days`` with a day-to-day wobble; sums to ``total`` exactly."""
    weights = [rng.uniform(0.7, 1.3) for _ in range(days)]
    scale, running, previous, counts = total / sum(weights), 0.0, 0, []
    for weight in weights:
        running += weight * scale
        counts.append(round(running) - previous)
        previous += counts[-1]
    counts[-1] += total - previous
    return counts


def _shares(records: int) -> dict[str, int]:
    counts = {kind: int(records * share) for kind, share in MIX}
    counts[STEPS] += records - sum(counts.values())
    return counts


# --- one day of one type: (start s, end s, value, source, nested lines) ------------------------

Row = tuple[int, int, str, tuple[str, str, str], str]


def _awake_times(rng: random.Random, n: int, wake: int, bed: int) -> list[int]:
    return sorted(rng.randrange(wake, bed) for _ in range(n))


def _steps(rng: random.Random, n: int, wake: int, bed: int) -> list[Row]:
    rows = []
    for start in _awake_times(rng, n, wake, bed):
        length = rng.randint(60, 600)
        pace = rng.uniform(4, 110) if rng.random() < 0.8 else rng.uniform(110, 130)
        source = WATCH if rng.random() < 0.55 else PHONE
        rows.append((start, start + length, str(max(1, int(length / 60 * pace))), source, ""))
    return rows


def _heart_rate(rng: random.Random, n: int, wake: int, bed: int) -> list[Row]:
    rows = []
    for start in sorted(rng.randrange(86400) for _ in range(n)):
        asleep = start < wake or start >= bed
        bpm = rng.gauss(56, 4) if asleep else rng.gauss(78, 12)
        context = "0" if asleep or rng.random() < 0.7 else "1"
        meta = f'  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="{context}"/>\n'
        rows.append((start, start, str(round(min(185.0, max(38.0, bpm)))), WATCH, meta))
    return rows


def _energy(rng: random.Random, n: int, wake: int, bed: int) -> list[Row]:
    rows = []
    for start in _awake_times(rng, n, wake, bed):
        length = rng.randint(60, 900)
        rows.append((start, start + length, f"{rng.uniform(0.05, 9.0):.3f}", WATCH, ""))
    return rows


def _night_times(rng: random.Random, n: int, wake: int) -> list[int]:
    return sorted(rng.randrange(0, wake) for _ in range(n))


def _respiratory(rng: random.Random, n: int, wake: int, bed: int) -> list[Row]:
    return [(s, s + 60, f"{rng.randint(23, 37) / 2:g}", WATCH, "") for s in _night_times(rng, n, wake)]


def _spo2(rng: random.Random, n: int, wake: int, bed: int) -> list[Row]:
    return [(s, s, f"{rng.randint(92, 100) / 100:.2f}", WATCH, "") for s in _night_times(rng, n, wake)]


def _hrv(rng: random.Random, n: int, wake: int, bed: int) -> list[Row]:
    rows = []
    for start in _night_times(rng, n, wake):
        bpm, beats = rng.randint(52, 68), ["  <HeartRateVariabilityMetadataList>\n"]
        for beat in range(8):
            moment = start + beat
            clock = f"{(moment // HOUR) % 12 or 12}:{moment // 60 % 60:02d}:{moment % 60:02d}.{rng.randint(0, 99):02d}"
            beats.append(f'   <InstantaneousBeatsPerMinute bpm="{bpm + rng.randint(-3, 3)}" time="{clock} am"/>\n')
        beats.append("  </HeartRateVariabilityMetadataList>\n")
        rows.append((start, start + 60, f"{min(150.0, max(8.0, rng.gauss(45, 12))):.4f}", WATCH, "".join(beats)))
    return rows


def _sleep(rng: random.Random, n: int, wake: int, bed: int) -> list[Row]:
    """The night starting this evening: the phone's in-bed record, then Watch stages tiling it."""
    if n == 0:
        return []
    out_of_bed = 86400 + wake + rng.randint(0, 900)
    rows: list[Row] = [(bed, out_of_bed, "HKCategoryValueSleepAnalysisInBed", PHONE, "")]
    if n > 1:
        first, last = bed + rng.randint(300, 1500), out_of_bed - rng.randint(60, 600)
        cuts = sorted({first, last, *(rng.randrange(first + 1, last) for _ in range(n - 2))})
        while len(cuts) < n:  # a repeated cut point: split the longest stage again
            gap = max(range(len(cuts) - 1), key=lambda i: cuts[i + 1] - cuts[i])
            cuts.insert(gap + 1, (cuts[gap] + cuts[gap + 1]) // 2)
        for begin, end in pairwise(cuts):
            stage = rng.choices(SLEEP_STAGES, SLEEP_WEIGHTS)[0]
            rows.append((begin, end, f"HKCategoryValueSleepAnalysis{stage}", WATCH, ""))
    return rows


DAY_WRITERS: dict[str, Callable[[random.Random, int, int, int], list[Row]]] = {
    STEPS: _steps,
    HEART_RATE: _heart_rate,
    ENERGY: _energy,
    RESPIRATORY: _respiratory,
    SLEEP: _sleep,
    SPO2: _spo2,
    HRV: _hrv,
}
UNITS = {STEPS: "count", HEART_RATE: "count/min", ENERGY: "Cal", RESPIRATORY: "count/min", SPO2: "%", HRV: "ms"}


def _format(clock: _Clock, record_type: str, day: int, row: Row, created_delay: int) -> str:
    start, end, value, (name, version, device), nested = row
    unit = UNITS.get(record_type)
    unit_attribute = f' unit="{unit}"' if unit else ""
    attributes = (
        f'type="{record_type}" sourceName="{name}" sourceVersion="{version}" device="{device}"{unit_attribute} '
        f'creationDate="{clock.stamp(day, end + created_delay)}" startDate="{clock.stamp(day, start)}" '
        f'endDate="{clock.stamp(day, end)}" value="{value}"'
    )
    if nested:
        return f" <Record {attributes}>\n{nested} </Record>\n"
    return f" <Record {attributes}/>\n"


def write_export(directory: Path, *, records: int = RECORDS, seed: int = SEED, days: int = DAYS) -> ExportFile:
    """Write ``directory/export.xml`` with exactly ``records`` ``<Record>`` elements."""
    started = time.perf_counter()
    rng = random.Random(seed)
    first = LAST_DAY - timedelta(days=days - 1)
    clock = _Clock(first, days)
    # Each day's rising and bedtime (seconds after midnight): the same for every type of that day.
    wakes = [int(rng.gauss(6.9 * HOUR, 0.5 * HOUR)) for _ in range(days)]
    beds = [int(rng.gauss(22.8 * HOUR, 0.6 * HOUR)) for _ in range(days)]
    path = directory / "export.xml"
    digest = hashlib.sha256()
    written: Counter[str] = Counter()
    size = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:

        def emit(text: str) -> None:
            nonlocal size
            data = text.encode()
            digest.update(data)
            size += len(data)
            out.write(text)

        emit(f'{HEAD} <ExportDate value="{EXPORT_DATE}"/>\n{ME}')
        for record_type, total in _shares(records).items():
            make = DAY_WRITERS[record_type]
            for day, n in enumerate(_per_day(rng, total, days)):
                rows = make(rng, n, wakes[day], beds[day])
                emit("".join(_format(clock, record_type, day, row, rng.randint(2, 400)) for row in rows))
                written[record_type] += len(rows)
        emit("</HealthData>\n")
    return ExportFile(
        xml_path=path,
        records=sum(written.values()),
        by_type=dict(written),
        xml_bytes=size,
        sha256=digest.hexdigest(),
        seconds=time.perf_counter() - started,
        days=(first.isoformat(), LAST_DAY.isoformat()),
    )


def zip_export(export: ExportFile, *, level: int = 6) -> ExportFile:
    """Add ``export.zip`` next to the XML: ``apple_health_export/export.xml`` (deflated, streamed from
    the file) and a small ``export_cda.xml``, as the Health app writes it."""
    started = time.perf_counter()
    path = export.xml_path.with_name("export.zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        archive.write(export.xml_path, EXPORT_MEMBER)
        archive.writestr("apple_health_export/export_cda.xml", '<?xml version="1.0"?>\n<ClinicalDocument/>\n')
    export.zip_path, export.zip_bytes = path, path.stat().st_size
    export.zip_seconds = time.perf_counter() - started
    return export


# --- command line ------------------------------------------------------------------------------


def parse(path: Path) -> dict[str, object]:
    """The baseline's work: every record of the export through ``read_export``, nothing stored."""
    stats = ExportStats()
    started = time.perf_counter()
    kept = sum(1 for _ in read_export(path, stats))
    seconds = time.perf_counter() - started
    skipped = sum(stats.skipped.values())
    return {"seconds": seconds, "records": kept + skipped, "kept": kept, "skipped": skipped}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="write DIR/export.xml (and export.zip with --zip)")
    write.add_argument("directory", type=Path)
    write.add_argument("--records", type=int, default=RECORDS)
    write.add_argument("--seed", type=int, default=SEED)
    write.add_argument("--zip", action="store_true")
    read = commands.add_parser("parse", help="read FILE (export.xml or export.zip) with the app's parser")
    read.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "parse":
        print(json.dumps(parse(args.file)), flush=True)
        return 0
    args.directory.mkdir(parents=True, exist_ok=True)
    export = write_export(args.directory, records=args.records, seed=args.seed)
    if args.zip:
        zip_export(export)
    print(
        json.dumps(
            {
                "xml": str(export.xml_path),
                "records": export.records,
                "by_type": export.by_type,
                "xml_mb": round(export.xml_bytes / 1e6, 1),
                "sha256": export.sha256,
                "seconds": round(export.seconds, 2),
                "zip_mb": round(export.zip_bytes / 1e6, 1),
                "zip_seconds": round(export.zip_seconds, 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
