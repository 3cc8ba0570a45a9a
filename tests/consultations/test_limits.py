"""Transcript bounds: at most 200,000 characters of text in one transcript and five transcripts in
one consultation, refused in the service (a 422 naming the field through the API, a message by the
form on the page), held under two additions at the same moment; and a long transcript shown a
piece at a time (a preview on the session page, pages on the transcript page)."""

from __future__ import annotations

import io
import threading
from datetime import datetime

import pytest
from sqlalchemy import func, select

from clinic_app.consultations import service, transcript_pages
from clinic_app.consultations.models import Transcript
from clinic_app.consultations.queries import TranscriptView
from clinic_app.consultations.transcript_store import MAX_PER_SESSION
from clinic_app.consultations.transcripts import MAX_CHARACTERS, Segment
from clinic_app.core import audit
from clinic_app.core.errors import Invalid
from clinic_app.extensions import db
from tests.consultations.conftest import events, start
from tests.factories import access_token_for, page_csrf

HTMX = {"HX-Request": "true"}


def add(app, tenants, session_id, text="Patient: hello\nDoctor: hi", **kwargs):
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        added = service.add_transcript(
            tenants.a.id, session, text=text, actor=audit.Actor(user_id=tenants.user("clinician").id), **kwargs
        )
        db.session.commit()
        return added.id


def count(app, session_id):
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(Transcript).where(Transcript.session_id == session_id)
        )


def bearer(app, tenants):
    return {"Authorization": f"Bearer {access_token_for(app, tenants.user('clinician'))}"}


# --- 200,000 characters per transcript --------------------------------------------------------------


def test_a_transcript_holds_at_most_200000_characters_of_text(app, tenants, patient_id):
    session_id, _code = start(app, tenants, patient_id)
    assert MAX_CHARACTERS == 200_000
    add(app, tenants, session_id, text="a" * MAX_CHARACTERS)  # exactly the limit: kept
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        with pytest.raises(Invalid) as refused:
            service.add_transcript(tenants.a.id, session, text="b" * (MAX_CHARACTERS + 1), actor=audit.Actor())
        (error,) = refused.value.errors
        assert error.field == "text" and "200,001 characters" in error.message and "200,000" in error.message
        upload = service.UploadedFile("long.txt", ("c" * (MAX_CHARACTERS + 1)).encode())
        with pytest.raises(Invalid) as refused_file:
            service.add_transcript(tenants.a.id, session, file=upload, actor=audit.Actor())
        assert refused_file.value.errors[0].field == "file"
    assert count(app, session_id) == 1


