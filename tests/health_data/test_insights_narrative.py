"""The insight paragraph: written offline from the statements alone, or by a language model (a fake
OpenAI-compatible / Gemini server on 127.0.0.1) that is sent the statements and key numbers only,
with the offline paragraph, and the reason, whenever the model fails."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from clinic_app.core.llm import LlmSettings
from clinic_app.health_data.insights import narrative
from clinic_app.health_data.insights.narrative import generate, offline_narrative
from clinic_app.health_data.insights.rules import statements
from tests.health_data.test_insights_rules import analysis, night

MODEL_TEXT = "MODEL PARAGRAPH: sleep was long and broken; the daily rhythm was regular."


def troubled():
    """An analysis with three findings needing attention, one within range and a short recording."""
    nights = [night(total_sleep_minutes=360.0, waso_minutes=50.0, sleep_efficiency=0.78) for _ in range(4)]
    return analysis(nights, days=5.0)


class FakeModel:
    """Answers like a chat-completions or generateContent endpoint, in the mode the test sets."""

    def __init__(self) -> None:
        self.mode = "ok"  # ok, slow, error, not_json, no_narrative, null_content
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()  # ends a slow answer early at teardown
        model = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                model.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if model.mode == "slow":
                    model.release.wait(2.0)
                if model.mode == "error":
                    self.reply(503, {"error": "busy"})
                    return
                answer = {
                    "ok": json.dumps({"narrative": f"  {MODEL_TEXT}  "}),
                    "slow": json.dumps({"narrative": MODEL_TEXT}),
                    "not_json": "Here is your summary: all fine.",
                    "no_narrative": json.dumps({"summary": MODEL_TEXT}),
                    "null_content": None,
                }[model.mode]
                if "generateContent" in self.path:
                    self.reply(200, {"candidates": [{"content": {"parts": [{"text": answer}]}}]})
                else:
                    self.reply(200, {"choices": [{"message": {"role": "assistant", "content": answer}}]})

            def reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped waiting (the timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def settings(self, provider: str = "openai", timeout: float = 5.0) -> LlmSettings:
        return LlmSettings(provider=provider, url=self.url, api_key="test-key", model="fake-model-2", timeout=timeout)


@pytest.fixture
def fake_model():
    model = FakeModel()
    model.thread.start()
    yield model
    model.release.set()
    model.server.shutdown()
    model.server.server_close()


@pytest.fixture
def no_provider(monkeypatch):
    for name in ("REPORT_LLM_PROVIDER", "REPORT_LLM_URL", "REPORT_LLM_API_KEY", "REPORT_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)


# --- offline ------------------------------------------------------------------------------------


def test_the_offline_paragraph_puts_findings_first_then_the_usual_then_the_caveats():
    found = statements(troubled())
    text = offline_narrative(found)
    assert text.startswith("Worth a closer look: less of the night was spent asleep than in healthy sleep (78 %")
    assert "time awake after first falling asleep averaged 50 minutes a night, more than 30 minutes" in text
    assert "sleep averaged 6 hours a night, less than the 7 hours recommended for adults" in text
    assert "Within the usual range: falling asleep took 10 minutes on average;" in text
    assert "Keep in mind that the recording covers 5.0 days, fewer than the 7 usually needed" in text
    assert text.index("Worth a closer look") < text.index("Within the usual range") < text.index("Keep in mind")
    assert text.endswith(narrative.CLOSING)
    assert "device was worn" not in text  # good wear goes unsaid
    assert "step counts" not in text
    assert 4 <= text.count(". ") + 1 <= 6  # a few sentences


def test_the_offline_paragraph_comes_from_the_statements_alone():
    found = statements(troubled())
    assert offline_narrative(found) == offline_narrative([dict(s) for s in found])
    healthy = offline_narrative(statements(analysis()))
    assert not healthy.startswith("Worth a closer look") and "Keep in mind" not in healthy
    assert healthy.startswith("Most of the night was spent asleep (94 %)")
    assert offline_narrative([]) == narrative.NO_DATA
    wear_only = statements(analysis([], days=None, stability=None, variability=None, amplitude=None))
    assert [s["code"] for s in wear_only] == ["wear_sufficient"]
    assert offline_narrative(wear_only) == narrative.NO_DATA
    low_wear = offline_narrative(statements(analysis(wear=0.5)))
    assert "Keep in mind that the device was worn for only 50 % of the recording" in low_wear
    proxy = offline_narrative(statements(troubled(), proxy=True))
    assert "The figures come from step counts, a stand-in for the activity counts of a wrist actigraph." in proxy
    newer = {"code": "new_rule", "severity": "attention", "text": "Something new was seen (Author 2030)."}
    assert offline_narrative([newer]).startswith("Worth a closer look: something new was seen (Author 2030).")


def test_without_a_provider_the_offline_paragraph_is_used(no_provider):
    found = statements(troubled())
    result = generate(troubled(), found)
    assert result == {
        "narrative": offline_narrative(found),
        "provider": "offline",
        "model": None,
        "fallback_reason": None,
    }


def test_an_unknown_provider_falls_back_and_says_so(no_provider, monkeypatch):
    monkeypatch.setenv("REPORT_LLM_PROVIDER", "crystal-ball")
    result = generate(troubled(), statements(troubled()))
    assert result["provider"] == "offline"
    assert result["fallback_reason"] == "the language-model provider 'crystal-ball' is not known"


# --- the language model ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_a_configured_model_writes_the_paragraph_from_statements_and_key_numbers(fake_model, provider):
    data = troubled()
    data["subject"] = "Jane Q Citizen"  # never sent, even if a caller leaves it in
    found = statements(data)
    result = generate(data, found, settings=fake_model.settings(provider))
    assert result == {"narrative": MODEL_TEXT, "provider": provider, "model": "fake-model-2", "fallback_reason": None}
    (sent,) = fake_model.requests
    if provider == "openai":
        assert sent["path"] == "/v1/chat/completions"
        assert sent["headers"]["Authorization"] == "Bearer test-key"
        assert sent["body"]["response_format"] == {"type": "json_object"}
        system, prompt = (m["content"] for m in sent["body"]["messages"])
    else:
        assert sent["path"] == "/v1beta/models/fake-model-2:generateContent"
        assert sent["headers"]["x-goog-api-key"] == "test-key"
        assert sent["body"]["generationConfig"]["responseMimeType"] == "application/json"
        system = sent["body"]["systemInstruction"]["parts"][0]["text"]
        prompt = sent["body"]["contents"][0]["parts"][0]["text"]
    assert system == narrative.SYSTEM_PROMPT and '{"narrative"' in system
    for statement in found:
        assert json.dumps(statement["text"]) in prompt
    assert '"recording_days": 5.0' in prompt and '"nights": 4' in prompt
    for private in ("Jane", "2024-03-0", "in_bed_start", "daily_totals"):
        assert private not in prompt


def test_the_configured_settings_are_read_from_the_environment(fake_model, no_provider, monkeypatch):
    monkeypatch.setenv("REPORT_LLM_PROVIDER", "openai")
    monkeypatch.setenv("REPORT_LLM_URL", fake_model.url)
    monkeypatch.setenv("REPORT_LLM_MODEL", "env-model")
    result = generate(troubled(), statements(troubled()))
    assert (result["provider"], result["model"], result["narrative"]) == ("openai", "env-model", MODEL_TEXT)
    assert fake_model.requests[0]["body"]["model"] == "env-model"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("error", "answered HTTP 503"),
        ("not_json", "the answer was not valid JSON"),
        ("no_narrative", "the answer had no narrative"),
        ("null_content", "the answer did not have the expected shape"),
    ],
)
def test_a_bad_answer_falls_back_to_the_offline_paragraph(fake_model, mode, reason):
    fake_model.mode = mode
    found = statements(troubled())
    result = generate(troubled(), found, settings=fake_model.settings())
    assert result == {
        "narrative": offline_narrative(found),
        "provider": "offline",
        "model": None,
        "fallback_reason": f"the openai model fake-model-2 was not used: {reason}",
    }


def test_a_slow_model_falls_back_after_its_timeout(fake_model):
    fake_model.mode = "slow"
    result = generate(troubled(), statements(troubled()), settings=fake_model.settings("gemini", timeout=0.3))
    assert result["provider"] == "offline"
    assert result["fallback_reason"] == "the gemini model fake-model-2 was not used: no answer within 0.3 s"


def test_an_unreachable_model_falls_back():
    closed = LlmSettings(provider="openai", url="http://127.0.0.1:9", api_key=None, model="m", timeout=1.0)
    result = generate(troubled(), statements(troubled()), settings=closed)
    assert result["provider"] == "offline"
    assert result["fallback_reason"].startswith("the openai model m was not used: could not be reached (")
