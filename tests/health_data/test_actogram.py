"""The actogram SVG: double plotted (each row day N, then day N+1), bars scaled to the 95th
percentile (or the maximum), missing and non-wear epochs hatched rather than drawn as zero, in-bed
intervals shaded, and an accessible image (role, title, text summary)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest

from clinic_app.health_data.actogram import (
    BAR_HEIGHT,
    IN_BED,
    LEFT,
    PLOT_WIDTH,
    clip,
    in_bed_from_result,
    percentile,
    render_actogram,
)
from clinic_app.health_data.analysis.analyze import analyze
from clinic_app.health_data.series import Series
from tests.health_data.conftest import minutely

SVG = "{http://www.w3.org/2000/svg}"


def parse(actogram):
    return ET.fromstring(str(actogram.svg))  # noqa: S314  (our own SVG, not untrusted input)


def day_night(days, start=datetime(2024, 3, 4, 0, 0)):
    """Active 08:00-22:00 (100 counts a minute), asleep otherwise (a few counts)."""
    return minutely([100 if 8 <= (m // 60) % 24 < 22 else (m % 3) for m in range(days * 1440)], start)


def rows_of(svg):
    """The date label of every row, top to bottom."""
    return [t.text for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "end" and float(t.get("x")) < LEFT]


def bar_paths(svg):
    return [p for p in svg.iter(f"{SVG}path")]


def test_each_row_shows_a_day_and_the_next():
    actogram = render_actogram(day_night(3))
    svg = parse(actogram)
    assert actogram.days == 3
    assert rows_of(svg) == ["Mon 04 Mar", "Tue 05 Mar", "Wed 06 Mar"]
    # Rows 1 and 2 have two halves of bars; the last row has only its own day (day N+1 is not recorded).
    paths = bar_paths(svg)
    lefts = sorted(float(re.match(r"translate\(([\d.]+)", p.get("transform")).group(1)) for p in paths)
    assert lefts == [LEFT, LEFT, LEFT, LEFT + PLOT_WIDTH / 2, LEFT + PLOT_WIDTH / 2]
    # The same day is drawn twice, identically: on the right of row N and on the left of row N+1.
    by_row = {}
    for p in paths:
        x, y = re.match(r"translate\(([\d.]+) ([\d.]+)\)", p.get("transform")).groups()
        by_row.setdefault(float(y), {})[float(x)] = p.get("d")
    tops = sorted(by_row)
    assert by_row[tops[0]][LEFT + PLOT_WIDTH / 2] == by_row[tops[1]][LEFT]
    assert by_row[tops[1]][LEFT + PLOT_WIDTH / 2] == by_row[tops[2]][LEFT]


def test_bars_are_scaled_to_the_95th_percentile_and_cut_off_above():
    values = [10.0] * 1440
    values[600:610] = [1000.0] * 10  # one burst: two 5-minute bins of 1000
    actogram = render_actogram(minutely(values))
    assert actogram.scale_from == "percentile"
    assert actogram.scale == pytest.approx(10.0)  # the burst does not flatten the rest
    heights = [float(h) for h in re.findall(r"V-([\d.]+)", bar_paths(parse(actogram))[0].get("d"))]
    assert max(heights) == BAR_HEIGHT  # the burst is cut off at full height
    assert heights.count(BAR_HEIGHT) == len(heights)  # 10 counts is the 95th percentile: full height too

    mostly_zero = [0.0] * 1440
    mostly_zero[700] = 50.0
    sparse = render_actogram(minutely(mostly_zero), nonwear=[False] * 1440)
    assert sparse.scale_from == "max" and sparse.scale == pytest.approx(10.0)  # one 5-minute bin of mean 10


def test_percentile_interpolates_like_numpy():
    assert percentile([1, 2, 3, 4, 5], 95) == pytest.approx(4.8)
    assert percentile([7], 95) == 7
    assert percentile([], 95) == 0.0


def test_missing_and_non_wear_epochs_are_hatched_not_zero():
    values = [50.0] * 1440
    values[120:240] = [0.0] * 120  # two hours of zeros: non-wear (a run of 90 minutes or more)
    values[600:660] = [None] * 60  # an hour missing
    values[900:930] = [0.0] * 30  # half an hour of stillness: worn, drawn as zero
    actogram = render_actogram(minutely(values))
    svg = parse(actogram)
    hatched = [r for r in svg.iter(f"{SVG}rect") if r.get("fill", "").startswith("url(#")]
    unit = PLOT_WIDTH / 2 / 288
    spans = sorted((round((float(r.get("x")) - LEFT) / unit), round(float(r.get("width")) / unit)) for r in hatched)
    assert spans == [(24, 24), (120, 12)]  # 02:00-04:00 and 10:00-11:00, in 5-minute bins
    assert actogram.no_data_minutes == 180
    assert "3.0 hours without data or not worn" in actogram.summary


def test_in_bed_intervals_are_shaded_on_both_plots_of_the_day():
    series = day_night(2)
    in_bed = [(datetime(2024, 3, 4, 22, 30), datetime(2024, 3, 5, 7, 0))]
    svg = parse(render_actogram(series, in_bed=in_bed))
    shaded = [r for r in svg.iter(f"{SVG}rect") if r.get("fill") == IN_BED]
    hour = PLOT_WIDTH / 48
    found = sorted((float(r.get("x")), float(r.get("y")), float(r.get("width"))) for r in shaded)
    row_1, row_2 = 24 + 34 - BAR_HEIGHT, 24 + 2 * 34 - BAR_HEIGHT
    assert found == [
        (pytest.approx(LEFT), row_2, pytest.approx(7 * hour)),  # day 2 00:00-07:00 on row 2's left
        (pytest.approx(LEFT + 22.5 * hour), row_1, pytest.approx(1.5 * hour)),  # day 1 22:30-24:00
        (pytest.approx(LEFT + 24 * hour), row_1, pytest.approx(7 * hour)),  # day 2 again, row 1's right
    ]


def test_the_image_is_accessible_and_escapes_its_text():
    actogram = render_actogram(day_night(2), label="<activity> & counts", id_prefix="chart-1")
    svg = parse(actogram)
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "chart-1-title chart-1-desc"
    assert svg.find(f"{SVG}title").text == "Actogram, 04 Mar 2024 to 06 Mar 2024"
    desc = svg.find(f"{SVG}desc").text
    assert desc == actogram.summary and "<activity> & counts" in desc
    assert "&lt;activity&gt; &amp; counts" in str(actogram.svg)
    assert "2 days of 1-minute" in desc and "double plotted" in desc and "48 hours" in desc


def test_example_01_with_its_nights(example_01):
    result = analyze(example_01.series)
    nights = in_bed_from_result(result)
    assert len(nights) == len(result["sleep_metrics"]["nights"]) == 10
    actogram = render_actogram(example_01.series, in_bed=nights)
    assert actogram.days == 14 and actogram.bin_minutes == 5 and actogram.in_bed_intervals == 10
    assert len(str(actogram.svg)) < 120_000
    parse(actogram)  # well-formed XML


def test_long_recordings_use_longer_bins_and_keep_the_latest_days():
    month = day_night(40)
    actogram = render_actogram(month)
    assert actogram.bin_minutes == 10
    hourly = Series(datetime(2024, 3, 4), timedelta(hours=1), [1.0] * 48)
    assert render_actogram(hourly).bin_minutes == 60
    huge = day_night(70)
    trimmed = render_actogram(huge)
    assert trimmed.days == 62 and rows_of(parse(trimmed))[-1] == "Sun 12 May"


def test_clip_and_empty_series():
    series = minutely(list(range(100)))
    part = clip(series, datetime(2024, 3, 4, 0, 10), datetime(2024, 3, 4, 0, 20))
    assert part.start == datetime(2024, 3, 4, 0, 10) and part.values == [float(v) for v in range(10, 20)]
    assert clip(series, None, None).values == series.values
    with pytest.raises(ValueError):
        render_actogram(clip(series, datetime(2024, 3, 5), None))


def test_nights_that_cannot_be_read_are_skipped():
    result = {"sleep_metrics": {"nights": [{"in_bed_start": "x"}, {"in_bed_start": "2024-03-04T23:00:00"}, {}]}}
    assert in_bed_from_result(result) == []
    assert in_bed_from_result(None) == []
