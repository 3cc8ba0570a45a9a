"""The offline generator: every section of both built-in templates is present (with "Not
recorded." where nothing applies), facts land in the section they belong to, transcript passages
are quoted with timestamps and speakers, the same inputs give the same draft, and transcript text
is quoted as text, never as markup."""

from __future__ import annotations

import random

import pytest

from clinic_app.reports.defaults import DEFAULT_TEMPLATES
from clinic_app.reports.generation import offline
from clinic_app.reports.generation.base import (
    NOT_RECORDED,
    GenerationInputs,
    Medication,
    Section,
    SymptomFact,
    TranscriptLine,
    format_timestamp,
)

TEMPLATES = {
    t.builtin_key: tuple(Section(s["key"], s["title"], s["guidance"]) for s in t.sections) for t in DEFAULT_TEMPLATES
}

TRANSCRIPT = (
    TranscriptLine(2.0, 6.0, "Clinician", "Good morning, how have things been?"),
    TranscriptLine(7.5, 15.0, "Patient", "My right shoulder pain is worse when I lift my arm above my head at work."),
    TranscriptLine(
        65.0, 70.0, "Clinician", "Range of motion is limited in abduction and the impingement test is positive."
    ),
    TranscriptLine(
        130.0, 140.0, "Clinician", "Today we did soft tissue massage and taping, and I showed you two exercises."
    ),
    TranscriptLine(
        3725.0, 3730.0, "Clinician", "Keep the home exercise program going and we will review in two weeks."
    ),
)


def inputs(template: str, **values) -> GenerationInputs:
    return GenerationInputs(template_name=template, sections=TEMPLATES[template], **values)


def rich(template: str) -> GenerationInputs:
    return inputs(
        template,
        chief_complaint="Right shoulder pain",
        presenting_problem="Shoulder pain lifting at work",
        illness_duration="6 weeks",
        precipitating_factors="Lifting boxes at the warehouse",
        symptoms=(SymptomFact("Symptom or complaint of the shoulder", "ME86.D", "moderate", "daily", "6 weeks"),),
        medication_plan=(Medication("Ibuprofen", "400mg", "Three times daily", "1 week"),),
        session_notes="Review in two weeks",
        patient_progress="Sleeping better",
        transcript=TRANSCRIPT,
    )


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_with_nothing_recorded_every_section_is_present_and_says_so(template):
    draft = offline.generate(inputs(template))
    assert list(draft.sections) == [s.key for s in TEMPLATES[template]]
    assert set(draft.sections.values()) == {NOT_RECORDED}
    assert (draft.generator, draft.model, draft.note) == ("offline", "offline-extractive-1", None)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_with_everything_recorded_every_section_is_present_and_the_facts_are_placed(template):
    draft = offline.generate(rich(template)).sections
    assert list(draft) == [s.key for s in TEMPLATES[template]]
    assert all(text.strip() for text in draft.values())
    complaint = draft["presenting_complaint"]
    for fact in ("Right shoulder pain", "Shoulder pain lifting at work", "6 weeks", "Lifting boxes at the warehouse"):
        assert fact in complaint
    assert (
        "**Symptom or complaint of the shoulder** (ICD-11 ME86.D): severity moderate; daily; for 6 weeks"
        in draft["symptoms"]
    )
    assert "Ibuprofen — 400mg — Three times daily — 1 week" in draft["medication"]
    assert "Review in two weeks" in draft["plan"]
    assert "Sleeping better" in draft["assessment"]


def test_passages_are_quoted_in_the_section_they_fit_with_timestamp_and_speaker():
    draft = offline.generate(rich("physiotherapy")).sections
    assert "> [01:05] **Clinician:** “Range of motion is limited in abduction" in draft["examination"]
    assert "[02:10] **Clinician:** “Today we did soft tissue massage and taping" in draft["treatment"]
    assert "[1:02:05] **Clinician:** “Keep the home exercise program going" in draft["plan"]
    # A passage is quoted once, in the section it fits best.
    quoted = [text for text in draft.values() if "Range of motion is limited" in text]
    assert len(quoted) == 1


def test_a_transcript_without_timings_is_quoted_without_them():
    lines = (TranscriptLine(None, None, None, "The shoulder pain is worse at night when lying on it."),)
    draft = offline.generate(inputs("physiotherapy", transcript=lines)).sections
    assert any("> “The shoulder pain is worse at night when lying on it.”" in text for text in draft.values())


def test_the_same_inputs_give_the_same_draft_and_digest():
    first, second = rich("mental_health"), rich("mental_health")
    assert offline.generate(first) == offline.generate(second)
    assert first.digest() == second.digest()
    assert rich("physiotherapy").digest() != first.digest()
    changed = GenerationInputs(**{**first.__dict__, "session_notes": "Review in three weeks"})
    assert changed.digest() != first.digest()


def test_transcript_text_is_quoted_as_text_not_markup():
    lines = (TranscriptLine(1.0, 2.0, "Patient", "My shoulder <script>alert(1)</script> **hurts** [link](http://x)"),)
    draft = offline.generate(inputs("physiotherapy", chief_complaint="Shoulder", transcript=lines)).sections
    text = next(t for t in draft.values() if "alert" in t)
    assert "\\<script\\>" in text and "\\*\\*hurts\\*\\*" in text and "\\[link\\]" in text


def test_a_custom_template_gets_facts_even_when_no_section_names_them():
    sections = (Section("opening", "Opening", "Greeting"), Section("closing", "Closing", "Wrap up"))
    draft = offline.generate(
        GenerationInputs(
            template_name="Custom",
            sections=sections,
            chief_complaint="Headaches",
            medication_plan=(Medication("Paracetamol"),),
        )
    ).sections
    assert "Headaches" in draft["opening"]
    assert "Paracetamol" in draft["closing"]


def test_a_ten_thousand_word_transcript_is_drafted_with_a_few_quotes_per_section():
    rng = random.Random(7)
    vocabulary = ["pain", "shoulder", "sleep", "work", "stairs", "swelling", "exercise", "stretch", "tight", "sore"]
    lines = []
    words = 0
    second = 0.0
    while words < 10_000:
        sentence = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(8, 40)))
        lines.append(TranscriptLine(second, second + 5, rng.choice(["Patient", "Clinician"]), sentence + "."))
        words += len(sentence.split())
        second += 6
    draft = offline.generate(inputs("physiotherapy", chief_complaint="Shoulder pain", transcript=tuple(lines))).sections
    assert list(draft) == [s.key for s in TEMPLATES["physiotherapy"]]
    quotes = sum(text.count("> [") for text in draft.values())
    assert 0 < quotes <= offline.QUOTES_PER_SECTION * len(draft)


def test_long_segments_are_cut_into_passages_that_keep_their_start_time():
    sentence = "The pain in my shoulder is sharp when I reach up. " * 20
    found = offline.passages([TranscriptLine(30.0, 90.0, "Patient", sentence)])
    assert len(found) > 1
    assert all(p.start == 30.0 and p.speaker == "Patient" and p.words <= offline.PASSAGE_MAX_WORDS for p in found)


def test_timestamps_are_written_as_minutes_or_hours():
    assert format_timestamp(None) is None
    assert format_timestamp(5.9) == "00:05"
    assert format_timestamp(125) == "02:05"
    assert format_timestamp(3725) == "1:02:05"
