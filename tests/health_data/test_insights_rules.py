"""Insight statements: each rule at its threshold and just past it, missing measures say nothing,
the proxy and provisional wording, and every statement citing a metric path that resolves."""

import math

import pytest

from clinic_app.health_data.analysis.analyze import analyze
from clinic_app.health_data.insights import rules
from clinic_app.health_data.insights.rules import statements

WITHIN_CODES = [
    "wear_sufficient",
    "sleep_efficiency_healthy",
    "sleep_onset_latency_normal",
    "waso_normal",
    "total_sleep_normal",
    "rhythm_regular",
    "rhythm_consolidated",
    "rhythm_amplitude_normal",
]


def night(**values):
    base = {
        "in_bed_start": "2024-03-04T23:00:00",
        "in_bed_end": "2024-03-05T07:00:00",
        "time_in_bed_minutes": 480.0,
        "total_sleep_minutes": 450.0,
        "sleep_onset_latency_minutes": 10.0,
        "waso_minutes": 15.0,
        "awakenings": 2,
        "sleep_efficiency": 0.94,
        "nonwear_minutes": 0.0,
    }
    return base | values


def analysis(nights=None, *, source="given", days=14.0, wear=0.95, stability=0.6, variability=0.5, amplitude=0.9):
    return {
        "activity_patterns": {"daily_totals": [{"date": "2024-03-04", "total_counts": 1.0, "valid_minutes": 1.0}]},
        "sleep_metrics": {
            "algorithm": "cole_kripke",
            "in_bed_source": source,
            "nights": [night() for _ in range(3)] if nights is None else nights,
        },
        "circadian_rhythm": {
            "interdaily_stability": stability,
            "intradaily_variability": variability,
            "relative_amplitude": 0.5,  # the binarised RA: not the one the rule reads
            "counts": {"relative_amplitude": amplitude},
        },
        "confidence_scores": {"valid_wear_fraction": wear, "recording_days": days},
    }


def by_metric(found, metric):
    (statement,) = [s for s in found if s["metric"] == metric]
    return statement


def test_a_healthy_analysis_gets_one_within_statement_per_measure():
    found = statements(analysis())
    assert [s["code"] for s in found] == WITHIN_CODES
    assert {s["comparison"] for s in found} == {"within"}
    assert {s["severity"] for s in found} == {"info"}
    assert all(set(s) == {"code", "metric", "value", "threshold", "comparison", "severity", "text"} for s in found)
    assert not any("step counts" in s["text"] or "Provisional" in s["text"] for s in found)


def nights_of(key, value):
    return {"nights": [night(**{key: value}) for _ in range(3)]}


