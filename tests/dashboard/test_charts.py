"""The SVG charts: round axis tops, bars in proportion, every label escaped, no script."""

import re

import pytest

from clinic_app.dashboard import charts


@pytest.mark.parametrize(("value", "top"), [(0, 1), (1, 1), (2, 2), (3, 5), (6, 10), (11, 20), (48, 50), (51, 100)])
def test_axis_tops_are_round(value, top):
    assert charts.nice_ceiling(value) == top


def test_stacked_bars_are_in_proportion_and_named():
    svg = charts.stacked_bars(
        "chart-x",
        title="Appointments per week",
        description="Two weeks",
        labels=["1 Jun", "8 Jun"],
        series=[charts.Series("attended", "Attended", [8, 2]), charts.Series("cancelled", "Cancelled", [2, 0])],
    )
    heights = {
        (series, value): float(height)
        for series, value, height in re.findall(r'data-series="(\w+)" data-value="(\d+)"[^>]*height="([\d.]+)"', svg)
    }
    assert heights[("attended", "8")] == pytest.approx(4 * heights[("attended", "2")])
    assert heights[("attended", "8")] == pytest.approx(4 * heights[("cancelled", "2")])
    assert ("cancelled", "0") not in heights  # nothing drawn for a zero
    assert "<title>1 Jun: 8 attended</title>" in svg
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" role="img"')


def test_labels_are_escaped():
    svg = charts.horizontal_bars(
        "chart-types",
        title="Types <b>",
        description='Say "hi" & <script>alert(1)</script>',
        labels=["<img src=x onerror=alert(1)>", "Physio & Co"],
        values=[3, 1],
    )
    assert "<script" not in svg and "<img" not in svg and "<b>" not in svg
    assert "&lt;img src=x onerror=alert(1)&gt;" in svg and "Physio &amp; Co" in svg


def test_an_all_zero_chart_still_draws_its_axis():
    svg = charts.stacked_bars(
        "chart-z", title="Empty", description="Nothing", labels=["a"], series=[charts.Series("new", "New", [0])]
    )
    assert "data-value" not in svg and "<line" in svg and 'data-legend="new"' in svg