def test_labels_and_timings_do_not_count_towards_the_limit(app, tenants, patient_id):
    session_id, _code = start(app, tenants, patient_id)
    # 200,000 characters said, with a speaker label and a time on every line: more raw text than
    # the limit, but what was said fits.
    line = "[00:00:01] Patient: " + "x" * 99
    text = "\n\n".join([line] * (MAX_CHARACTERS // 99))
    assert len(text) > MAX_CHARACTERS
    add(app, tenants, session_id, text=text)
    assert count(app, session_id) == 1


def test_the_api_names_the_field_of_a_transcript_that_is_too_long(app, client, tenants, patient_id):
    _session_id, code = start(app, tenants, patient_id)
    headers = bearer(app, tenants)
    response = client.post(
        f"/api/v1/consultation/{code}/transcript", json={"text": "d" * (MAX_CHARACTERS + 5)}, headers=headers
    )
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert [e["field"] for e in response.get_json()["errors"]] == ["text"]
    upload = client.post(
        f"/api/v1/consultation/{code}/transcript",
        data={"file": (io.BytesIO(("e" * (MAX_CHARACTERS + 5)).encode()), "long.txt")},
        content_type="multipart/form-data",
        headers=headers,
    )
    assert upload.status_code == 422
    assert [e["field"] for e in upload.get_json()["errors"]] == ["file"]


# --- five transcripts per consultation ---------------------------------------------------------------


def test_a_consultation_holds_at_most_five_transcripts(app, client, tenants, patient_id, clinician):
    session_id, code = start(app, tenants, patient_id)
    assert MAX_PER_SESSION == 5
    for _ in range(MAX_PER_SESSION):
        add(app, tenants, session_id)
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        with pytest.raises(Invalid) as refused:
            service.add_transcript(tenants.a.id, session, text="Patient: one more", actor=audit.Actor())
        assert refused.value.errors[0].field == "text"
        assert "already has 5 transcripts" in refused.value.errors[0].message
    api = client.post(
        f"/api/v1/consultation/{code}/transcript", json={"text": "Patient: one more"}, headers=bearer(app, tenants)
    )
    assert api.status_code == 422 and [e["field"] for e in api.get_json()["errors"]] == ["text"]
    page = clinician.post(
        f"/consultations/{session_id}/transcript",
        data={"text": "Patient: one more"},
        headers={**HTMX, "X-CSRFToken": page_csrf(clinician)},
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and "The transcript was not added." in html
    assert "already has 5 transcripts, the most one can hold." in html
    assert count(app, session_id) == MAX_PER_SESSION
    assert len(events(app, "consultation.transcript_added")) == MAX_PER_SESSION


def test_a_full_consultation_offers_no_form(app, tenants, patient_id, clinician):
    session_id, _code = start(app, tenants, patient_id)
    for _ in range(MAX_PER_SESSION - 1):
        add(app, tenants, session_id)
    assert 'id="transcript-form"' in clinician.get(f"/consultations/{session_id}").get_data(as_text=True)
    add(app, tenants, session_id)
    html = clinician.get(f"/consultations/{session_id}").get_data(as_text=True)
    assert 'id="transcript-form"' not in html and "data-transcripts-full" in html


def test_audio_is_not_sent_for_transcription_once_the_consultation_is_full(app, tenants, patient_id, monkeypatch):
    from clinic_app.consultations import stt

    session_id, _code = start(app, tenants, patient_id)
    for _ in range(MAX_PER_SESSION):
        add(app, tenants, session_id)
    monkeypatch.setattr(stt, "provider", lambda: pytest.fail("the provider was called for a full consultation"))
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        upload = service.UploadedFile("visit.mp3", b"ID3....", "audio/mpeg")
        with pytest.raises(Invalid, match="already has 5"):
            service.add_transcript(tenants.a.id, session, file=upload, actor=audit.Actor())


def test_two_additions_at_the_same_moment_never_make_a_sixth(make_app, tenants, patient_id):
    app = make_app()
    session_id, code = start(app, tenants, patient_id)
    for _ in range(MAX_PER_SESSION - 1):
        add(app, tenants, session_id)
    headers = bearer(app, tenants)
    barrier = threading.Barrier(2)
    answers: list = [None, None]

    def post(index: int) -> None:
        client = app.test_client()
        barrier.wait()
        answers[index] = client.post(
            f"/api/v1/consultation/{code}/transcript", json={"text": f"Patient: part {index}"}, headers=headers
        )

    threads = [threading.Thread(target=post, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201, 422], [answer.get_data(as_text=True)[:300] for answer in answers]
    refused = next(answer for answer in answers if answer.status_code == 422)
    assert [e["field"] for e in refused.get_json()["errors"]] == ["text"]
    assert count(app, session_id) == MAX_PER_SESSION


# --- long transcripts on the pages ------------------------------------------------------------------


LONG = " ".join(f"word{n:05d}" for n in range(18_000))  # about 180,000 characters in one passage


def test_the_session_page_shows_the_start_of_a_long_transcript_and_links_to_the_rest(
    app, tenants, patient_id, clinician
):
    session_id, _code = start(app, tenants, patient_id)
    add(app, tenants, session_id, text=LONG)
    response = clinician.get(f"/consultations/{session_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "word00000" in html and "word17999" not in html  # the start, not all of it
    assert len(html) < 60_000
    assert "data-transcript-more" in html
    assert f'href="/consultations/{session_id}/transcript?page=1#part-1"' in html


def test_the_transcript_page_shows_a_long_transcript_a_page_at_a_time(app, tenants, patient_id, clinician):
    session_id, _code = start(app, tenants, patient_id)
    add(app, tenants, session_id, text=LONG)
    first = clinician.get(f"/consultations/{session_id}/transcript").get_data(as_text=True)
    pages = -(-len(LONG) // transcript_pages.PAGE_CHARACTERS)
    assert f"Page 1 of {pages}" in first and "word00000" in first and "word17999" not in first
    assert len(first) < 60_000
    assert f'href="/consultations/{session_id}/transcript?page=2"' in first
    last = clinician.get(f"/consultations/{session_id}/transcript?page={pages}", headers=HTMX)
    fragment = last.get_data(as_text=True)
    assert last.status_code == 200 and "<html" not in fragment
    assert "word17999" in fragment and "word00000" not in fragment and "Part 1 (continued)" in fragment
    # Every word is on exactly one page.
    shown = "".join(
        clinician.get(f"/consultations/{session_id}/transcript?page={n}").get_data(as_text=True)
        for n in range(1, pages + 1)
    )
    assert all(shown.count(f"word{n:05d}") == 1 for n in (0, 4_321, 9_999, 17_999))
    out_of_range = clinician.get(f"/consultations/{session_id}/transcript?page=999").get_data(as_text=True)
    assert f"Page {pages} of {pages}" in out_of_range


def _view(sequence, segments):
    return TranscriptView(
        id=f"trn_{sequence}",
        sequence=sequence,
        source="paste",
        filename=None,
        word_count=0,
        segment_count=len(segments or []),
        has_timings=False,
        has_speakers=True,
        created_at=datetime(2025, 1, 1),
        segments=segments,
    )


def test_pages_keep_passages_whole_unless_one_is_longer_than_a_page():
    short = [Segment(None, None, "Patient", "x" * 40) for _ in range(5)]
    parts = [_view(1, short), _view(2, [Segment(None, None, None, "long words " * 30)]), _view(3, None)]
    pages = transcript_pages.paginate(parts, characters=100)
    texts = [[len(s.text) for e in page for s in (e.segments or [])] for page in pages]
    assert texts[0] == [40, 40] and texts[1] == [40, 40] and texts[2][0] == 40  # whole passages move on
    long_pieces = [e for page in pages for e in page if e.part.sequence == 2]
    assert long_pieces[0].ends_inside and long_pieces[1].starts_inside and long_pieces[1].continued
    assert all(len(s.text) <= 100 for e in long_pieces for s in e.segments)
    assert (
        "".join(" ".join(s.text for s in e.segments) + " " for e in long_pieces).split() == ("long words " * 30).split()
    )
    assert pages[-1][-1].part.sequence == 3 and pages[-1][-1].segments is None  # unreadable part kept
    preview = transcript_pages.preview(parts, characters=90)
    assert [len(s.text) for s in preview[0].segments] == [40, 40, 10] and preview[0].more
    assert not transcript_pages.preview([_view(4, short[:1])], characters=90)[0].more
