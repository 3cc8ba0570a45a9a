"""The Apple Health export reader: typed records, sleep nights against a hand count, errors by line, flat memory."""

import io
import tracemalloc
import zipfile
from datetime import date, datetime

import pytest

from clinic_app.health_data.parsers.apple_health import (
    EXPORT_MEMBER,
    ExportStats,
    read_export,
    sleep_nights,
    summarize,
)
from clinic_app.health_data.parsers.errors import ParseError

HEAD = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    "<!DOCTYPE HealthData [",
    "<!ELEMENT HealthData (ExportDate,Me,(Record|Workout)*)>",
    "]>",
    '<HealthData locale="en_AU">',
    ' <ExportDate value="2024-03-05 09:00:00 +1100"/>',
    ' <Me HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale"/>',
]  # the first record is on line 8


HR = "HKQuantityTypeIdentifierHeartRate"


def rec(kind, start, end, value, unit="count", source="Watch"):
    return (
        f' <Record type="{kind}" sourceName="{source}" unit="{unit}" '
        f'startDate="{start} +1100" endDate="{end} +1100" value="{value}"/>'
    )


def sleep(start, end, value):
    return rec("HKCategoryTypeIdentifierSleepAnalysis", start, end, f"HKCategoryValueSleepAnalysis{value}", "")


RECORDS = [
    rec("HKQuantityTypeIdentifierStepCount", "2024-03-01 08:00:00", "2024-03-01 08:10:00", "412", source="iPhone"),
    rec("HKQuantityTypeIdentifierHeartRate", "2024-03-01 08:05:00", "2024-03-01 08:05:00", "72", "count/min"),
    ' <Record type="HKQuantityTypeIdentifierHeartRateVariabilitySDNN" sourceName="Watch" unit="ms"'
    ' startDate="2024-03-01 08:06:00 +1100" endDate="2024-03-01 08:07:00 +1100" value="48.5">',
    "  <HeartRateVariabilityMetadataList>",
    '   <InstantaneousBeatsPerMinute bpm="71" time="8:06:01.00 am"/>',
    "  </HeartRateVariabilityMetadataList>",
    " </Record>",
    rec("HKQuantityTypeIdentifierOxygenSaturation", "2024-03-01 03:00:00", "2024-03-01 03:00:00", "0.97", "%"),
    rec("HKQuantityTypeIdentifierRespiratoryRate", "2024-03-01 03:01:00", "2024-03-01 03:01:00", "14.5", "count/min"),
    rec("HKQuantityTypeIdentifierBodyMass", "2024-03-01 07:00:00", "2024-03-01 07:00:00", "61", "kg"),
    ' <Workout workoutActivityType="HKWorkoutActivityTypeWalking" duration="20">',
    '  <Record type="HKQuantityTypeIdentifierHeartRate" startDate="oops" value="x"/>',
    " </Workout>",
    # night of 1 March: in bed 23:00-07:00 (phone), asleep 23:20-03:00 and 03:10-06:40 in stages (watch)
    sleep("2024-03-01 23:00:00", "2024-03-02 07:00:00", "InBed"),
    sleep("2024-03-01 23:20:00", "2024-03-02 01:00:00", "AsleepCore"),
    sleep("2024-03-02 00:40:00", "2024-03-02 02:00:00", "AsleepDeep"),  # overlaps the one before
    sleep("2024-03-02 02:00:00", "2024-03-02 03:00:00", "AsleepREM"),
    sleep("2024-03-02 03:00:00", "2024-03-02 03:10:00", "Awake"),
    sleep("2024-03-02 03:10:00", "2024-03-02 06:40:00", "Asleep"),
    # night of 2 March: only asleep, no in-bed record
    sleep("2024-03-02 22:30:00", "2024-03-03 06:00:00", "AsleepUnspecified"),
]


def export_text(records=RECORDS, close=True):
    return "\n".join([*HEAD, *records, *(["</HealthData>"] if close else [])]) + "\n"


