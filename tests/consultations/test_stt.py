"""Speech to text against a local fake provider (a real HTTP server on 127.0.0.1): audio is
accepted only when a provider is configured, its timed segments become the transcript, and a
provider that is slow or failing leaves nothing half-written."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from clinic_app.consultations import service
from clinic_app.extensions import db
from tests.consultations.conftest import events, start
from tests.factories import page_csrf, sign_in

AUDIO = b"ID3\x04\x00fake-mp3-bytes"


class FakeProvider:
    """An OpenAI-compatible transcription endpoint that records what it was sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.mode = "segments"
        self.release = threading.Event()  # a "slow" answer waits for it (set when the test ends)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            return self.answer(request)(environ, start_response)
        finally:
            request.close()

    def answer(self, request: Request) -> Response:
        upload = request.files.get("file")
        self.received.append(
            {
                "authorization": request.headers.get("Authorization"),
                "model": request.form.get("model"),
                "response_format": request.form.get("response_format"),
                "filename": upload.filename if upload else None,
                "audio": upload.read() if upload else None,
            }
        )
        if self.mode == "slow":
            self.release.wait(30)  # longer than any timeout: the app gives up first
        if self.mode == "error":
            return Response("overloaded", status=500)
        if self.mode == "text":
            body: dict[str, Any] = {"text": "Doctor: How are you?\nPatient: Tired."}
        elif self.mode == "silent":
            body = {"text": "", "segments": []}
        else:
            body = {
                "text": "How are you feeling today? Better than last week.",
                "segments": [
                    {"id": 0, "start": 0.0, "end": 2.4, "text": " How are you feeling today?"},
                    {"id": 1, "start": 2.9, "end": 5.1, "text": " Better than last week.", "speaker": "SPEAKER_01"},
                ],
            }
        return Response(json.dumps(body), mimetype="application/json")


@pytest.fixture
def provider() -> Iterator[tuple[FakeProvider, str]]:
    fake = FakeProvider()
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_port}/v1/audio/transcriptions"
    fake.release.set()
    server.shutdown()
    thread.join()


@pytest.fixture
def configured(make_app, provider):
    fake, url = provider
    app = make_app(
        STT_PROVIDER_URL=url, STT_API_KEY="stt-test-key", STT_MODEL="whisper-large-v3", STT_TIMEOUT_SECONDS="3"
    )
    return app, fake


def _clinician(app, tenants):
    client = app.test_client()
    assert sign_in(client, tenants.user("clinician").email).status_code == 303
    return client


def _upload(client, session_id, audio=AUDIO, name="visit.m4a"):
    return client.post(
        f"/consultations/{session_id}/transcript",
        data={"audio": (io.BytesIO(audio), name)},
        headers={"HX-Request": "true", "X-CSRFToken": page_csrf(client, "/account")},
        content_type="multipart/form-data",
    )


def _tenants(app):
    from tests.factories import build_tenants

    with app.app_context():
        return build_tenants()


def test_audio_is_transcribed_by_the_configured_provider(configured):
    app, fake = configured
    tenants = _tenants(app)
    from tests.consultations.conftest import patient_of

    patient_id = patient_of(app, tenants.a)
    session_id, _code = start(app, tenants, patient_id)
    client = _clinician(app, tenants)
    page = client.get(f"/consultations/{session_id}").get_data(as_text=True)
    assert 'id="audio-form"' in page and "not configured" not in page
    response = _upload(client, session_id)
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body
    assert "Transcript added: 9 words in 2 passages." in body and ">00:02</time>" in body
    assert fake.received == [
        {
            "authorization": "Bearer stt-test-key",
            "model": "whisper-large-v3",
            "response_format": "verbose_json",
            "filename": "visit.m4a",
            "audio": AUDIO,
        }
    ]
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        segments = service.transcript_segments(session)
        assert [(s.start, s.end, s.speaker, s.text) for s in segments] == [
            (0.0, 2.4, None, "How are you feeling today?"),
            (2.9, 5.1, "SPEAKER_01", "Better than last week."),
        ]
        assert db.session.execute(db.text("SELECT source FROM consultation_transcripts")).scalar() == "audio"
    assert events(app, "consultation.transcript_added")[0].details["source"] == "audio"


def test_a_plain_text_answer_is_read_for_speakers(configured):
    app, fake = configured
    fake.mode = "text"
    tenants = _tenants(app)
    from tests.consultations.conftest import patient_of

    session_id, _code = start(app, tenants, patient_of(app, tenants.a))
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        service.add_transcript(
            tenants.a.id, session, file=service.UploadedFile("v.wav", AUDIO, "audio/wav"), actor=_actor()
        )
        assert [(s.speaker, s.text) for s in service.transcript_segments(session)] == [
            ("Doctor", "How are you?"),
            ("Patient", "Tired."),
        ]


@pytest.mark.parametrize(
    ("mode", "status", "message"),
    [
        ("slow", 503, "did not answer within 3 seconds"),
        ("error", 503, "answered with an error (500)"),
        ("silent", 422, "heard no speech"),
    ],
)
def test_a_failing_provider_stores_nothing(configured, mode, status, message):
    app, fake = configured
    fake.mode = mode
    tenants = _tenants(app)
    from tests.consultations.conftest import patient_of

    session_id, _code = start(app, tenants, patient_of(app, tenants.a))
    client = _clinician(app, tenants)
    response = _upload(client, session_id)
    assert response.status_code == status and message in response.get_data(as_text=True)
    with app.app_context():
        assert service.transcript_segments(service.get_session(tenants.a.id, session_id)) == []
    assert events(app, "consultation.transcript_added") == []


def test_without_a_provider_audio_is_refused_and_the_page_says_so(app, tenants, clinician, patient_id, provider):
    fake, _url = provider
    session_id, _code = start(app, tenants, patient_id)
    page = clinician.get(f"/consultations/{session_id}").get_data(as_text=True)
    assert "Audio transcription is not configured" in page and 'id="audio-form"' not in page
    response = clinician.post(
        f"/consultations/{session_id}/transcript",
        data={"file": (io.BytesIO(AUDIO), "visit.mp3")},
        headers={"HX-Request": "true", "X-CSRFToken": page_csrf(clinician, "/account")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "Audio transcription is not configured" in response.get_data(as_text=True)
    assert fake.received == []


def _actor():
    from clinic_app.core import audit

    return audit.Actor()
