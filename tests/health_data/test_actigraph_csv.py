"""The ActiGraph epoch CSV parser: counts and timestamps from the header, errors that name the line."""

import math
from datetime import datetime, timedelta

import pytest

from clinic_app.health_data.parsers.actigraph_csv import read_actigraph_csv, read_actigraph_csv_file
from clinic_app.health_data.parsers.errors import ParseError

HEADER = [
    "------------ Data File Created By ActiGraph GT3X+ ActiLife v6.13.3 Firmware v2.5.0 date format M/d/yyyy"
    " at 30 Hz  Filter Normal -----------",
    "Serial Number: NEO1F18120387",
    "Start Time 23:58:00",
    "Start Date 5/7/2012",
    "Epoch Period (hh:mm:ss) 00:01:00",
    "Download Time 11:24:32",
    "Download Date 5/14/2012",
    "Current Memory Address: 0",
    "Current Battery Voltage: 4.22     Mode = 61",
    "--------------------------------------------------",
]
COLUMNS = "Axis1,Axis2,Axis3,Steps,Lux,Inclinometer Off,Inclinometer Standing,Inclinometer Sitting,Inclinometer Lying"
ROWS = ["120,30,40,4,0,0,60,0,0", "0,0,0,0,0,0,0,0,60", "3,4,12,0,10,0,0,60,0"]


def csv_lines(*rows, header=HEADER, columns=COLUMNS):
    return [f"{line}\r\n" for line in [*header, *([columns] if columns else []), *rows]]


def test_axis1_counts_and_timestamps():
    recording = read_actigraph_csv(csv_lines(*ROWS))
    assert recording.serial == "NEO1F18120387"
    assert recording.series.values == [120.0, 0.0, 3.0]
    assert recording.series.epoch == timedelta(minutes=1)
    assert recording.series.start == datetime(2012, 5, 7, 23, 58)
    assert recording.series.timestamp(2) == datetime(2012, 5, 8, 0, 0)
    assert recording.steps == [4.0, 0.0, 0.0]
    assert recording.columns[:3] == ["Axis1", "Axis2", "Axis3"]


def test_vector_magnitude_computed_or_from_its_column():
    recording = read_actigraph_csv(csv_lines(*ROWS), measure="vector_magnitude")
    assert recording.series.values == [pytest.approx(math.sqrt(120**2 + 30**2 + 40**2)), 0.0, 13.0]
    rows = ["10,0,0,1,130.5", "", "20,0,0,0,21"]
    recording = read_actigraph_csv(
        csv_lines(*rows, columns="Axis1,Axis2,Axis3,Steps,Vector Magnitude"), "vector_magnitude"
    )
    assert recording.series.values == [130.5, 21.0]


def test_no_column_line_and_other_date_format(tmp_path):
    header = list(HEADER)
    header[0] = header[0].replace("M/d/yyyy", "dd/MM/yyyy")
    header[3] = "Start Date 07/05/2012"
    header[4] = "Epoch Period (hh:mm:ss) 00:00:30"
    path = tmp_path / "epochs.csv"
    path.write_text("".join(csv_lines("5,1,2", "7,0,0", header=header, columns=None)), encoding="utf-8")
    recording = read_actigraph_csv_file(path)
    assert recording.columns == ["Axis1", "Axis2", "Axis3"]
    assert recording.series.values == [5.0, 7.0]
    assert recording.series.start == datetime(2012, 5, 7, 23, 58)
    assert recording.series.epoch == timedelta(seconds=30)
    assert recording.steps is None


def _header_with(line, text):
    header = list(HEADER)
    header[line - 1] = text
    return header


@pytest.mark.parametrize(
    ("lines", "line", "fragment"),
    [
        (csv_lines(*ROWS, header=_header_with(1, "Axis1,Axis2")), 1, "not an ActiGraph epoch CSV"),
        (csv_lines(*ROWS, header=_header_with(3, "Start Time 25:00:00")), 3, "not a time of day"),
        (csv_lines(*ROWS, header=_header_with(3, "Begin 10:00")), 3, "no 'Start Time' line"),
        (csv_lines(*ROWS, header=_header_with(4, "Start Date 13/40/2012")), 4, "not a real date"),
        (csv_lines(*ROWS, header=_header_with(4, "Start Date 2012-05-07x")), 4, "does not follow the date format"),
        (csv_lines(*ROWS, header=_header_with(5, "Epoch Period (hh:mm:ss) 1 min")), 5, "is not HH:MM:SS"),
        (csv_lines(*ROWS, header=_header_with(5, "Epoch Period (hh:mm:ss) 00:00:00")), 5, "longer than zero"),
        (csv_lines(*ROWS, header=_header_with(10, "Axis1,Axis2")), 10, "dashed line"),
        (csv_lines(*ROWS)[:6], 7, "the header ends early"),
        (csv_lines(), 12, "no epochs"),
        (csv_lines(*ROWS, columns="Steps,Lux"), 11, "no Axis1 column"),
        (csv_lines("1,2,3,4,5,6,7,8,9", "1,2,x,4,5,6,7,8,9"), 13, "Axis3 value 'x'"),
        (csv_lines("1,2,3,4,5,6,7,8,9", "-1,2,3,4,5,6,7,8,9"), 13, "not a count"),
        (csv_lines("1,2,3,4,5,6,7,8,9", "1,2,3"), 13, "expected 9 columns, found 3"),
    ],
)
def test_errors_name_the_line(lines, line, fragment):
    with pytest.raises(ParseError) as caught:
        read_actigraph_csv(lines, measure="vector_magnitude" if "Axis3" in fragment else "axis1")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")
    assert fragment in str(caught.value)


def test_vector_magnitude_needs_three_axes():
    with pytest.raises(ParseError, match=r"^line 11: the vector magnitude needs"):
        read_actigraph_csv(csv_lines("5,1", columns="Axis1,Steps"), "vector_magnitude")
    with pytest.raises(ValueError, match="measure must be"):
        read_actigraph_csv(csv_lines(*ROWS), "axis2")
