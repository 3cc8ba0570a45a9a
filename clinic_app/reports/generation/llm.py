"""An optional language-model generator over HTTP, used only when configured, and the choice of
generator with fallback to the offline one.

Settings (Flask config first, then the environment):

* ``REPORT_LLM_PROVIDER`` — ``openai`` (any OpenAI-compatible ``/v1/chat/completions``) or
  ``gemini`` (Google's ``generateContent``). Unset: drafts are written offline only.
* ``REPORT_LLM_URL`` — the service's base address (``https://api.openai.com``, a local server);
  for Gemini it defaults to Google's. A URL that already ends in the endpoint path is used as is.
* ``REPORT_LLM_API_KEY``, ``REPORT_LLM_MODEL``, ``REPORT_LLM_TIMEOUT`` (seconds, default 20).

The model is asked for JSON: ``{"sections": {"<key>": "<Markdown>", ...}}`` with every section of
the template. Anything else — a timeout, an HTTP error, text that is not JSON, a missing or empty
section — is a ``GenerationFailed``, and ``generate_draft`` then writes the offline draft and
records why in the draft's note. Sending the inputs to a provider shares patient information with
it: configure one only under an agreement that covers that. The settings and the HTTP call itself
are ``clinic_app.core.llm``, shared with other features; this module owns the report's prompt and
the reading of its answer.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from clinic_app.core import llm as core_llm
from clinic_app.core.llm import LlmFailed, LlmSettings
from clinic_app.reports.generation import offline
from clinic_app.reports.generation.base import (
    Draft,
    GenerationFailed,
    GenerationInputs,
    format_timestamp,
)

log = logging.getLogger("clinic_app.reports.generation")

TRANSCRIPT_CHAR_LIMIT = 60_000
SECTION_CHAR_LIMIT = 20_000

SYSTEM_PROMPT = (
    "You draft clinical consultation reports for a clinician to review, edit and sign. Use only the "
    "information provided; never invent findings, diagnoses, doses or risk statements. Write concise, "
    "professional Markdown for each section, following its guidance. Quote the transcript sparingly, "
    "with its [mm:ss] timestamps. Where nothing was recorded for a section, write exactly 'Not recorded.'. "
    'Answer with one JSON object: {"sections": {"<section key>": "<Markdown>", ...}} containing every '
    "section key given, and nothing else."
)


def configured_settings() -> LlmSettings | None:
    """The language-model settings (``clinic_app.core.llm``), or None when no provider is configured
    (or it is unknown)."""
    settings = core_llm.configured_settings()
    if settings is None and core_llm.unknown_provider():
        log.warning("unknown report language-model provider", extra={"event": "report_llm_unknown"})
    return settings


# --- the prompt ---------------------------------------------------------------------------------


def _transcript_text(inputs: GenerationInputs) -> str:
    lines = []
    for line in inputs.transcript:
        stamp = format_timestamp(line.start)
        prefix = " ".join(
            part for part in (f"[{stamp}]" if stamp else None, f"{line.speaker}:" if line.speaker else None) if part
        )
        lines.append(f"{prefix} {line.text}".strip())
    text = "\n".join(lines)
    if len(text) > TRANSCRIPT_CHAR_LIMIT:
        text = text[:TRANSCRIPT_CHAR_LIMIT] + "\n[transcript shortened]"
    return text


def user_prompt(inputs: GenerationInputs) -> str:
    facts: dict[str, Any] = {
        "template": inputs.template_name,
        "sections": [{"key": s.key, "title": s.title, "guidance": s.guidance} for s in inputs.sections],
        "session_type": inputs.session_type,
        "session_date": inputs.session_date,
        "chief_complaint": inputs.chief_complaint,
        "intake": {
            "presenting_problem": inputs.presenting_problem,
            "duration": inputs.illness_duration,
            "precipitating_factors": inputs.precipitating_factors,
        },
        "symptoms": [
            {
                "name": s.name,
                "icd11": s.code,
                "severity": s.severity,
                "frequency": s.frequency,
                "duration": s.duration,
                "notes": s.notes,
            }
            for s in inputs.symptoms
        ],
        "medication_plan": [
            {"drug_name": m.drug_name, "dosage": m.dosage, "frequency": m.frequency, "duration": m.duration}
            for m in inputs.medication_plan
        ],
        "session_notes": inputs.session_notes,
        "additional_notes": inputs.additional_notes,
        "patient_progress": inputs.patient_progress,
    }
    return (
        "Facts on record (JSON):\n"
        + json.dumps(facts, ensure_ascii=False, indent=1)
        + "\n\nTranscript:\n"
        + (_transcript_text(inputs) or "(no transcript)")
    )


# --- the answer ---------------------------------------------------------------------------------


def parse_sections(text: str, inputs: GenerationInputs) -> dict[str, str]:
    """The sections of a model's JSON answer; GenerationFailed unless every section is there."""
    try:
        data = core_llm.parse_json_reply(text)
    except LlmFailed as failure:
        raise GenerationFailed(failure.reason) from None
    sections = data.get("sections", data) if isinstance(data, dict) else None
    if not isinstance(sections, dict):
        raise GenerationFailed("the answer had no sections object")
    result: dict[str, str] = {}
    missing = []
    for section in inputs.sections:
        value = sections.get(section.key)
        if not isinstance(value, str) or not value.strip():
            missing.append(section.key)
            continue
        result[section.key] = value.strip()[:SECTION_CHAR_LIMIT]
    if missing:
        raise GenerationFailed(f"the answer left out sections: {', '.join(missing[:5])}")
    return result


class LlmGenerator:
    def __init__(self, settings: LlmSettings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.name = settings.provider
        self.transport = transport

    def generate(self, inputs: GenerationInputs) -> Draft:
        settings = self.settings
        try:
            text = core_llm.ask_for_json(settings, SYSTEM_PROMPT, user_prompt(inputs), transport=self.transport)
        except LlmFailed as failure:
            raise GenerationFailed(failure.reason) from None
        sections = parse_sections(text, inputs)
        return Draft(sections=sections, generator=settings.provider, model=settings.model)


def generate_draft(inputs: GenerationInputs, settings: LlmSettings | None = None) -> Draft:
    """The language model's draft when one is configured and answers well; otherwise the offline
    draft, whose ``note`` says why the model's was not used. Never raises for a provider failure."""
    settings = settings if settings is not None else configured_settings()
    if settings is None:
        return offline.generate(inputs)
    try:
        return LlmGenerator(settings).generate(inputs)
    except GenerationFailed as failure:
        log.warning(
            "language-model draft failed; offline draft used",
            extra={"event": "report_llm_fallback", "provider": settings.provider, "reason": failure.reason},
        )
        draft = offline.generate(inputs)
        note = f"The {settings.provider} model {settings.model} was not used: {failure.reason}. Offline draft instead."
        return Draft(sections=draft.sections, generator=draft.generator, model=draft.model, note=note[:500])
