"""A plain-language paragraph from the insight statements: written offline from the statements
alone, or by the configured language model (``clinic_app.core.llm``) with the offline paragraph as
the fallback.

The model is sent the statements and a few key numbers of the analysis (no dates, no names, no
identifiers: nothing that points at the patient) and asked for ``{"narrative": "..."}``. A timeout,
an HTTP error or an unusable answer gives the offline paragraph and says why in
``fallback_reason``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from clinic_app.core import llm as core_llm
from clinic_app.core.llm import LlmFailed, LlmSettings
from clinic_app.health_data.insights.rules import PROXY_NOTE

log = logging.getLogger("clinic_app.health_data.insights")

NARRATIVE_CHAR_LIMIT = 2000
NO_DATA = "This recording does not hold enough data to comment on sleep or the daily rest-activity rhythm."
CLOSING = (
    "These are screening observations from a wearable device, to be read with the clinical picture, not a diagnosis."
)

SYSTEM_PROMPT = (
    "You summarise wearable activity and sleep measures for a clinician in plain language. Use only the "
    "statements and numbers given; never add findings, diagnoses, causes or advice. Write 3 to 5 sentences "
    "of plain text (no lists, no Markdown), mentioning first what needs attention, and say when the figures "
    "are uncertain (low wear, a short recording, step counts used as a proxy). "
    'Answer with one JSON object: {"narrative": "<the paragraph>"} and nothing else.'
)

# Statements that qualify every other one rather than describe the patient; good wear goes unsaid.
CAVEATS = ("wear_low", "rhythm_provisional")
UNSAID = ("wear_sufficient",)


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.0f} %"


def _hours(minutes: float) -> str:
    return f"{minutes / 60:.1f}".removesuffix(".0") + " hours"


PHRASES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "wear_low": lambda s: (
        f"the device was worn for only {_percent(s['value'])} of the recording, so every figure is uncertain"
    ),
    "rhythm_provisional": lambda s: (
        f"the recording covers {s['value']:.1f} days, fewer than the {s['threshold']:g} usually needed, "
        "so the daily-rhythm figures are provisional"
    ),
    "sleep_efficiency_low": lambda s: (
        f"less of the night was spent asleep than in healthy sleep ({_percent(s['value'])}, "
        f"against {_percent(s['threshold'])})"
    ),
    "sleep_efficiency_healthy": lambda s: f"most of the night was spent asleep ({_percent(s['value'])})",
    "sleep_onset_latency_long": lambda s: (
        f"falling asleep took {s['value']:.0f} minutes on average, longer than {s['threshold']:g} minutes"
    ),
    "sleep_onset_latency_normal": lambda s: f"falling asleep took {s['value']:.0f} minutes on average",
    "waso_long": lambda s: (
        f"time awake after first falling asleep averaged {s['value']:.0f} minutes a night, "
        f"more than {s['threshold']:g} minutes"
    ),
    "waso_normal": lambda s: f"time awake during the night averaged {s['value']:.0f} minutes",
    "total_sleep_short": lambda s: (
        f"sleep averaged {_hours(s['value'])} a night, less than the {_hours(s['threshold'])} recommended for adults"
    ),
    "total_sleep_long": lambda s: (
        f"sleep averaged {_hours(s['value'])} a night, more than the usual upper limit of {_hours(s['threshold'])}"
    ),
    "total_sleep_normal": lambda s: f"sleep averaged {_hours(s['value'])} a night, within the recommended range",
    "rhythm_irregular": lambda s: "the daily pattern of rest and activity changed a lot from one day to the next",
    "rhythm_regular": lambda s: "the daily pattern of rest and activity was similar from day to day",
    "rhythm_fragmented": lambda s: "rest and activity alternated often within the day",
    "rhythm_consolidated": lambda s: "rest and activity came in consolidated blocks",
    "rhythm_amplitude_low": lambda s: "the contrast between active days and quiet nights was small",
    "rhythm_amplitude_normal": lambda s: "days were clearly more active than nights",
}


def _phrase(statement: Mapping[str, Any]) -> str:
    plain = PHRASES.get(statement.get("code", ""))
    if plain is not None:
        return plain(statement)
    text = str(statement.get("text", "")).strip().rstrip(".")  # a statement of a newer rule
    return text[:1].lower() + text[1:]


def _sentence(lead: str, phrases: list[str]) -> str:
    if len(phrases) > 1:
        phrases = [*phrases[:-2], f"{phrases[-2]}; and {phrases[-1]}"]
    body = "; ".join(phrases)
    return f"{lead}{body}." if lead else f"{body[:1].upper()}{body[1:]}."


def offline_narrative(statements: Sequence[Mapping[str, Any]]) -> str:
    """A plain-language paragraph (a few sentences) written from ``statements`` alone: what needs
    attention, what is within the usual range, then the caveats. Needs no network."""
    findings = [s for s in statements if s.get("code") not in CAVEATS + UNSAID]
    attention = [_phrase(s) for s in findings if s.get("severity") == "attention"]
    usual = [_phrase(s) for s in findings if s.get("severity") != "attention"]
    caveats = [_phrase(s) for s in statements if s.get("code") in CAVEATS]
    if not (attention or usual or caveats):
        return NO_DATA
    sentences = []
    if attention:
        sentences.append(_sentence("Worth a closer look: ", attention))
    if usual:
        sentences.append(_sentence("Within the usual range: " if attention else "", usual))
    if caveats:
        sentences.append(_sentence("Keep in mind that ", caveats))
    if any(PROXY_NOTE in str(s.get("text", "")) for s in statements):
        sentences.append("The figures come from step counts, a stand-in for the activity counts of a wrist actigraph.")
    sentences.append(CLOSING)
    return " ".join(sentences)


def _number(analysis: Mapping[str, Any], *path: str) -> Any:
    node: Any = analysis
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def key_numbers(analysis: Mapping[str, Any]) -> dict[str, Any]:
    """The few figures sent with the statements: lengths, wear and the rhythm summary. No dates,
    no daily totals, no night times: nothing that could identify the patient or the recording."""
    nights = _number(analysis, "sleep_metrics", "nights")
    return {
        "recording_days": _number(analysis, "confidence_scores", "recording_days"),
        "valid_wear_fraction": _number(analysis, "confidence_scores", "valid_wear_fraction"),
        "nights": len(nights) if isinstance(nights, list) else 0,
        "sleep_algorithm": _number(analysis, "sleep_metrics", "algorithm"),
        "in_bed_source": _number(analysis, "sleep_metrics", "in_bed_source"),
        "interdaily_stability": _number(analysis, "circadian_rhythm", "interdaily_stability"),
        "intradaily_variability": _number(analysis, "circadian_rhythm", "intradaily_variability"),
        "relative_amplitude_counts": _number(analysis, "circadian_rhythm", "counts", "relative_amplitude"),
        "l5_onset": _number(analysis, "circadian_rhythm", "l5_onset"),
        "m10_onset": _number(analysis, "circadian_rhythm", "m10_onset"),
    }


def user_prompt(analysis: Mapping[str, Any], statements: Sequence[Mapping[str, Any]]) -> str:
    fields = ("code", "metric", "value", "threshold", "comparison", "severity", "text")
    sent = [{field: s.get(field) for field in fields} for s in statements]
    return (
        "Statements (JSON):\n"
        + json.dumps(sent, ensure_ascii=False, indent=1)
        + "\n\nKey numbers (JSON):\n"
        + json.dumps(key_numbers(analysis), ensure_ascii=False, indent=1)
    )


def parse_narrative(text: str) -> str:
    """The paragraph in a model's JSON answer; LlmFailed when there is none."""
    data = core_llm.parse_json_reply(text)
    narrative = data.get("narrative") if isinstance(data, dict) else None
    if not isinstance(narrative, str) or not narrative.strip():
        raise LlmFailed("the answer had no narrative")
    return narrative.strip()[:NARRATIVE_CHAR_LIMIT]


