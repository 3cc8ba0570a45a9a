"""IS, IV, RA, L5, M10 as pyActigraphy 1.2.2 computes them: the public example and hand-computed series."""

from datetime import datetime, time

import pytest

from clinic_app.health_data.analysis.circadian import (
    binarize,
    circadian_metrics,
    hourly_sums,
    interdaily_stability,
    intradaily_variability,
    lmx,
)

from .conftest import hourly, minutely


def test_example_01_matches_pyactigraphy_binarised(example_01):
    series = example_01.series
    assert interdaily_stability(series) == pytest.approx(0.527656245354158, abs=1e-9)
    assert intradaily_variability(series) == pytest.approx(0.32913524895082263, abs=1e-9)


def test_example_01_matches_pyactigraphy_raw_counts(example_01):
    series = example_01.series
    assert interdaily_stability(series, binarized=False) == pytest.approx(0.46561431150973936, abs=1e-9)
    assert intradaily_variability(series, binarized=False) == pytest.approx(0.7095292983583361, abs=1e-9)


def test_example_01_full_metrics(example_01):
    binarised = circadian_metrics(example_01.series)
    counts = circadian_metrics(example_01.series, binarized=False)
    assert binarised["interdaily_stability"] == pytest.approx(0.527656245354158, abs=1e-9)
    assert counts["intradaily_variability"] == pytest.approx(0.7095292983583361, abs=1e-9)
    # L5/M10 of the cyclic average day (values computed by this implementation, checked for sense:
    # the quiet window is at night, the active one in the day, RA = (M10 - L5) / (M10 + L5)).
    assert binarised["l5_onset"] == "02:02"
    assert binarised["m10_onset"] == "08:26"
    assert binarised["l5"] == pytest.approx(0.10512820512820513, abs=1e-12)
    assert binarised["m10"] == pytest.approx(0.7624465811965813, abs=1e-12)
    l5, m10 = binarised["l5"], binarised["m10"]
    assert binarised["relative_amplitude"] == pytest.approx((m10 - l5) / (m10 + l5), abs=1e-12)
    assert counts["l5_onset"] == "01:06"
    assert counts["m10"] == pytest.approx(253.43491452991452, rel=1e-12)


def test_binarize_is_strictly_above_four():
    assert binarize([0, 4, 4.5, 5, None, 300]) == [0.0, 0.0, 1.0, 1.0, None, 1.0]


def test_hourly_bins_are_anchored_at_the_first_epoch():
    start = datetime(2024, 3, 4, 13, 58)
    bins = hourly_sums(minutely(range(130), start=start), binarized=False)
    assert [b[0] for b in bins] == [start.replace(hour=13), start.replace(hour=14), start.replace(hour=15)]
    assert bins[0][1] == sum(range(60))
    assert bins[1][1] == sum(range(60, 120))
    assert bins[2][1] == sum(range(120, 130))  # the partial last bin is summed, as pandas does


def test_a_perfectly_periodic_three_day_series():
    # The same minute-level day three times: 72 hourly sums, each hour-of-day mean equal to its three
    # values. With S the sum of squared deviations of the 24 hour means, var(all) = 3S / 71 and
    # var(hour means) = S / 23, so pyActigraphy's IS is 71/69, not the textbook 1 (whose
    # normalisation N * sum / (p * sum) this implementation deliberately does not use).
    day = [(m // 60) * 3 + (m % 7) for m in range(1440)]
    series = minutely(day * 3)
    assert interdaily_stability(series, binarized=False) == pytest.approx(71 / 69, abs=1e-12)
    assert intradaily_variability(series, binarized=False) > 0


def test_alternating_hours_by_hand():
    # 48 hourly values 0, 10, 0, 10 ...: mean 5, var = 48 * 25 / 47; every squared step is 100;
    # the 24 hour-of-day means alternate 0, 10: var = 24 * 25 / 23.
    series = hourly([0, 10] * 24)
    assert intradaily_variability(series, binarized=False) == pytest.approx(100 / (1200 / 47), abs=1e-12)
    assert interdaily_stability(series, binarized=False) == pytest.approx((600 / 23) / (1200 / 47), abs=1e-12)


def test_a_constant_series_has_no_is_or_iv():
    series = hourly([3] * 48)
    assert interdaily_stability(series, binarized=False) is None
    assert intradaily_variability(series, binarized=False) is None


def test_missing_hours_are_left_out():
    values = [0, 10] * 24
    series = hourly(values).with_values([None, *values[1:]])
    # the first hour is missing: 47 values (23 zeros, 24 tens), 46 squared steps of 100
    mean = 240 / 47
    var = (23 * mean**2 + 24 * (10 - mean) ** 2) / 46
    assert intradaily_variability(series, binarized=False) == pytest.approx(100 / var, abs=1e-12)


def test_l5_m10_wrap_around_midnight():
    day = [5.0] * 24
    for h in (22, 23, 0, 1, 2):
        day[h] = 1.0
    for h in range(8, 18):
        day[h] = 10.0
    series = hourly(day * 2)
    assert lmx(series, 5, lowest=True, binarized=False) == (time(22, 0), 1.0)
    assert lmx(series, 10, lowest=False, binarized=False) == (time(8, 0), 10.0)
    metrics = circadian_metrics(series, binarized=False)
    assert metrics["relative_amplitude"] == pytest.approx(9 / 11, abs=1e-12)
    assert metrics["l5_onset"] == "22:00"
    assert metrics["m10_onset"] == "08:00"


def test_l5_needs_a_whole_day():
    assert lmx(hourly(range(20)), 5, lowest=True) is None
    assert circadian_metrics(hourly(range(20)))["relative_amplitude"] is None
