"""One call to a language model over HTTP, for any feature that wants a JSON answer to a prompt.

Two provider shapes: ``openai`` (any OpenAI-compatible ``/v1/chat/completions`` server) and
``gemini`` (Google's ``generateContent``). The settings keep the names the report drafts introduced,
read from the Flask config first, then the environment; one provider serves the whole app:

* ``REPORT_LLM_PROVIDER`` — ``openai`` or ``gemini``; unset (or ``none``): no model is called.
* ``REPORT_LLM_URL`` — the service's base address; defaults to OpenAI's or Google's. A URL that
  already ends in the endpoint path is used as is.
* ``REPORT_LLM_API_KEY``, ``REPORT_LLM_MODEL``, ``REPORT_LLM_TIMEOUT`` (seconds, default 20, 1 to 300).

``ask_for_json`` sends a system prompt and a user prompt and returns the reply's text. Every way it
can go wrong — a timeout, a connection error, an HTTP status other than 200, a body that is not
JSON or not shaped like the provider's answer — raises ``LlmFailed`` with a short ``reason``, so a
caller can fall back to its offline path and record why. Whatever a caller puts in the prompts is
shared with the provider: configure one only under an agreement that covers that.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import httpx
from flask import current_app, has_app_context

PROVIDERS = ("openai", "gemini")
DEFAULT_TIMEOUT = 20.0
MIN_TIMEOUT, MAX_TIMEOUT = 1.0, 300.0
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "gemini": "gemini-2.0-flash"}
GEMINI_URL = "https://generativelanguage.googleapis.com"
OPENAI_URL = "https://api.openai.com"
TEMPERATURE = 0.2

PROVIDER_SETTING = "REPORT_LLM_PROVIDER"
URL_SETTING = "REPORT_LLM_URL"
API_KEY_SETTING = "REPORT_LLM_API_KEY"
MODEL_SETTING = "REPORT_LLM_MODEL"
TIMEOUT_SETTING = "REPORT_LLM_TIMEOUT"


class LlmFailed(Exception):
    """The model gave no usable answer; ``reason`` says why in a short phrase."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LlmSettings:
    provider: str
    url: str
    api_key: str | None
    model: str
    timeout: float


def setting(name: str) -> str | None:
    """A setting from the Flask config (inside an app context), else the environment; blank is unset."""
    value = current_app.config.get(name) if has_app_context() else None
    if value is None:
        value = os.environ.get(name)
    return str(value).strip() if value is not None and str(value).strip() else None


def unknown_provider() -> str | None:
    """The configured provider's name when it is set but not one this module speaks, else None."""
    provider = (setting(PROVIDER_SETTING) or "").lower()
    return provider if provider and provider != "none" and provider not in PROVIDERS else None


def configured_settings() -> LlmSettings | None:
    """The language-model settings, or None when no provider (or an unknown one) is configured."""
    provider = (setting(PROVIDER_SETTING) or "").lower()
    if provider not in PROVIDERS:
        return None
    try:
        timeout = float(setting(TIMEOUT_SETTING) or DEFAULT_TIMEOUT)
    except ValueError:
        timeout = DEFAULT_TIMEOUT
    return LlmSettings(
        provider=provider,
        url=setting(URL_SETTING) or (GEMINI_URL if provider == "gemini" else OPENAI_URL),
        api_key=setting(API_KEY_SETTING),
        model=setting(MODEL_SETTING) or DEFAULT_MODELS[provider],
        timeout=max(MIN_TIMEOUT, min(timeout, MAX_TIMEOUT)),
    )


def endpoint(settings: LlmSettings) -> str:
    """The URL to post to: the base address plus the provider's path, unless it already has it."""
    base = settings.url.rstrip("/")
    if settings.provider == "openai":
        return base if base.endswith("/chat/completions") else base + "/v1/chat/completions"
    if base.endswith(":generateContent"):
        return base
    return f"{base}/v1beta/models/{settings.model}:generateContent"


def json_request(settings: LlmSettings, system_prompt: str, user_prompt: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Headers and body asking the provider for a JSON answer to the two prompts."""
    if settings.provider == "openai":
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        body: dict[str, Any] = {
            "model": settings.model,
            "messages": [{"role": "system", "content": system_prompt}, {"role": "user", "content": user_prompt}],
            "response_format": {"type": "json_object"},
            "temperature": TEMPERATURE,
        }
        return headers, body
    headers = {"x-goog-api-key": settings.api_key} if settings.api_key else {}
    body = {
        "systemInstruction": {"parts": [{"text": system_prompt}]},
        "contents": [{"role": "user", "parts": [{"text": user_prompt}]}],
        "generationConfig": {"responseMimeType": "application/json", "temperature": TEMPERATURE},
    }
    return headers, body


def reply_text(provider: str, payload: Any) -> str:
    """The text of the provider's answer; LlmFailed when the payload is not shaped like one."""
    try:
        if provider == "openai":
            text = payload["choices"][0]["message"]["content"]
        else:
            text = "".join(part.get("text", "") for part in payload["candidates"][0]["content"]["parts"])
    except (KeyError, IndexError, TypeError, AttributeError):
        raise LlmFailed("the answer did not have the expected shape") from None
    if not isinstance(text, str):  # e.g. a refusal with "content": null
        raise LlmFailed("the answer did not have the expected shape")
    return text


def ask_for_json(
    settings: LlmSettings,
    system_prompt: str,
    user_prompt: str,
    *,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """Send the prompts and return the model's reply text (meant to be JSON; see ``parse_json_reply``).

    Raises ``LlmFailed`` on a timeout, a connection error, an HTTP status other than 200 or a reply
    that is not the provider's JSON shape. ``transport`` is for tests.
    """
    headers, body = json_request(settings, system_prompt, user_prompt)
    try:
        with httpx.Client(timeout=settings.timeout, transport=transport) as client:
            response = client.post(endpoint(settings), json=body, headers=headers)
    except httpx.TimeoutException:
        raise LlmFailed(f"no answer within {settings.timeout:g} s") from None
    except httpx.HTTPError as error:
        raise LlmFailed(f"could not be reached ({type(error).__name__})") from None
    if response.status_code != 200:
        raise LlmFailed(f"answered HTTP {response.status_code}")
    try:
        payload = response.json()
    except ValueError:
        raise LlmFailed("the answer was not JSON") from None
    return reply_text(settings.provider, payload)


def parse_json_reply(text: str) -> Any:
    """The JSON value in a model's reply, tolerating a Markdown code fence around it; LlmFailed if
    it is not JSON."""
    cleaned = text.strip()
    if cleaned.startswith("```"):  # some models fence JSON even when asked not to
        cleaned = cleaned.strip("`")
        cleaned = cleaned[cleaned.find("{") :] if "{" in cleaned else cleaned
    try:
        return json.loads(cleaned)
    except ValueError:
        raise LlmFailed("the answer was not valid JSON") from None