def write_export(tmp_path, text, as_zip=False):
    if as_zip:
        path = tmp_path / "export.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("apple_health_export/export_cda.xml", "<not-this/>")
            archive.writestr(EXPORT_MEMBER, text)
        return path
    path = tmp_path / "export.xml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("as_zip", [False, True])
def test_records_are_typed_and_keep_the_recorded_clock(tmp_path, as_zip):
    stats = ExportStats()
    records = list(read_export(write_export(tmp_path, export_text(), as_zip), stats))
    quantities = [(r.kind, r.start, r.end, r.value, r.unit, r.source, r.line) for r in records[:5]]
    assert quantities == [
        ("steps", datetime(2024, 3, 1, 8, 0), datetime(2024, 3, 1, 8, 10), 412.0, "count", "iPhone", 8),
        ("heart_rate", datetime(2024, 3, 1, 8, 5), datetime(2024, 3, 1, 8, 5), 72.0, "count/min", "Watch", 9),
        ("hrv_sdnn", datetime(2024, 3, 1, 8, 6), datetime(2024, 3, 1, 8, 7), 48.5, "ms", "Watch", 10),
        ("spo2", datetime(2024, 3, 1, 3, 0), datetime(2024, 3, 1, 3, 0), 97.0, "%", "Watch", 15),
        ("respiratory_rate", datetime(2024, 3, 1, 3, 1), datetime(2024, 3, 1, 3, 1), 14.5, "count/min", "Watch", 16),
    ]
    states = [(r.value, r.category.removeprefix("HKCategoryValueSleepAnalysis")) for r in records[5:]]
    assert states == [
        ("in_bed", "InBed"),
        ("asleep", "AsleepCore"),
        ("asleep", "AsleepDeep"),
        ("asleep", "AsleepREM"),
        ("awake", "Awake"),
        ("asleep", "Asleep"),
        ("asleep", "AsleepUnspecified"),
    ]
    assert all(r.start.tzinfo is None for r in records)
    assert stats.kept == {"steps": 1, "heart_rate": 1, "hrv_sdnn": 1, "spo2": 1, "respiratory_rate": 1, "sleep": 7}
    # the workout's nested record is not a top-level record: neither read nor counted
    assert stats.skipped == {"HKQuantityTypeIdentifierBodyMass": 1}


def test_file_objects_zip_and_xml(tmp_path):
    with open(write_export(tmp_path, export_text(), as_zip=True), "rb") as handle:
        assert len(list(read_export(handle))) == 12
    assert len(list(read_export(io.BytesIO(export_text().encode())))) == 12


def test_summary(tmp_path):
    summary = summarize(write_export(tmp_path, export_text()))
    assert summary.records["sleep"] == 7
    assert summary.total == 12
    assert summary.skipped == {"HKQuantityTypeIdentifierBodyMass": 1}
    assert summary.first == datetime(2024, 3, 1, 3, 0)
    assert summary.last == datetime(2024, 3, 3, 6, 0)


def test_sleep_nights_match_a_hand_count(tmp_path):
    nights = sleep_nights(read_export(write_export(tmp_path, export_text())))
    assert [n.night for n in nights] == [date(2024, 3, 1), date(2024, 3, 2)]
    first, second = nights
    assert first.in_bed == [(datetime(2024, 3, 1, 23, 0), datetime(2024, 3, 2, 7, 0))]
    assert first.asleep == [
        (datetime(2024, 3, 1, 23, 20), datetime(2024, 3, 2, 3, 0)),
        (datetime(2024, 3, 2, 3, 10), datetime(2024, 3, 2, 6, 40)),
    ]
    assert first.in_bed_minutes == 480  # 23:00-07:00
    assert first.asleep_minutes == 430  # 220 (23:20-03:00) + 210 (03:10-06:40)
    assert first.bounds == (datetime(2024, 3, 1, 23, 0), datetime(2024, 3, 2, 7, 0))
    assert second.in_bed == []
    assert second.asleep_minutes == 450
    assert second.bounds == (datetime(2024, 3, 2, 22, 30), datetime(2024, 3, 3, 6, 0))


