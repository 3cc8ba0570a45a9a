"""The transcript readers: real-looking WebVTT and SRT exports, plain text with speaker labels,
encodings, sizes, and malformed files refused with the line that is wrong."""

from __future__ import annotations

import codecs

import pytest

from clinic_app.consultations import transcripts
from clinic_app.consultations.transcripts import Segment, TranscriptProblem
from tests.consultations.conftest import PLAIN_TRANSCRIPT, SERVICE_SRT, TEAMS_VTT


def test_webvtt_keeps_timings_and_voices_and_drops_markup():
    segments = transcripts.parse_vtt(TEAMS_VTT)
    assert segments == [
        Segment(2.14, 6.9, "Dr Priya Raman", "Good morning. What brings you in today?"),
        Segment(7.31, 15.48, "Patient", "I haven't been sleeping & my chest feels tight most mornings before work."),
        Segment(63.0, 69.25, "Dr Priya Raman", "How long has that been going on?"),
        Segment(63.0, 69.25, "Patient", "About three months."),
    ]


def test_webvtt_speaker_prefixes_hours_and_voice_classes():
    text = (
        "\ufeffWEBVTT\r\n\r\n"
        "intro\r\n01:02:03.500 --> 01:02:05.000\r\nMother: She hasn't been eating.\r\n\r\n"
        "01:02:06.000 --> 01:02:08.000\r\n<v.loud.first Ana María>¿Puedo hablar?</v>\r\n\r\n"
        "STYLE\r\n::cue { color: lime }\r\n\r\n"
        "01:02:09.000 --> 01:02:10.000\r\nNo label here\r\n"
    )
    assert transcripts.parse_vtt(text) == [
        Segment(3723.5, 3725.0, "Mother", "She hasn't been eating."),
        Segment(3726.0, 3728.0, "Ana María", "¿Puedo hablar?"),
        Segment(3729.0, 3730.0, None, "No label here"),
    ]


def test_srt_keeps_numbers_timings_and_speaker_prefixes():
    assert transcripts.parse_srt(SERVICE_SRT) == [
        Segment(0.5, 3.25, "Clinician", "How has your shoulder been since last week?"),
        Segment(3.9, 9.0, "Patient", "Better in the mornings, worse after I lift the kids."),
        Segment(62.0, 65.5, "Clinician", "Let's keep the exercises going."),
    ]


def test_plain_text_turns_times_and_continuations():
    assert transcripts.parse_plain(PLAIN_TRANSCRIPT) == [
        Segment(None, None, "Dr Raman", "Good morning. What brings you in today?"),
        Segment(None, None, "Patient", "I haven't been sleeping well. It started after I changed jobs."),
        Segment(250.0, None, "Dr Raman", "Any thoughts of harming yourself?"),
        Segment(None, None, "Patient", "No, nothing like that."),
    ]


def test_prose_without_labels_is_split_into_paragraphs_and_a_stray_colon_is_no_speaker():
    text = "Session notes follow.\nThe plan is simple: rest and fluids.\n\nSee http://example.org: later"
    assert transcripts.parse_plain(text) == [
        Segment(None, None, None, "Session notes follow. The plan is simple: rest and fluids."),
        Segment(None, None, None, "See http://example.org: later"),
    ]


@pytest.mark.parametrize(
    ("reader", "text", "message"),
    [
        (transcripts.parse_vtt, "1\n00:00:01.000 --> 00:00:02.000\nhello\n", "Line 1: A WebVTT file starts"),
        (transcripts.parse_vtt, "WEBVTT\n\n00:00:01.000 -> 00:00:02.000\nhello\n", "Line 3: expected a cue timing"),
        (transcripts.parse_vtt, "WEBVTT\n\nhello\nthere\n", "Line 3: expected a cue timing"),
        (transcripts.parse_vtt, "WEBVTT\n\n1\n00:00:09.000 --> 00:00:02.000\nhi\n", "Line 4: the cue ends before"),
        (transcripts.parse_vtt, "WEBVTT\n\nNOTE nothing else\n", "The WebVTT file has no cues."),
        (
            transcripts.parse_srt,
            "1\n00:00:01,000 --> 00:00:02,000\nhi\n\nTwo\n00:00:03,000 --> 00:00:04,000\nx\n",
            "Line 5: expected a cue number",
        ),
        (transcripts.parse_srt, "1\n00:00:01 --> 00:00:02\nhi\n", "Line 2: expected a cue timing"),
        (transcripts.parse_srt, "7\n", "Line 1: cue 7 has no timing line."),
        (transcripts.parse_srt, "1\n00:00:01,000 --> 00:00:02,000\n<i></i>\n", "The SRT file's cues have no text."),
        (transcripts.parse_plain, " \n\n\t\n", "The transcript is empty."),
    ],
)
def test_malformed_input_is_refused_with_the_line(reader, text, message):
    with pytest.raises(TranscriptProblem) as problem:
        reader(text)
    assert problem.value.message.startswith(message)


def test_encodings_utf8_with_or_without_bom_and_utf16_with_bom():
    text = "Patient: Zoë feels better\n"
    assert transcripts.decode(text.encode()) == text
    assert transcripts.decode(codecs.BOM_UTF8 + text.encode()) == text
    assert transcripts.decode(text.encode("utf-16")) == text  # Python writes the BOM
    assert transcripts.decode(b"line one\r\nline two\rthree") == "line one\nline two\nthree"


def test_latin1_binary_and_oversized_files_are_refused_with_a_reason():
    with pytest.raises(TranscriptProblem, match=r"not UTF-8 text \(byte 12 cannot be read\)"):
        transcripts.decode("Patient: Zoë".encode("latin-1"))
    with pytest.raises(TranscriptProblem, match="does not look like a text file"):
        transcripts.decode(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(TranscriptProblem, match=r"2\.0 MB; the limit is 2 MB"):
        transcripts.decode(b"a" * (2 * 1024 * 1024 + 1))
    assert transcripts.decode(b"a" * (2 * 1024 * 1024)) == "a" * (2 * 1024 * 1024)


def test_word_count_ignores_speaker_labels_and_counts_contractions_once():
    segments = transcripts.parse_plain("Doctor: Don't worry, it's well-being.\nPatient: 42 times!")
    assert transcripts.word_count(segments) == 6


def test_file_kinds_and_timestamps():
    assert [transcripts.kind_of(n) for n in ("a.TXT", "b.vtt", "c.Srt", "d.docx", "vtt")] == [
        "txt",
        "vtt",
        "srt",
        None,
        None,
    ]
    assert transcripts.format_timestamp(65.4) == "01:05"
    assert transcripts.format_timestamp(3723.5) == "1:02:03"
    assert transcripts.format_timestamp(None) == ""
