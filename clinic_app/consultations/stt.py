"""Speech to text: a small interface and one HTTP provider, used only when configured.

Nothing here is needed to run or test the product: with no provider configured, audio uploads are
refused with a message saying so, and the session page says "Audio transcription is not
configured". Settings (see docs/consultations.md):

* ``STT_PROVIDER_URL`` — the full address of an OpenAI-compatible transcription endpoint
  (``…/v1/audio/transcriptions``; self-hosted Whisper servers speak the same protocol);
* ``STT_API_KEY`` — sent as ``Authorization: Bearer …`` when set;
* ``STT_MODEL`` — the model name to ask for (default ``whisper-1``);
* ``STT_TIMEOUT_SECONDS`` — how long to wait for an answer (default 120).

The provider is called during the upload request, so a long recording holds that request open
until the timeout; the audio itself is never stored, only the transcript that comes back.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Protocol

import httpx
from flask import current_app, has_app_context

from clinic_app.consultations.transcripts import Segment, TranscriptProblem, parse_plain
from clinic_app.core.errors import Unavailable

log = logging.getLogger("clinic_app.consultations.stt")

AUDIO_EXTENSIONS = (".mp3", ".mpga", ".mpeg", ".m4a", ".mp4", ".wav", ".ogg", ".oga", ".opus", ".webm", ".flac", ".aac")
AUDIO_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_MODEL = "whisper-1"
DEFAULT_TIMEOUT = 120.0


class SpeechToText(Protocol):
    """Turns a recording into transcript segments."""

    name: str

    def transcribe(self, audio: bytes, *, filename: str, content_type: str | None = None) -> list[Segment]:
        """Segments of what was said. Raises TranscriptProblem when nothing usable comes back,
        Unavailable when the service cannot be reached or fails."""
        ...


def setting(name: str) -> str | None:
    """A setting from the app's configuration (tests set it there) or the environment."""
    value: Any = current_app.config.get(name) if has_app_context() else None
    if value is None:
        value = os.environ.get(name)
    text = str(value).strip() if value is not None else ""
    return text or None


def is_audio(filename: str, content_type: str | None) -> bool:
    lowered = (filename or "").lower().strip()
    return lowered.endswith(AUDIO_EXTENSIONS) or (content_type or "").lower().startswith("audio/")


class HttpSpeechToText:
    """An OpenAI-compatible ``audio/transcriptions`` endpoint, asked for ``verbose_json`` so the
    answer carries timed segments (a bare ``text`` answer is read as plain text)."""

    name = "http"

    def __init__(
        self, url: str, *, api_key: str | None = None, model: str = DEFAULT_MODEL, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.url = url
        self.api_key = api_key
        self.model = model
        self.timeout = timeout

    def transcribe(self, audio: bytes, *, filename: str, content_type: str | None = None) -> list[Segment]:
        if not audio:
            raise TranscriptProblem("The audio file is empty.")
        if len(audio) > AUDIO_MAX_BYTES:
            raise TranscriptProblem(f"The audio file is larger than {AUDIO_MAX_BYTES // 1024 // 1024} MB.")
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        files = {"file": (filename or "recording", audio, content_type or "application/octet-stream")}
        data = {"model": self.model, "response_format": "verbose_json"}
        try:
            with httpx.Client(timeout=self.timeout) as client:
                response = client.post(self.url, headers=headers, files=files, data=data)
        except httpx.TimeoutException:
            log.warning("speech-to-text timed out", extra={"event": "stt_timeout"})
            raise Unavailable(
                f"The transcription service did not answer within {self.timeout:g} seconds. Try again later."
            ) from None
        except httpx.HTTPError as error:
            reason = type(error).__name__
            log.warning("speech-to-text unreachable", extra={"event": "stt_unreachable", "reason": reason})
            raise Unavailable("The transcription service could not be reached. Try again later.") from None
        if response.status_code >= 400:
            log.warning("speech-to-text failed", extra={"event": "stt_failed", "status": response.status_code})
            raise Unavailable(f"The transcription service answered with an error ({response.status_code}).")
        try:
            body = response.json()
        except ValueError:
            raise Unavailable("The transcription service sent an answer that could not be read.") from None
        return _segments_of(body)


def _segments_of(body: Any) -> list[Segment]:
    if not isinstance(body, dict):
        raise Unavailable("The transcription service sent an answer that could not be read.")
    rows = body.get("segments")
    if isinstance(rows, list) and rows:
        segments = []
        for row in rows:
            if not isinstance(row, dict):
                continue
            text = " ".join(str(row.get("text") or "").split())
            if text:
                start, end = row.get("start"), row.get("end")
                speaker = row.get("speaker")
                segments.append(
                    Segment(
                        float(start) if isinstance(start, int | float) else None,
                        float(end) if isinstance(end, int | float) else None,
                        str(speaker)[:60] if speaker else None,
                        text,
                    )
                )
        if segments:
            return segments
    text = body.get("text")
    if isinstance(text, str) and text.strip():
        return parse_plain(text)
    raise TranscriptProblem("The transcription service heard no speech in this recording.")


def provider() -> SpeechToText | None:
    """The configured provider, or None when ``STT_PROVIDER_URL`` is not set."""
    url = setting("STT_PROVIDER_URL")
    if url is None:
        return None
    timeout = setting("STT_TIMEOUT_SECONDS")
    try:
        seconds = float(timeout) if timeout else DEFAULT_TIMEOUT
    except ValueError:
        seconds = DEFAULT_TIMEOUT
    return HttpSpeechToText(
        url, api_key=setting("STT_API_KEY"), model=setting("STT_MODEL") or DEFAULT_MODEL, timeout=max(1.0, seconds)
    )


def configured() -> bool:
    return setting("STT_PROVIDER_URL") is not None
