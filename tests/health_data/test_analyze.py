"""analyze(): the seed's ActigraphyAnalysis shape filled with the documented values."""

from datetime import datetime, timedelta, timezone

import pytest

from clinic_app.health_data.analysis.analyze import analyze


def test_example_01_analysis(example_01):
    result = analyze(example_01.series)
    assert list(result) == [
        "activity_patterns",
        "sleep_metrics",
        "circadian_rhythm",
        "feature_embeddings",
        "confidence_scores",
    ]
    rhythm = result["circadian_rhythm"]
    assert rhythm["interdaily_stability"] == pytest.approx(0.527656245354158, abs=1e-9)
    assert rhythm["intradaily_variability"] == pytest.approx(0.32913524895082263, abs=1e-9)
    assert rhythm["counts"]["interdaily_stability"] == pytest.approx(0.46561431150973936, abs=1e-9)
    assert rhythm["counts"]["intradaily_variability"] == pytest.approx(0.7095292983583361, abs=1e-9)
    assert len(result["feature_embeddings"]) == 24
    assert max(result["feature_embeddings"]) == 1.0
    assert result["activity_patterns"]["most_active_hour"] == 11
    assert result["activity_patterns"]["least_active_hour"] == 3
    assert result["confidence_scores"]["nonwear_minutes"] == 2800
    assert result["confidence_scores"]["valid_wear_fraction"] == pytest.approx(15601 / 18401)
    assert result["sleep_metrics"]["algorithm"] == "cole_kripke"
    assert len(result["sleep_metrics"]["nights"]) >= 10


def _points(hours, tz=None):
    start = datetime(2024, 3, 4, 0, 0, tzinfo=tz)
    points = []
    for minute in range(hours * 60):
        moment = start + timedelta(minutes=minute)
        value = 2 if 0 <= moment.hour < 7 else 300  # still 00:00-07:00 (2 counts: not non-wear), active after
        points.append({"timestamp": moment.isoformat(), "value": value})
    return points


def test_points_with_an_offset_keep_their_clock():
    plus9 = analyze(_points(72, timezone(timedelta(hours=9))))
    naive = analyze(_points(72))
    assert plus9 == naive  # read in the recorded offset: nothing moves to UTC
    patterns = naive["activity_patterns"]
    assert patterns["hourly_mean_counts"][:7] == [2.0] * 7
    assert patterns["hourly_mean_counts"][7:] == [300.0] * 17
    assert patterns["least_active_hour"] == 0 and patterns["most_active_hour"] == 7
    assert patterns["sedentary_minutes_per_day"] == 7 * 60
    assert patterns["active_minutes_per_day"] == 17 * 60
    assert naive["confidence_scores"]["valid_wear_fraction"] == 1.0
    zeros = [dict(p, value=0 if p["value"] == 2 else 300) for p in _points(72)]
    # with 0 instead of 2 the 7-hour nights are zero runs >= 90 minutes: non-wear, left out
    assert analyze(zeros)["confidence_scores"]["valid_wear_fraction"] == pytest.approx(17 / 24)
    assert analyze(zeros)["activity_patterns"]["sedentary_minutes_per_day"] == 0
    rhythm = naive["circadian_rhythm"]
    assert rhythm["l5_onset"] == "00:00" and rhythm["l5"] == 0.0
    assert rhythm["relative_amplitude"] == 1.0


def test_given_in_bed_interval_and_sampling_rate():
    points = _points(48)
    night = (datetime(2024, 3, 4, 23, 30), datetime(2024, 3, 5, 7, 30))
    result = analyze(points, in_bed=[night], algorithm="oakley")
    (measured,) = result["sleep_metrics"]["nights"]
    # Oakley (medium, 40): 00:00 totals 2 + 0.2*300 + 0.04*300 = 74 and 06:59 likewise (wake); 00:01
    # totals 0.04*300 + 1.24*2 = 14.48 (sleep): asleep 00:01-06:58, 418 minutes, onset 31 minutes after 23:30
    assert measured["sleep_onset_latency_minutes"] == 31
    assert measured["total_sleep_minutes"] == 418
    assert measured["waso_minutes"] == 0 and measured["awakenings"] == 0
    assert measured["sleep_efficiency"] == pytest.approx(418 / 480)
    assert measured["nonwear_minutes"] == 0
    assert result["sleep_metrics"]["in_bed_source"] == "given"
    half = analyze([{"timestamp": "2024-03-04T00:00:00", "value": 1}] * 2, sampling_rate=2.0, algorithm="oakley")
    assert half["confidence_scores"]["recording_days"] == pytest.approx(30 / 86400)
