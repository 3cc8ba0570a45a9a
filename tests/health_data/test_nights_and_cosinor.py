"""Night measures on a hand-built night, main rest period detection (a synthetic week and the example
recording), and the cosinor on synthetic sines."""

import math
from datetime import datetime, timedelta

import pytest

from clinic_app.health_data.analysis.analyze import analyze
from clinic_app.health_data.analysis.cosinor import cosinor
from clinic_app.health_data.analysis.nights import habitual_rest_window, main_rest_periods, night_metrics

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


def _week(days=7, start=datetime(2024, 3, 4, 12, 0), night_for=lambda day: True):
    """Minute sleep flags from noon: a night 23:00-07:00 broken by one wake minute every 8 minutes
    (as a fragmented scoring gives), a 90-minute nap at 14:00, and a quiet afternoon and evening
    with 2 sleep-scored minutes every 40 minutes from 15:30 to 22:30."""
    flags = []
    for day in range(days):
        for minute in range(24 * 60):  # from noon
            clock = (12 * 60 + minute) % (24 * 60)
            if clock >= 23 * 60 or clock < 7 * 60:
                asleep = night_for(day) and minute % 8 != 7
            elif 14 * 60 <= clock < 15 * 60 + 30:
                asleep = True
            elif 15 * 60 + 30 <= clock < 22 * 60 + 30:
                asleep = (clock - (15 * 60 + 30)) % 40 < 2
            else:
                asleep = False
            flags.append(asleep)
    return flags, start


def test_a_nap_and_a_quiet_evening_do_not_join_the_night():
    flags, start = _week()
    periods = main_rest_periods(flags, start, MINUTE)
    first_nights = [datetime(2024, 3, 4 + day, 23, 0) for day in range(7)]
    assert periods == [(begin, begin + timedelta(hours=8)) for begin in first_nights]


def test_a_day_without_its_night_has_no_main_rest_period():
    # Day 3's night is missing (the device was off: no sleep scored), and that day holds a 4-hour doze.
    flags, start = _week(night_for=lambda day: day != 3)
    doze = (datetime(2024, 3, 7, 16, 0) - start) // MINUTE
    flags[doze : doze + 240] = [True] * 240
    periods = main_rest_periods(flags, start, MINUTE)
    assert len(periods) == 6
    assert all(begin.hour == 23 for begin, _ in periods)
    assert datetime(2024, 3, 7, 23, 0) not in [begin for begin, _ in periods]


def test_the_habitual_rest_window_is_where_sleep_is_most_often_scored():
    flags, start = _week()
    onset = habitual_rest_window(flags, start, MINUTE)
    assert onset >= 23 * 60 or onset <= 2 * 60  # five hours inside 23:00-07:00, not the 14:00 nap
    solid = [clock >= 23 * 60 or clock < 7 * 60 for clock in ((12 * 60 + m) % 1440 for m in range(3 * 1440))]
    assert habitual_rest_window(solid, start, MINUTE) == 0  # 23:00-02:00 all tie: the first from midnight
    assert habitual_rest_window([False] * 600, start, MINUTE) is None
    assert main_rest_periods([False] * 600, start, MINUTE) == []


def test_main_rest_periods_on_the_example_recording(example_01):
    nights = analyze(example_01.series)["sleep_metrics"]["nights"]
    begins = [datetime.fromisoformat(n["in_bed_start"]) for n in nights]
    ends = [datetime.fromisoformat(n["in_bed_end"]) for n in nights]
    # One night for each of the ten whole days worn. The recording starts at 13:58 and the device is
    # off that night and from the afternoon of 3 February: those windows have no night (they used to
    # get an afternoon block), and no night starts in the early afternoon any more.
    assert len(nights) == 10
    assert begins[0] == datetime(1918, 1, 24, 18, 51) and ends[-1] == datetime(1918, 2, 3, 7, 47)
    assert all(18 <= b.hour <= 23 for b in begins)
    assert all(6 <= e.hour <= 9 for e in ends)
    assert all(n["time_in_bed_minutes"] < 16 * 60 for n in nights)  # there were 20-hour "nights"
    assert all(n["sleep_onset_latency_minutes"] == 0 for n in nights)


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
