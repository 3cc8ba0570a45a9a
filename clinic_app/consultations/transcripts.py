"""Reading transcripts: pasted text, plain-text files, WebVTT and SubRip (SRT) captions.

Every reader turns its input into ``Segment`` rows (start and end in seconds when the source has
timings, the speaker when it names one, and the words). The rules, also in docs/consultations.md:

* **Encoding.** UTF-8, with or without a byte-order mark, and UTF-16 with a byte-order mark (what
  Windows Notepad writes as "Unicode"). Anything else is refused with a message saying so: a
  Latin-1 or Windows-1252 fallback would accept any file, binary ones included, and quietly turn
  curly quotes and accented names into the wrong letters in a clinical record.
* **Size.** At most 2 MB of file (or of pasted text); a two-hour consultation is about 150 kB.
  Once read, a transcript holds at most 200,000 characters of what was said (``MAX_CHARACTERS``:
  the words, not the timings, cue numbers or speaker labels), and a session at most five
  transcripts (the service counts them).
* **Plain text.** A line "Speaker: words" starts a turn of that speaker; a line may also begin
  with a time ("[00:12:05]", "12:05"). A line without either continues the turn above it; a blank
  line ends it. Text with no speaker labels at all is split into paragraphs.
* **WebVTT.** Cue timings; ``<v Speaker>`` voice tags (several in one cue become several
  segments), or a "Speaker:" prefix as some meeting tools write; NOTE, STYLE and REGION blocks and
  other markup are ignored.
* **SRT.** Cue number, timings (comma or dot before the milliseconds), text; "Speaker:" or
  ">> Speaker:" prefixes; formatting tags dropped.

Malformed files raise ``TranscriptProblem`` naming the line, and nothing is stored.
"""

from __future__ import annotations

import codecs
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

MAX_BYTES = 2 * 1024 * 1024
MAX_CHARACTERS = 200_000
MAX_SPEAKER = 60


@dataclass(frozen=True)
class Segment:
    """One stretch of a transcript: ``start``/``end`` in seconds from the start of its recording
    (None when the source has no timings), the speaker when named, and what was said."""

    start: float | None
    end: float | None
    speaker: str | None
    text: str

    def as_dict(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "speaker": self.speaker, "text": self.text}

    @classmethod
    def of(cls, data: dict[str, object]) -> Segment:
        start, end = data.get("start"), data.get("end")
        return cls(
            float(start) if isinstance(start, int | float) else None,
            float(end) if isinstance(end, int | float) else None,
            str(data["speaker"]) if data.get("speaker") else None,
            str(data.get("text") or ""),
        )


class TranscriptProblem(ValueError):
    """The input cannot be read as a transcript; ``message`` says why (and where) in plain words."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.message = f"Line {line}: {message}" if line is not None else message
        self.line = line
        super().__init__(self.message)


# --- bytes to text ----------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """The text of an uploaded file. Raises TranscriptProblem for anything but UTF-8 (BOM or not)
    or UTF-16 with a BOM, for binary content, and for files over the size limit."""
    check_size(len(data))
    if data.startswith(codecs.BOM_UTF8):
        encoding, body = "utf-8", data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding, body = "utf-16", data
    else:
        encoding, body = "utf-8", data
        if b"\x00" in data[:8192]:
            raise TranscriptProblem("This does not look like a text file.")
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as error:
        raise TranscriptProblem(
            f"The file is not UTF-8 text (byte {error.start + 1} cannot be read). "
            "Save it with the encoding UTF-8 and upload it again."
        ) from None
    return clean_text(text)


def clean_text(text: str) -> str:
    """Newlines made uniform and a leading byte-order mark dropped; refuses binary content and
    text that is not valid Unicode (a lone surrogate, which no encoding can store)."""
    if "\x00" in text:
        raise TranscriptProblem("This does not look like a text file.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise TranscriptProblem(
            f"The text is not valid Unicode (character {error.start + 1} cannot be stored). Copy it again from "
            "the original and paste it."
        ) from None
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def check_size(size: int) -> None:
    if size > MAX_BYTES:
        raise TranscriptProblem(
            f"The transcript is {size / 1024 / 1024:.1f} MB; the limit is {MAX_BYTES // 1024 // 1024} MB."
        )


# --- shared pieces ----------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:['\u2019\-][^\W_]+)*")
# "Dr Smith: ...", "PATIENT: ...", "Mother (informant): ..."; up to four words, starting with a
# letter, and a space after the colon (so "http://..." and "10:30" are not speakers).
_SPEAKER = re.compile(
    r"^(?:>>\s*)?(?P<speaker>[^\W\d_][\w .'\u2019()\-]{0,%s}?)\s*:\s+(?P<text>\S.*)$".replace(
        "%s", str(MAX_SPEAKER - 1)
    )
)
_TAG = re.compile(r"<[^>]*>")
_ASS_CODE = re.compile(r"\{\\[^}]*\}")  # "{\an8}" positioning codes some SRT files carry
_SPACES = re.compile(r"\s+")


def word_count(segments: list[Segment]) -> int:
    return sum(len(_WORD.findall(segment.text)) for segment in segments)


def character_count(segments: list[Segment]) -> int:
    """Characters of what was said (speaker names and timings not counted)."""
    return sum(len(segment.text) for segment in segments)


def check_length(segments: list[Segment]) -> None:
    """Raises TranscriptProblem when the transcript's text is over ``MAX_CHARACTERS``."""
    characters = character_count(segments)
    if characters > MAX_CHARACTERS:
        raise TranscriptProblem(
            f"The transcript has {characters:,} characters of text; one transcript may hold at most "
            f"{MAX_CHARACTERS:,}. Split the recording into parts and add each one."
        )