def _offline(statements: Sequence[Mapping[str, Any]], reason: str | None) -> dict:
    return {"narrative": offline_narrative(statements), "provider": "offline", "model": None, "fallback_reason": reason}


def generate(
    analysis: Mapping[str, Any], statements: Sequence[Mapping[str, Any]], *, settings: LlmSettings | None = None
) -> dict:
    """``{"narrative", "provider", "model", "fallback_reason"}``: the configured model's paragraph
    (``settings``, else ``core.llm.configured_settings()``) when it answers well, else the offline
    paragraph (``provider`` "offline", ``model`` None). ``fallback_reason`` says why a configured
    model was not used; it is None when none is configured. Never raises for a provider failure."""
    if settings is None:
        settings = core_llm.configured_settings()
    if settings is None:
        unknown = core_llm.unknown_provider()
        return _offline(statements, f"the language-model provider {unknown!r} is not known" if unknown else None)
    try:
        text = core_llm.ask_for_json(settings, SYSTEM_PROMPT, user_prompt(analysis, statements))
        narrative = parse_narrative(text)
    except LlmFailed as failure:
        log.warning(
            "language-model insight narrative failed; offline narrative used",
            extra={"event": "insights_llm_fallback", "provider": settings.provider, "reason": failure.reason},
        )
        return _offline(statements, f"the {settings.provider} model {settings.model} was not used: {failure.reason}")
    return {"narrative": narrative, "provider": settings.provider, "model": settings.model, "fallback_reason": None}
