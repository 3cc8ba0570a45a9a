"""The language-model provider, against a fake OpenAI-compatible / Gemini server on 127.0.0.1:
its output is used when it answers well; a timeout, an HTTP error or an answer missing a section
falls back to the offline draft and the report records why. With no provider configured nothing
is sent anywhere."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from clinic_app.reports.defaults import DEFAULT_TEMPLATES
from clinic_app.reports.generation import llm
from clinic_app.reports.generation.base import GenerationFailed, GenerationInputs, Section, TranscriptLine
from tests.reports.conftest import consultation, generate, register_with_intake, report_row

MENTAL_HEALTH = next(t for t in DEFAULT_TEMPLATES if t.builtin_key == "mental_health")
KEYS = [s["key"] for s in MENTAL_HEALTH.sections]


class FakeModel:
    """A tiny HTTP server that answers like a chat-completions or generateContent endpoint."""

    def __init__(self) -> None:
        self.mode = "ok"  # ok, slow, error, missing, not_json
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if fake.mode == "slow":
                    time.sleep(2.5)
                if fake.mode == "error":
                    self._answer(500, {"error": "overloaded"})
                    return
                sections = {key: f"MODEL TEXT for {key} with **bold**." for key in KEYS}
                if fake.mode == "missing":
                    sections.pop("risk")
                content = "not json at all" if fake.mode == "not_json" else json.dumps({"sections": sections})
                if "generateContent" in self.path:
                    payload = {"candidates": [{"content": {"parts": [{"text": content}]}}]}
                else:
                    payload = {"choices": [{"message": {"role": "assistant", "content": content}}]}
                self._answer(200, payload)

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def fake_model():
    fake = FakeModel()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def llm_app(make_app, fake_model, provider="openai"):
    return make_app(
        REPORT_LLM_PROVIDER=provider,
        REPORT_LLM_URL=fake_model.url,
        REPORT_LLM_API_KEY="test-key",
        REPORT_LLM_MODEL="fake-model-1",
        REPORT_LLM_TIMEOUT="1",
    )


def draft_with(app, tenants_builder):
    with app.app_context():
        tenants = tenants_builder()
    clinician = tenants.user("clinician")
    patient_id = register_with_intake(app, tenants.a)
    session_id = consultation(app, tenants.a, clinician, patient_id)
    return generate(app, tenants.a, clinician, session_id)


def sections_of(app, report_id):
    from clinic_app.extensions import db
    from clinic_app.reports.content import read_sections
    from clinic_app.reports.models import Report

    with app.app_context():
        return read_sections(db.session.get(Report, report_id), "current_sections")


@pytest.fixture
def build_tenants():
    from tests.factories import build_tenants as build

    return build


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_a_configured_provider_writes_the_draft(make_app, fake_model, build_tenants, provider):
    app = llm_app(make_app, fake_model, provider)
    report_id = draft_with(app, build_tenants)
    row = report_row(app, report_id)
    assert (row.status, row.generator, row.model, row.generation_note) == ("draft", provider, "fake-model-1", None)
    assert sections_of(app, report_id) == {key: f"MODEL TEXT for {key} with **bold**." for key in KEYS}
    (sent,) = fake_model.requests
    if provider == "openai":
        assert sent["path"] == "/v1/chat/completions"
        assert sent["headers"]["Authorization"] == "Bearer test-key"
        assert sent["body"]["model"] == "fake-model-1"
        assert sent["body"]["response_format"] == {"type": "json_object"}
        prompt = sent["body"]["messages"][1]["content"]
    else:
        assert sent["path"] == "/v1beta/models/fake-model-1:generateContent"
        assert sent["headers"]["x-goog-api-key"] == "test-key"
        assert sent["body"]["generationConfig"]["responseMimeType"] == "application/json"
        prompt = sent["body"]["contents"][0]["parts"][0]["text"]
    # The inputs went with it: intake, symptoms with ICD-11 codes, the plan and the transcript.
    for expected in ("Restructure at work in July", "MB43", "Sertraline", "[00:07] Patient: I have not been sleeping"):
        assert expected in prompt
    for key in KEYS:
        assert f'"key": "{key}"' in prompt


def test_a_provider_timeout_falls_back_to_the_offline_draft_and_says_why(make_app, fake_model, build_tenants):
    fake_model.mode = "slow"
    app = llm_app(make_app, fake_model)
    report_id = draft_with(app, build_tenants)
    row = report_row(app, report_id)
    assert (row.status, row.generator, row.model) == ("draft", "offline", "offline-extractive-1")
    assert (
        row.generation_note
        == "The openai model fake-model-1 was not used: no answer within 1 s. Offline draft instead."
    )
    sections = sections_of(app, report_id)
    assert list(sections) == KEYS
    assert "Restructure at work in July" in sections["presenting_complaint"]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("error", "answered HTTP 500"),
        ("missing", "the answer left out sections: risk"),
        ("not_json", "the answer was not valid JSON"),
    ],
)
def test_a_bad_answer_falls_back_to_the_offline_draft(make_app, fake_model, build_tenants, mode, reason):
    fake_model.mode = mode
    app = llm_app(make_app, fake_model)
    report_id = draft_with(app, build_tenants)
    row = report_row(app, report_id)
    assert row.generator == "offline"
    assert reason in row.generation_note
    assert list(sections_of(app, report_id)) == KEYS


def test_an_unreachable_provider_falls_back(make_app, build_tenants):
    app = make_app(REPORT_LLM_PROVIDER="openai", REPORT_LLM_URL="http://127.0.0.1:9", REPORT_LLM_TIMEOUT="1")
    report_id = draft_with(app, build_tenants)
    row = report_row(app, report_id)
    assert row.generator == "offline" and "could not be reached" in row.generation_note


def test_without_a_provider_the_offline_generator_is_used(app, monkeypatch):
    monkeypatch.delenv("REPORT_LLM_PROVIDER", raising=False)
    with app.app_context():
        assert llm.configured_settings() is None


def test_parse_sections_accepts_fenced_json_and_rejects_empty_sections():
    inputs = GenerationInputs(
        template_name="T",
        sections=(Section("a", "A"), Section("b", "B")),
        transcript=(TranscriptLine(None, None, None, "hello there friend"),),
    )
    assert llm.parse_sections('```json\n{"sections": {"a": "x", "b": "y"}}\n```', inputs) == {"a": "x", "b": "y"}
    assert llm.parse_sections('{"a": "x", "b": "y", "extra": "ignored"}', inputs) == {"a": "x", "b": "y"}
    with pytest.raises(GenerationFailed, match="left out sections: b"):
        llm.parse_sections('{"sections": {"a": "x", "b": "  "}}', inputs)