@pytest.mark.parametrize("as_zip", [False, True])
def test_truncated_export_names_the_line(tmp_path, as_zip):
    text = export_text(close=False)
    with pytest.raises(ParseError) as caught:
        list(read_export(write_export(tmp_path, text[: text.rindex("/>")], as_zip)))
    assert caught.value.line == len(HEAD) + len(RECORDS)
    assert str(caught.value).startswith(f"line {caught.value.line}: the export is not well-formed XML")


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (rec(HR, "2024-03-01 08:00:00", "2024-03-01 08:00:00", "fast"), "value 'fast' is not a number"),
        (rec(HR, "2024-03-01 08:00:00", "2024-03-01 08:00:00", "nan"), "not a finite number"),
        (f' <Record type="{HR}" endDate="2024-03-01 08:00:00 +1100" value="3"/>', "has no startDate"),
        (f' <Record type="{HR}" startDate="2024-03-01 08:00:00 +1100"/>', "has no value"),
        (rec(HR, "2024-02-30 08:00:00", "2024-03-01 08:00:00", "3"), "not a real date"),
        (rec(HR, "2024-03-01 08:00", "2024-03-01 08:00:00", "3"), "is not 'YYYY-MM-DD HH:MM:SS +HHMM'"),
        (rec(HR, "2024-03-01 09:00:00", "2024-03-01 08:00:00", "3"), "before it starts"),
        (sleep("2024-03-01 23:00:00", "2024-03-02 07:00:00", "Dozing"), "unknown sleep analysis value"),
        (' <Record type="HKQuantityTypeIdentifierStepCount" value="3"', "not well-formed"),
    ],
)
def test_bad_records_name_their_line(tmp_path, bad, fragment):
    records = [RECORDS[0], RECORDS[1], bad, RECORDS[-1]]
    with pytest.raises(ParseError) as caught:
        list(read_export(write_export(tmp_path, export_text(records))))
    line = len(HEAD) + 3 + (1 if "not well-formed" in fragment else 0)  # the XML error shows on the next tag
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")
    assert fragment in str(caught.value)


def test_not_an_export(tmp_path):
    path = tmp_path / "export.xml"
    path.write_text("timestamp,value\n2024-03-01T00:00:00,1\n", encoding="utf-8")
    with pytest.raises(ParseError, match=r"^line 1: the export is not well-formed XML"):
        list(read_export(path))
    path.write_text("<html>\n<body/>\n</html>\n", encoding="utf-8")
    with pytest.raises(ParseError, match=r"^line 1: not an Apple Health export"):
        list(read_export(path))
    archive_path = tmp_path / "other.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(ParseError, match=r"^line 1: the zip archive has no apple_health_export/export.xml"):
        list(read_export(archive_path))


def test_memory_stays_flat_for_a_large_export(tmp_path):
    count = 200_000
    path = tmp_path / "export.xml"
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(HEAD) + "\n")
        for i in range(count):
            minute = i % 1440
            stamp = f"2024-03-{1 + i // 1440 % 28:02d} {minute // 60:02d}:{minute % 60:02d}:00 +1100"
            attributes = (
                f'type="{HR}" sourceName="Watch" unit="count/min" creationDate="{stamp}" '
                f'startDate="{stamp}" endDate="{stamp}" value="{60 + i % 40}"'
            )
            if i % 10:
                out.write(f" <Record {attributes}/>\n")
            else:  # every tenth with metadata, as the Watch writes them
                out.write(f' <Record {attributes}>\n  <MetadataEntry key="Context" value="0"/>\n </Record>\n')
        out.write("</HealthData>\n")
    tracemalloc.start()
    try:
        seen = sum(1 for _ in read_export(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
