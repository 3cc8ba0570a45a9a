"""Statements about an actigraphy analysis: each compares one measure with a published threshold.

``statements(analysis)`` reads the dict ``analysis.analyze.analyze()`` returns and gives one
statement per measure that is there: ``{code, metric, value, threshold, comparison, severity,
text}``. ``metric`` is a dotted path into the analysis; ``nights[]`` marks the mean over the nights
(nights without the measure left out), in the analysis' own units (efficiency as a fraction,
durations in minutes). ``comparison`` says where the value lies against ``threshold``: ``below``,
``above`` or ``within`` (the healthy side, severity ``info``); ``attention`` marks the rest. A
measure that is missing (None, no nights, not finite) gives no statement. Thresholds, their
sources and the boundaries (a value exactly at a threshold is within) are in docs/health-data.md,
"Insights". These are screening observations for a clinician, not diagnoses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from clinic_app.health_data.analysis.analyze import MIN_DAYS_FOR_RHYTHM

# Sleep efficiency (total sleep / time in bed) of 85 % or more marks good sleep quality in adults:
# National Sleep Foundation, Ohayon et al. 2017, Sleep Health 3:6-19.
SLEEP_EFFICIENCY_MIN = 0.85
# Falling asleep in more than 30 minutes: the quantitative insomnia criterion of Lichstein et al.
# 2003 (Behav Res Ther 41:427-445); 30 minutes or less is good quality in Ohayon et al. 2017.
SLEEP_ONSET_LATENCY_MAX_MINUTES = 30.0
# More than 30 minutes awake after sleep onset: Lichstein et al. 2003, as for latency.
WASO_MAX_MINUTES = 30.0
# At least 7 hours for adults: AASM/SRS consensus, Watson et al. 2015, Sleep 38:843-844.
TOTAL_SLEEP_MIN_MINUTES = 7 * 60.0
# 7 to 9 hours recommended for adults 18-64: National Sleep Foundation, Hirshkowitz et al. 2015,
# Sleep Health 1:40-43 (7-8 h from 65); more than 9 h is past the recommended range.
TOTAL_SLEEP_MAX_MINUTES = 9 * 60.0
# IS runs from 0 (no two days alike) to 1 (identical days): Witting et al. 1990, Biol Psychiatry
# 27:563-572; Van Someren et al. 1999, Chronobiol Int 16:505-518. Below 0.4 is read here as an
# irregular rhythm: a screening convention, not a validated clinical cut-off.
INTERDAILY_STABILITY_MIN = 0.4
# IV is near 0 for a smooth daily wave and near 2 for noise (Van Someren et al. 1999); above 1 is
# read here as a fragmented rhythm (the same kind of convention).
INTRADAILY_VARIABILITY_MAX = 1.0
# RA = (M10 - L5) / (M10 + L5) on activity counts (Van Someren et al. 1999); below 0.8 is read here
# as a low day/night contrast (convention). The count variant is used: the binarised one runs lower.
RELATIVE_AMPLITUDE_MIN = 0.8
# Share of the recording worn; 0.7 of 24 h is about 17 h, near the 16-hour valid day that
# accelerometry processing commonly asks for (GGIR's default, van Hees et al.).
VALID_WEAR_MIN = 0.7
# Days of recording usually asked for IS/IV (Van Someren et al. 1999); shorter = provisional.
MIN_RECORDING_DAYS = float(MIN_DAYS_FOR_RHYTHM)

PROXY_NOTE = "Sleep and rhythm measures here come from step counts, a proxy for wrist activity counts."
PROVISIONAL_NOTE = "Provisional: the recording is shorter than {days:g} days."
DETECTED_NOTE = "Measured over the detected rest periods (first to last sleep), as no time in bed was given."


@dataclass(frozen=True)
class _Context:
    analysis: Mapping[str, Any]
    nights: list[Mapping[str, Any]]
    detected: bool  # nights are detected rest periods, not reported times in bed
    provisional: bool  # the recording is too short for rhythm measures


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _at(analysis: Mapping[str, Any], path: str) -> float | None:
    node: Any = analysis
    for key in path.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return _number(node)


def _night_values(context: _Context, key: str) -> list[float]:
    return [v for v in (_number(night.get(key)) for night in context.nights) if v is not None]


def _figure(value: float, against: float, decimals: int) -> str:
    """``value`` with ``decimals`` decimals, or up to 4 more where it would otherwise print the same
    as the threshold it is compared with (0.849 is "84.9 %", never "85 %" under "85 %")."""
    places = decimals
    while value != against and places < decimals + 4 and f"{value:.{places}f}" == f"{against:.{places}f}":
        places += 1
    return f"{value:.{places}f}"


def _percent(fraction: float, against: float) -> str:
    return f"{_figure(fraction * 100, against * 100, 0)} %"


def _hours(minutes: float, against: float) -> str:
    return f"{_figure(minutes / 60, against / 60, 1)} h"


def _limit_hours(minutes: float) -> str:
    return f"{minutes / 60:g} h"


def _statement(code: str, metric: str, value: float, threshold: float, comparison: str, text: str) -> dict:
    severity = "info" if comparison == "within" else "attention"
    return {
        "code": code,
        "metric": metric,
        "value": value,
        "threshold": threshold,
        "comparison": comparison,
        "severity": severity,
        "text": text,
    }


def _of_nights(count: int, total: int, side: str, limit: str) -> str:
    return f"{count} of {total} night{'s' if total != 1 else ''} {'was' if count == 1 else 'were'} {side} {limit}"


# --- confidence ---------------------------------------------------------------------------------


def _valid_wear(context: _Context) -> dict | None:
    metric = "confidence_scores.valid_wear_fraction"
    value = _at(context.analysis, metric)
    if value is None:
        return None
    if value < VALID_WEAR_MIN:
        text = (
            f"Valid wear {_percent(value, VALID_WEAR_MIN)} of the recording is under {VALID_WEAR_MIN * 100:.0f} %: low "
            "confidence in every measure here (a 16-hour valid day is the usual accelerometry criterion)."
        )
        return _statement("wear_low", metric, value, VALID_WEAR_MIN, "below", text)
    text = f"Valid wear {_percent(value, VALID_WEAR_MIN)} of the recording is at or above {VALID_WEAR_MIN * 100:.0f} %."
    return _statement("wear_sufficient", metric, value, VALID_WEAR_MIN, "within", text)


def _recording_length(context: _Context) -> dict | None:
    metric = "confidence_scores.recording_days"
    value = _at(context.analysis, metric)
    if value is None or value >= MIN_RECORDING_DAYS:
        return None
    text = (
        f"The recording lasts {_figure(value, MIN_RECORDING_DAYS, 1)} days, under the {MIN_RECORDING_DAYS:g} days "
        "usually asked for rhythm measures (Van Someren et al. 1999): interdaily stability, intradaily "
        "variability and relative amplitude are provisional."
    )
    return _statement("rhythm_provisional", metric, value, MIN_RECORDING_DAYS, "below", text)


# --- sleep --------------------------------------------------------------------------------------


def _sleep_efficiency(context: _Context) -> dict | None:
    values = _night_values(context, "sleep_efficiency")
    if not values:
        return None
    mean = math.fsum(values) / len(values)
    under = sum(1 for v in values if v < SLEEP_EFFICIENCY_MIN)
    limit = f"{SLEEP_EFFICIENCY_MIN * 100:.0f} %"
    nights = _of_nights(under, len(values), "under", limit)
    if mean < SLEEP_EFFICIENCY_MIN:
        code, comparison, side = "sleep_efficiency_low", "below", "is under"
    else:
        code, comparison, side = "sleep_efficiency_healthy", "within", "is at or above"
    shown = _percent(mean, SLEEP_EFFICIENCY_MIN)
    text = f"Mean sleep efficiency {shown} {side} the {limit} usually taken as healthy sleep; {nights}"
    text += " (Ohayon et al. 2017)."
    if context.detected:
        text += " " + DETECTED_NOTE
    metric = "sleep_metrics.nights[].sleep_efficiency"
    return _statement(code, metric, mean, SLEEP_EFFICIENCY_MIN, comparison, text)


def _over_limit(
    context: _Context, key: str, limit: float, codes: tuple[str, str], label: str, reference: str
) -> dict | None:
    values = _night_values(context, key)
    if not values:
        return None
    mean = math.fsum(values) / len(values)
    over = sum(1 for v in values if v > limit)
    nights = _of_nights(over, len(values), "over", f"{limit:g} min")
    if mean > limit:
        code, comparison, side = codes[0], "above", "is over"
    else:
        code, comparison, side = codes[1], "within", "is within"
    shown = _figure(mean, limit, 0)
    text = f"Mean {label} {shown} min {side} the {limit:g} min usually taken as the limit; {nights} ({reference})."
    return _statement(code, f"sleep_metrics.nights[].{key}", mean, limit, comparison, text)


def _sleep_onset_latency(context: _Context) -> dict | None:
    if context.detected:  # a detected period starts at the first sleep: latency is 0 by construction
        return None
    return _over_limit(
        context,
        "sleep_onset_latency_minutes",
        SLEEP_ONSET_LATENCY_MAX_MINUTES,
        ("sleep_onset_latency_long", "sleep_onset_latency_normal"),
        "sleep onset latency",
        "Lichstein et al. 2003; Ohayon et al. 2017",
    )


def _waso(context: _Context) -> dict | None:
    return _over_limit(
        context,
        "waso_minutes",
        WASO_MAX_MINUTES,
        ("waso_long", "waso_normal"),
        "wake after sleep onset",
        "Lichstein et al. 2003",
    )


def _total_sleep(context: _Context) -> dict | None:
    values = _night_values(context, "total_sleep_minutes")
    if not values:
        return None
    mean = math.fsum(values) / len(values)
    metric = "sleep_metrics.nights[].total_sleep_minutes"
    low, high = _limit_hours(TOTAL_SLEEP_MIN_MINUTES), _limit_hours(TOTAL_SLEEP_MAX_MINUTES)
    if mean < TOTAL_SLEEP_MIN_MINUTES:
        under = sum(1 for v in values if v < TOTAL_SLEEP_MIN_MINUTES)
        text = (
            f"Mean total sleep {_hours(mean, TOTAL_SLEEP_MIN_MINUTES)} is under the {low} recommended for adults; "
            f"{_of_nights(under, len(values), 'under', low)} (Watson et al. 2015)."
        )
        return _statement("total_sleep_short", metric, mean, TOTAL_SLEEP_MIN_MINUTES, "below", text)
    if mean > TOTAL_SLEEP_MAX_MINUTES:
        over = sum(1 for v in values if v > TOTAL_SLEEP_MAX_MINUTES)
        text = (
            f"Mean total sleep {_hours(mean, TOTAL_SLEEP_MAX_MINUTES)} is over the {high} upper end of the range "
            "recommended for adults; "
            f"{_of_nights(over, len(values), 'over', high)} (Hirshkowitz et al. 2015)."
        )
        return _statement("total_sleep_long", metric, mean, TOTAL_SLEEP_MAX_MINUTES, "above", text)
    text = (
        f"Mean total sleep {mean / 60:.1f} h is within the {low} to {high} recommended for adults "
        "(Watson et al. 2015; Hirshkowitz et al. 2015)."
    )
    # within the range, the threshold given is the nearer of its two ends
    low_end, high_end = TOTAL_SLEEP_MIN_MINUTES, TOTAL_SLEEP_MAX_MINUTES
    nearer = high_end if high_end - mean < mean - low_end else low_end
    return _statement("total_sleep_normal", metric, mean, nearer, "within", text)


# --- rest-activity rhythm -----------------------------------------------------------------------


def _rhythm(context: _Context, statement: dict | None) -> dict | None:
    if statement is not None and context.provisional:
        statement["text"] += " " + PROVISIONAL_NOTE.format(days=MIN_RECORDING_DAYS)
    return statement


def _interdaily_stability(context: _Context) -> dict | None:
    metric = "circadian_rhythm.interdaily_stability"
    value = _at(context.analysis, metric)
    if value is None:
        return None
    scale = "IS runs from 0, no two days alike, to 1, identical days; Witting et al. 1990; Van Someren et al. 1999"
    limit = INTERDAILY_STABILITY_MIN
    shown = _figure(value, limit, 2)
    if value < limit:
        text = f"Interdaily stability {shown} is under {limit:.2f}: an irregular day-to-day rhythm ({scale})."
        return _rhythm(context, _statement("rhythm_irregular", metric, value, limit, "below", text))
    text = f"Interdaily stability {shown} is at or above {limit:.2f}: days follow a similar pattern ({scale})."
    return _rhythm(context, _statement("rhythm_regular", metric, value, limit, "within", text))


def _intradaily_variability(context: _Context) -> dict | None:
    metric = "circadian_rhythm.intradaily_variability"
    value = _at(context.analysis, metric)
    if value is None:
        return None
    scale = "IV is near 0 for a smooth daily wave and near 2 for noise; Van Someren et al. 1999"
    limit = INTRADAILY_VARIABILITY_MAX
    shown = _figure(value, limit, 2)
    if value > limit:
        text = (
            f"Intradaily variability {shown} is over {limit:.2f}: a fragmented rhythm with frequent "
            f"switches between rest and activity ({scale})."
        )
        return _rhythm(context, _statement("rhythm_fragmented", metric, value, limit, "above", text))
    text = f"Intradaily variability {shown} is at or under {limit:.2f}: rest and activity are consolidated ({scale})."
    return _rhythm(context, _statement("rhythm_consolidated", metric, value, limit, "within", text))


def _relative_amplitude(context: _Context) -> dict | None:
    metric = "circadian_rhythm.counts.relative_amplitude"
    value = _at(context.analysis, metric)
    if value is None:
        return None
    scale = "the most active 10 hours against the least active 5; Van Someren et al. 1999"
    limit = RELATIVE_AMPLITUDE_MIN
    shown = _figure(value, limit, 2)
    if value < limit:
        text = f"Relative amplitude {shown} is under {limit:.2f}: a low day/night contrast in activity ({scale})."
        return _rhythm(context, _statement("rhythm_amplitude_low", metric, value, limit, "below", text))
    text = f"Relative amplitude {shown} is at or above {limit:.2f}: a clear day/night contrast ({scale})."
    return _rhythm(context, _statement("rhythm_amplitude_normal", metric, value, limit, "within", text))


RULES: tuple[Callable[[_Context], dict | None], ...] = (
    _valid_wear,
    _recording_length,
    _sleep_efficiency,
    _sleep_onset_latency,
    _waso,
    _total_sleep,
    _interdaily_stability,
    _intradaily_variability,
    _relative_amplitude,
)


def statements(analysis: Mapping[str, Any], *, proxy: bool = False) -> list[dict]:
    """The statements about ``analysis`` (the dict ``analyze()`` returns), in a fixed order:
    confidence, then sleep, then rhythm. ``proxy=True`` (step data instead of activity counts) adds
    ``PROXY_NOTE`` to every text. Pure: reads nothing but ``analysis``."""
    sleep_metrics = analysis.get("sleep_metrics") or {}
    nights = [night for night in sleep_metrics.get("nights") or [] if isinstance(night, Mapping)]
    days = _at(analysis, "confidence_scores.recording_days")
    context = _Context(
        analysis=analysis,
        nights=nights,
        detected=sleep_metrics.get("in_bed_source") == "detected_main_rest_period",
        provisional=days is not None and days < MIN_RECORDING_DAYS,
    )
    found = [statement for rule in RULES if (statement := rule(context)) is not None]
    if proxy:
        for statement in found:
            statement["text"] += " " + PROXY_NOTE
    return found