# (metric, analysis arguments at the threshold, just past it, code within, code past, comparison past,
#  threshold, how the text writes the value past the threshold)
BOUNDARIES = [
    (
        "sleep_metrics.nights[].sleep_efficiency",
        nights_of("sleep_efficiency", 0.85),
        nights_of("sleep_efficiency", 0.849),
        "sleep_efficiency_healthy",
        "sleep_efficiency_low",
        "below",
        0.85,
        "Mean sleep efficiency 84.9 % is under the 85 %",
    ),
    (
        "sleep_metrics.nights[].sleep_onset_latency_minutes",
        nights_of("sleep_onset_latency_minutes", 30.0),
        nights_of("sleep_onset_latency_minutes", 30.4),
        "sleep_onset_latency_normal",
        "sleep_onset_latency_long",
        "above",
        30.0,
        "Mean sleep onset latency 30.4 min is over the 30 min",
    ),
    (
        "sleep_metrics.nights[].waso_minutes",
        nights_of("waso_minutes", 30.0),
        nights_of("waso_minutes", 31.0),
        "waso_normal",
        "waso_long",
        "above",
        30.0,
        "Mean wake after sleep onset 31 min is over the 30 min",
    ),
    (
        "sleep_metrics.nights[].total_sleep_minutes",
        nights_of("total_sleep_minutes", 420.0),
        nights_of("total_sleep_minutes", 414.0),
        "total_sleep_normal",
        "total_sleep_short",
        "below",
        420.0,
        "Mean total sleep 6.9 h is under the 7 h",
    ),
    (
        "sleep_metrics.nights[].total_sleep_minutes",
        nights_of("total_sleep_minutes", 540.0),
        nights_of("total_sleep_minutes", 546.0),
        "total_sleep_normal",
        "total_sleep_long",
        "above",
        540.0,
        "Mean total sleep 9.1 h is over the 9 h",
    ),
    (
        "circadian_rhythm.interdaily_stability",
        {"stability": 0.4},
        {"stability": 0.3999},
        "rhythm_regular",
        "rhythm_irregular",
        "below",
        0.4,
        "Interdaily stability 0.3999 is under 0.40",
    ),
    (
        "circadian_rhythm.intradaily_variability",
        {"variability": 1.0},
        {"variability": 1.0001},
        "rhythm_consolidated",
        "rhythm_fragmented",
        "above",
        1.0,
        "Intradaily variability 1.0001 is over 1.00",
    ),
    (
        "circadian_rhythm.counts.relative_amplitude",
        {"amplitude": 0.8},
        {"amplitude": 0.7999},
        "rhythm_amplitude_normal",
        "rhythm_amplitude_low",
        "below",
        0.8,
        "Relative amplitude 0.7999 is under 0.80",
    ),
    (
        "confidence_scores.valid_wear_fraction",
        {"wear": 0.7},
        {"wear": 0.6999},
        "wear_sufficient",
        "wear_low",
        "below",
        0.7,
        "Valid wear 69.99 % of the recording is under 70 %",
    ),
]


@pytest.mark.parametrize(
    ("metric", "at", "past", "within_code", "past_code", "comparison", "threshold", "wording"),
    BOUNDARIES,
    ids=[f"{b[4]}" for b in BOUNDARIES],
)
def test_each_rule_fires_just_past_its_threshold_and_not_at_it(
    metric, at, past, within_code, past_code, comparison, threshold, wording
):
    at_threshold = by_metric(statements(analysis(**at)), metric)
    assert (at_threshold["code"], at_threshold["comparison"], at_threshold["severity"]) == (
        within_code,
        "within",
        "info",
    )
    assert at_threshold["threshold"] == threshold

    fired = by_metric(statements(analysis(**past)), metric)
    assert (fired["code"], fired["comparison"], fired["severity"]) == (past_code, comparison, "attention")
    assert fired["threshold"] == threshold
    expected_value = next(iter(past.values()))
    if isinstance(expected_value, list):  # the nights: every night carries the same value
        expected_value = next(v for k, v in expected_value[0].items() if metric.endswith(k))
    assert fired["value"] == pytest.approx(expected_value)
    assert fired["text"].startswith(wording)
    assert "et al." in fired["text"] or "accelerometry criterion" in fired["text"]  # the reference


def test_a_short_recording_makes_the_rhythm_statements_provisional():
    found = statements(analysis(days=6.99))
    provisional = by_metric(found, "confidence_scores.recording_days")
    assert (provisional["code"], provisional["comparison"], provisional["severity"]) == (
        "rhythm_provisional",
        "below",
        "attention",
    )
    assert provisional["value"] == 6.99 and provisional["threshold"] == 7.0
    assert provisional["text"].startswith("The recording lasts 6.99 days, under the 7 days")
    for s in found:
        rhythm = s["metric"].startswith("circadian_rhythm.")
        assert ("Provisional: the recording is shorter than 7 days." in s["text"]) == rhythm
    seven = statements(analysis(days=7.0))
    assert "rhythm_provisional" not in [s["code"] for s in seven]
    assert not any("Provisional" in s["text"] for s in seven)