def _split_speaker(text: str) -> tuple[str | None, str]:
    match = _SPEAKER.match(text)
    if match is None:
        return None, text
    speaker = match.group("speaker").strip()
    if len(speaker.split()) > 4:
        return None, text
    return speaker, match.group("text").strip()


def _squash(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def format_timestamp(seconds: float | None) -> str:
    """``mm:ss`` (or ``h:mm:ss`` from an hour on) for showing a segment's start."""
    if seconds is None:
        return ""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


# --- plain text -------------------------------------------------------------------------------

_LEADING_TIME = re.compile(
    r"^[\[(]?(?P<time>(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?)[\])]?(?:\s*[-\u2013\u2014]\s*|\s+)(?P<rest>\S.*)$"
)


def _clock(value: str) -> float:
    """Seconds from "h:mm:ss.fff", "mm:ss,fff" or "mm:ss"."""
    value = value.replace(",", ".")
    parts = value.split(":")
    seconds = float(parts[-1])
    minutes = int(parts[-2]) if len(parts) >= 2 else 0
    hours = int(parts[-3]) if len(parts) >= 3 else 0
    return hours * 3600 + minutes * 60 + seconds


@dataclass
class _Turn:
    start: float | None
    speaker: str | None
    lines: list[str]

    def segment(self) -> Segment:
        return Segment(self.start, None, self.speaker, " ".join(self.lines))


def parse_plain(text: str) -> list[Segment]:
    """Segments of pasted or .txt text (see the module docstring). Raises TranscriptProblem when
    there is nothing but blank lines."""
    lines = [_squash(line) for line in clean_text(text).split("\n")]
    # One "Something: ..." line in prose is a sentence, not a speaker: labels count once at
    # least two lines carry one.
    labelled = sum(1 for line in lines if _split_speaker(_line_start(line, False)[2])[0] is not None) >= 2
    segments: list[Segment] = []
    turn: _Turn | None = None
    for stripped in lines:
        if not stripped:  # a blank line ends the turn
            if turn is not None and turn.lines:
                segments.append(turn.segment())
            turn = None
            continue
        start, speaker, words = _line_start(stripped, labelled)
        # A time or a speaker starts a turn; any other line continues the one above it.
        if turn is None or start is not None or speaker is not None:
            if turn is not None and turn.lines:
                segments.append(turn.segment())
            turn = _Turn(start, speaker, [])
        if words:
            turn.lines.append(words)
    if turn is not None and turn.lines:
        segments.append(turn.segment())
    if not segments:
        raise TranscriptProblem("The transcript is empty.")
    return segments


def _line_start(line: str, labelled: bool) -> tuple[float | None, str | None, str]:
    """(time, speaker, rest of the line) for one line of plain text; a speaker only when
    ``labelled``."""
    start = None
    stripped = line.strip()
    timed = _LEADING_TIME.match(stripped)
    if timed is not None:
        start = _clock(timed.group("time"))
        stripped = timed.group("rest")
    if not labelled:
        return start, None, stripped
    speaker, words = _split_speaker(stripped)
    return start, speaker, words


# --- captions (WebVTT and SRT) ----------------------------------------------------------------

_TIMING = re.compile(
    r"^\s*(?P<start>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s+-->\s+(?P<end>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})(?:\s+.*)?$"
)


def _blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """Groups of non-blank lines, each with the (1-based) number of its first line."""
    block: list[str] = []
    first = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not block:
                first = number
            block.append(line.rstrip())
        elif block:
            yield first, block
            block = []
    if block:
        yield first, block


def _timing(line: str, number: int) -> tuple[float, float]:
    match = _TIMING.match(line)
    if match is None:
        expected = "expected a cue timing like “00:00:01.000 --> 00:00:04.000”"
        raise TranscriptProblem(f"{expected}, found “{line[:60]}”.", number)
    start, end = _clock(match.group("start")), _clock(match.group("end"))
    if end < start:
        raise TranscriptProblem("the cue ends before it starts.", number)
    return start, end


_VOICE = re.compile(r"<v(?:\.[^\s>]+)*(?:[ \t]+(?P<name>[^>]*))?>", re.IGNORECASE)


def _vtt_payload(payload: str, start: float, end: float) -> list[Segment]:
    """A cue's text as one segment per voice (``<v Name>``), or one with a "Name:" prefix."""
    voices = list(_VOICE.finditer(payload))
    if not voices:
        text = _squash(html.unescape(_TAG.sub("", payload)))
        speaker, text = _split_speaker(text)
        return [Segment(start, end, speaker, text)] if text else []
    pieces: list[tuple[str | None, str]] = []
    before = payload[: voices[0].start()]
    if _squash(_TAG.sub("", before)):
        pieces.append((None, before))
    for index, voice in enumerate(voices):
        until = voices[index + 1].start() if index + 1 < len(voices) else len(payload)
        pieces.append(((voice.group("name") or "").strip() or None, payload[voice.end() : until]))
    segments = []
    for speaker, raw in pieces:
        text = _squash(html.unescape(_TAG.sub("", raw)))
        if text:
            name = html.unescape(speaker)[:MAX_SPEAKER] if speaker else None
            segments.append(Segment(start, end, name, text))
    return segments


def parse_vtt(text: str) -> list[Segment]:
    """Segments of a WebVTT file. Raises TranscriptProblem (with the line) when it is malformed."""
    text = clean_text(text)
    first_line = text.split("\n", 1)[0]
    if not re.match(r"^WEBVTT(?:[ \t].*)?$", first_line):
        raise TranscriptProblem("A WebVTT file starts with the line “WEBVTT”; this one does not.", 1)
    segments: list[Segment] = []
    cues = 0
    for index, (number, block) in enumerate(_blocks(text)):
        if index == 0:
            continue  # the WEBVTT line and any header lines under it
        head = block[0].strip()
        if re.match(r"^(NOTE|STYLE|REGION)(?:\s|$)", head):
            continue
        if "-->" in block[0]:
            timing_at = 0
        elif len(block) > 1 and "-->" in block[1]:
            timing_at = 1  # a cue identifier above the timing
        else:
            raise TranscriptProblem(
                "expected a cue timing like “00:00:01.000 --> 00:00:04.000” (or a cue identifier above one).", number
            )
        start, end = _timing(block[timing_at], number + timing_at)
        cues += 1
        segments.extend(_vtt_payload("\n".join(block[timing_at + 1 :]), start, end))
    if not cues:
        raise TranscriptProblem("The WebVTT file has no cues.")
    if not segments:
        raise TranscriptProblem("The WebVTT file's cues have no text.")
    return segments


def parse_srt(text: str) -> list[Segment]:
    """Segments of a SubRip file. Raises TranscriptProblem (with the line) when it is malformed."""
    text = clean_text(text)
    segments: list[Segment] = []
    cues = 0
    for number, block in _blocks(text):
        head = block[0].strip()
        if head.isdigit():
            if len(block) < 2:
                raise TranscriptProblem(f"cue {head} has no timing line.", number)
            timing_at = 1
        elif "-->" in head:
            timing_at = 0  # tolerated: a cue without its number
        else:
            raise TranscriptProblem(f"expected a cue number, found “{head[:60]}”.", number)
        start, end = _timing(block[timing_at], number + timing_at)
        cues += 1
        lines = [_squash(html.unescape(_TAG.sub("", _ASS_CODE.sub("", line)))) for line in block[timing_at + 1 :]]
        words = " ".join(line for line in lines if line)
        speaker, words = _split_speaker(words)
        if words:
            segments.append(Segment(start, end, speaker, words))
    if not cues:
        raise TranscriptProblem("The SRT file has no cues.")
    if not segments:
        raise TranscriptProblem("The SRT file's cues have no text.")
    return segments


READERS = {"paste": parse_plain, "txt": parse_plain, "vtt": parse_vtt, "srt": parse_srt}
EXTENSIONS = {".txt": "txt", ".vtt": "vtt", ".srt": "srt"}


def kind_of(filename: str) -> str | None:
    """ "txt", "vtt" or "srt" from a file name's extension; None for anything else."""
    lowered = filename.lower().strip()
    return next((kind for extension, kind in EXTENSIONS.items() if lowered.endswith(extension)), None)


def parse(text: str, kind: str) -> list[Segment]:
    """Segments of ``text`` read as ``kind`` ("paste", "txt", "vtt" or "srt")."""
    return READERS[kind](text)
