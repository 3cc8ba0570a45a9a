"""The AWD and plain CSV parsers: values, timestamps in the recorded clock, errors that name the line."""

from datetime import datetime, timedelta

import pytest

from clinic_app.health_data.parsers.awd import read_awd
from clinic_app.health_data.parsers.errors import ParseError
from clinic_app.health_data.parsers.plain_csv import read_plain_csv

HEADER = ["Jane Example", "23-Jan-2024", "22:30", " 4 ", "41", "V664055", "X"]


def awd(*rows, header=HEADER):
    return [f"{line}\r\n" for line in [*header, *rows]]


def test_example_01_header_and_counts(example_01):
    assert example_01.subject == "example_01"
    assert example_01.serial == "V664055"
    series = example_01.series
    assert series.start == datetime(1918, 1, 23, 13, 58)
    assert series.epoch == timedelta(minutes=1)
    assert len(series) == 18401
    assert series.values[:5] == [0.0, 0.0, 0.0, 149.0, 144.0]
    assert len(example_01.markers) == 22


def test_awd_counts_markers_and_timestamps():
    recording = read_awd(awd("0", "12 M", "", "7"))
    assert recording.subject == "Jane Example"
    assert recording.series.values == [0.0, 12.0, 7.0]
    assert recording.markers == [1]
    assert recording.series.timestamp(2) == datetime(2024, 1, 23, 22, 32)
    assert recording.light is None


def test_awd_light_column():
    recording = read_awd(awd("776 , 0", "584 , 59 M"))
    assert recording.series.values == [776.0, 584.0]
    assert recording.light == [0.0, 59.0]
    assert recording.markers == [1]


def test_awd_epoch_codes():
    header = list(HEADER)
    header[3] = "2"
    assert read_awd(awd("1", header=header)).series.epoch == timedelta(seconds=30)


@pytest.mark.parametrize(
    ("rows", "line", "fragment"),
    [
        (["1", "2", "x7"], 10, "'x7' is not a whole number"),
        (["1", "-3"], 9, "negative"),
        (["1", "2 3"], 9, "one activity count"),
        (["1 , 2", "3"], 9, "light values"),
    ],
)
def test_awd_errors_name_the_line(rows, line, fragment):
    with pytest.raises(ParseError) as caught:
        read_awd(awd(*rows))
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")
    assert fragment in str(caught.value)


def test_awd_header_errors():
    header = list(HEADER)
    header[3] = "9"
    with pytest.raises(ParseError, match=r"^line 4: unknown epoch code '9'"):
        read_awd(awd("1", header=header))
    header = list(HEADER)
    header[1] = "yesterday"
    with pytest.raises(ParseError, match=r"^line 3: unreadable start"):
        read_awd(awd("1", header=header))
    with pytest.raises(ParseError, match=r"^line 4: the header ends early"):
        read_awd(HEADER[:3])
    with pytest.raises(ParseError, match=r"^line 8: no activity counts"):
        read_awd(awd())


def test_plain_csv_builds_a_regular_series():
    series = read_plain_csv(
        ["timestamp,value\n", "2024-05-01T23:58:00,3\n", "2024-05-01T23:59:00,0\n", "2024-05-02T00:01:00,8.5\n"]
    )
    assert series.start == datetime(2024, 5, 1, 23, 58)
    assert series.epoch == timedelta(minutes=1)
    assert series.values == [3.0, 0.0, None, 8.5]


def test_plain_csv_keeps_the_recorded_clock():
    series = read_plain_csv(["Timestamp,Value\n", "2024-05-01T07:00:00+09:00,1\n", "2024-05-01T07:01:00+09:00,2\n"])
    assert series.start == datetime(2024, 5, 1, 7, 0)  # the wall clock at +09:00, not converted to UTC


@pytest.mark.parametrize(
    ("lines", "line", "fragment"),
    [
        (["time,count\n", "2024-05-01T00:00:00,1\n"], 1, "expected the header"),
        (["timestamp,value\n", "2024-05-01T00:00:00,1\n", "yesterday,2\n"], 3, "not ISO 8601"),
        (["timestamp,value\n", "\n", "2024-05-01T00:00:00,abc\n"], 3, "'abc' is not a number"),
        (["timestamp,value\n", "2024-05-01T00:00:00,nan\n"], 2, "not a finite number"),
        (["timestamp,value\n", "2024-05-01T00:00:00,1,2\n"], 2, "expected 2 columns"),
        (["timestamp,value\n"], 2, "no data rows"),
        ([], 1, "the file is empty"),
    ],
)
def test_plain_csv_errors_name_the_line(lines, line, fragment):
    with pytest.raises(ParseError) as caught:
        read_plain_csv(lines)
    assert caught.value.line == line
    assert fragment in str(caught.value)