def test_sleep_efficiency_counts_the_nights_under_the_threshold():
    nights = [night(sleep_efficiency=e) for e in (0.9, 0.8, 0.7)]
    statement = by_metric(statements(analysis(nights)), "sleep_metrics.nights[].sleep_efficiency")
    assert statement["code"] == "sleep_efficiency_low"
    assert statement["value"] == pytest.approx(0.8)
    assert "Mean sleep efficiency 80 % is under the 85 % usually taken as healthy sleep" in statement["text"]
    assert "2 of 3 nights were under 85 %" in statement["text"]
    assert "(Ohayon et al. 2017)" in statement["text"]
    one = by_metric(statements(analysis([night(sleep_efficiency=0.8)])), statement["metric"])
    assert "1 of 1 night was under 85 %" in one["text"]


def test_missing_measures_give_no_statement():
    assert statements({}) == []
    empty = statements(analysis([], days=None, wear=None, stability=None, variability=None, amplitude=None))
    assert empty == []
    no_nights = statements(analysis([]))
    assert not any(s["metric"].startswith("sleep_metrics.") for s in no_nights)
    assert len(no_nights) == 4  # wear and the three rhythm measures
    odd = statements(analysis(stability=float("nan"), variability=True, amplitude="0.9"))
    assert not any(s["metric"].startswith("circadian_rhythm.") for s in odd)


def test_a_night_without_a_value_is_left_out_of_the_mean():
    nights = [night(sleep_onset_latency_minutes=None), night(sleep_onset_latency_minutes=40.0), night()]
    statement = by_metric(statements(analysis(nights)), "sleep_metrics.nights[].sleep_onset_latency_minutes")
    assert statement["value"] == pytest.approx(25.0)  # (40 + 10) / 2, not / 3
    assert "1 of 2 nights was over 30 min" in statement["text"]
    none = statements(analysis([night(sleep_onset_latency_minutes=None)]))
    assert "sleep_onset_latency_normal" not in [s["code"] for s in none]


def test_detected_rest_periods_have_no_latency_statement_and_say_how_efficiency_was_measured():
    found = statements(analysis(source="detected_main_rest_period"))
    assert not any("sleep_onset_latency" in s["code"] for s in found)
    efficiency = by_metric(found, "sleep_metrics.nights[].sleep_efficiency")
    assert efficiency["text"].endswith(rules.DETECTED_NOTE)
    given = by_metric(statements(analysis()), "sleep_metrics.nights[].sleep_efficiency")
    assert rules.DETECTED_NOTE not in given["text"]


def test_proxy_statements_say_the_measures_come_from_step_counts():
    plain = statements(analysis(days=5))
    proxy = statements(analysis(days=5), proxy=True)
    assert [s["code"] for s in proxy] == [s["code"] for s in plain]
    for before, after in zip(plain, proxy, strict=True):
        assert after["text"] == before["text"] + " " + rules.PROXY_NOTE
        assert "step counts, a proxy" in after["text"]
    assert not any("step counts" in s["text"] for s in plain)


def resolve(result, metric):
    """The value at a statement's metric path; ``nights[]`` is the mean over the nights that have it."""
    node = result
    parts = metric.split(".")
    for i, part in enumerate(parts):
        if part.endswith("[]"):
            key = parts[i + 1]
            values = [n[key] for n in node[part[:-2]] if n[key] is not None]
            return math.fsum(values) / len(values)
        node = node[part]
    return node


def test_on_the_example_recording_every_metric_path_resolves_to_the_value(example_01):
    result = analyze(example_01.series)
    found = statements(result)
    assert len(found) >= 6
    for s in found:
        assert s["value"] == pytest.approx(resolve(result, s["metric"])), s["code"]
    codes = [s["code"] for s in found]
    assert "sleep_onset_latency_normal" not in codes  # detected periods: latency is 0 by construction
    assert "rhythm_regular" in codes and "rhythm_consolidated" in codes
