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
it: configure one only under an agreement that covers that.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import httpx
from flask import current_app, has_app_context

from clinic_app.reports.generation import offline
from clinic_app.reports.generation.base import (
    Draft,
    GenerationFailed,
    GenerationInputs,
    format_timestamp,
)

log = logging.getLogger("clinic_app.reports.generation")

PROVIDERS = ("openai", "gemini")
DEFAULT_TIMEOUT = 20.0
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "gemini": "gemini-2.0-flash"}
GEMINI_URL = "https://generativelanguage.googleapis.com"
OPENAI_URL = "https://api.openai.com"
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


@dataclass(frozen=True)
class LlmSettings:
    provider: str
    url: str
    api_key: str | None
    model: str
    timeout: float


def _setting(name: str) -> str | None:
    value = current_app.config.get(name) if has_app_context() else None
    if value is None:
        value = os.environ.get(name)
    return str(value).strip() if value is not None and str(value).strip() else None


def configured_settings() -> LlmSettings | None:
    """The language-model settings, or None when no provider is configured (or it is unknown)."""
    provider = (_setting("REPORT_LLM_PROVIDER") or "").lower()
    if provider not in PROVIDERS:
        if provider and provider != "none":
            log.warning("unknown report language-model provider", extra={"event": "report_llm_unknown"})
        return None
    try:
        timeout = float(_setting("REPORT_LLM_TIMEOUT") or DEFAULT_TIMEOUT)
    except ValueError:
        timeout = DEFAULT_TIMEOUT
    return LlmSettings(
        provider=provider,
        url=_setting("REPORT_LLM_URL") or (GEMINI_URL if provider == "gemini" else OPENAI_URL),
        api_key=_setting("REPORT_LLM_API_KEY"),
        model=_setting("REPORT_LLM_MODEL") or DEFAULT_MODELS[provider],
        timeout=max(1.0, min(timeout, 300.0)),
    )


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


# --- providers ----------------------------------------------------------------------------------


def _endpoint(settings: LlmSettings) -> str:
    base = settings.url.rstrip("/")
    if settings.provider == "openai":
        return base if base.endswith("/chat/completions") else base + "/v1/chat/completions"
    if base.endswith(":generateContent"):
        return base
    return f"{base}/v1beta/models/{settings.model}:generateContent"


def _request(settings: LlmSettings, inputs: GenerationInputs) -> tuple[dict[str, str], dict[str, Any]]:
    prompt = user_prompt(inputs)
    if settings.provider == "openai":
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        body: dict[str, Any] = {
            "model": settings.model,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
            "response_format": {"type": "json_object"},
            "temperature": 0.2,
        }
        return headers, body
    headers = {"x-goog-api-key": settings.api_key} if settings.api_key else {}
    body = {
        "systemInstruction": {"parts": [{"text": SYSTEM_PROMPT}]},
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": {"responseMimeType": "application/json", "temperature": 0.2},
    }
    return headers, body


def _reply_text(provider: str, payload: Any) -> str:
    try:
        if provider == "openai":
            return payload["choices"][0]["message"]["content"]
        return "".join(part.get("text", "") for part in payload["candidates"][0]["content"]["parts"])
    except (KeyError, IndexError, TypeError, AttributeError):
        raise GenerationFailed("the answer did not have the expected shape") from None


def parse_sections(text: str, inputs: GenerationInputs) -> dict[str, str]:
    """The sections of a model's JSON answer; GenerationFailed unless every section is there."""
    cleaned = text.strip()
    if cleaned.startswith("```"):  # some models fence JSON even when asked not to
        cleaned = cleaned.strip("`")
        cleaned = cleaned[cleaned.find("{") :] if "{" in cleaned else cleaned
    try:
        data = json.loads(cleaned)
    except ValueError:
        raise GenerationFailed("the answer was not valid JSON") from None
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
        headers, body = _request(settings, inputs)
        try:
            with httpx.Client(timeout=settings.timeout, transport=self.transport) as client:
                response = client.post(_endpoint(settings), json=body, headers=headers)
        except httpx.TimeoutException:
            raise GenerationFailed(f"no answer within {settings.timeout:g} s") from None
        except httpx.HTTPError as error:
            raise GenerationFailed(f"could not be reached ({type(error).__name__})") from None
        if response.status_code != 200:
            raise GenerationFailed(f"answered HTTP {response.status_code}")
        try:
            payload = response.json()
        except ValueError:
            raise GenerationFailed("the answer was not JSON") from None
        sections = parse_sections(_reply_text(settings.provider, payload), inputs)
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
