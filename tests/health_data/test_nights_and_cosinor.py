"""Night measures on a hand-built night, main rest period detection, and the cosinor on synthetic sines."""

import math
from datetime import datetime, timedelta

import pytest

from clinic_app.health_data.analysis.cosinor import cosinor
from clinic_app.health_data.analysis.nights import main_rest_periods, night_metrics

MINUTE = timedelta(minutes=1)
START = datetime(2024, 3, 4, 22, 0)


def test_night_by_hand():
    # From 22:00: 10 wake, 20 sleep, 5 wake, 30 sleep, 1 wake, 4 sleep, 10 wake; in bed 22:00-23:20.
    s, w = True, False
    sleep = [w] * 10 + [s] * 20 + [w] * 5 + [s] * 30 + [w] * 1 + [s] * 4 + [w] * 10
    night = night_metrics(sleep, START, MINUTE, START, START + timedelta(minutes=80))
    assert night["time_in_bed_minutes"] == 80
    assert night["total_sleep_minutes"] == 54
    assert night["sleep_onset_latency_minutes"] == 10
    assert night["waso_minutes"] == 6
    assert night["awakenings"] == 2
    assert night["sleep_efficiency"] == pytest.approx(54 / 80)


def test_night_interval_inside_the_record():
    sleep = [False] * 10 + [True] * 60 + [False] * 10
    # in bed from 22:05 to 22:45: 5 wake minutes then 35 asleep
    night = night_metrics(sleep, START, MINUTE, START + timedelta(minutes=5), START + timedelta(minutes=45))
    assert night["total_sleep_minutes"] == 35
    assert night["sleep_onset_latency_minutes"] == 5
    assert night["waso_minutes"] == 0 and night["awakenings"] == 0
    empty = night_metrics([False] * 30, START, MINUTE, START, START + timedelta(minutes=30))
    assert empty["total_sleep_minutes"] == 0 and empty["sleep_onset_latency_minutes"] is None


def test_main_rest_period_bridges_short_wake():
    start = datetime(2024, 3, 4, 12, 0)
    sleep = [False] * 600  # 12:00-22:00 awake
    sleep += [True] * 120 + [False] * 30 + [True] * 300  # 22:00-05:30, a 30-minute wake bridged
    sleep += [False] * 90 + [True] * 20 + [False] * 280  # a 20-minute nap next morning is too short
    periods = main_rest_periods(sleep, start, MINUTE)
    assert periods == [(datetime(2024, 3, 4, 22, 0), datetime(2024, 3, 5, 5, 30))]


def _sine(mesor, amplitude, peak_hour, days=3, step_minutes=10, start=datetime(2024, 3, 4, 0, 0)):
    times, values = [], []
    for k in range(days * 24 * 60 // step_minutes):
        moment = start + timedelta(minutes=k * step_minutes)
        hours = (moment - start).total_seconds() / 3600
        times.append(moment)
        values.append(mesor + amplitude * math.cos(2 * math.pi * (hours - peak_hour) / 24))
    return times, values


def test_cosinor_recovers_a_sine():
    times, values = _sine(100, 40, 15.5)
    fit = cosinor(times, values)
    assert fit["mesor"] == pytest.approx(100, abs=1e-9)
    assert fit["amplitude"] == pytest.approx(40, abs=1e-9)
    assert fit["acrophase_hours"] == pytest.approx(15.5, abs=1e-9)
    assert fit["r_squared"] == pytest.approx(1.0, abs=1e-12)


def test_cosinor_acrophase_is_the_recorded_clock_time():
    # Starting at 13:58 and peaking at 02:30 clock time: the acrophase is 2.5 whatever the start.
    start = datetime(2024, 3, 4, 13, 58)
    times, values = _sine(10, 5, 2.5 + 24 - (13 + 58 / 60), start=start)
    fit = cosinor(times, values)
    assert fit["acrophase_hours"] == pytest.approx(2.5, abs=1e-9)


def test_cosinor_with_noise_and_missing_points():
    times, values = _sine(50, 20, 8.0, days=7)
    noisy = [v + (7 if i % 2 else -7) for i, v in enumerate(values)]
    noisy[5] = None
    fit = cosinor(times, noisy)
    assert fit["amplitude"] == pytest.approx(20, abs=0.1)
    assert fit["acrophase_hours"] == pytest.approx(8.0, abs=0.05)
    assert 0.8 < fit["r_squared"] < 0.9  # explained 200 of 249 units of variance
    assert cosinor(times[:2], values[:2]) is None
