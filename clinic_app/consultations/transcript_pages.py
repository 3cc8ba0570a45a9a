"""Long transcripts shown a piece at a time.

A session may hold five transcripts of 200,000 characters each; rendered whole, that is a page of
a megabyte that a browser lays out before anyone reads a line. The session page therefore shows
the first ``PREVIEW_CHARACTERS`` of each part with a link to the rest, and the transcript page
shows ``PAGE_CHARACTERS`` at a time, every part in order, with its pager. A passage longer than
what is left of a page moves to the next one; one longer than a whole page is cut at a space
(``ends_inside``) and goes on at the top of the next page (``starts_inside``), so a pasted
transcript without line breaks pages too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clinic_app.consultations.queries import TranscriptView
from clinic_app.consultations.transcripts import Segment

PREVIEW_CHARACTERS = 2_000
PAGE_CHARACTERS = 20_000


@dataclass
class PartExcerpt:
    """What is shown of one transcript part: some of its passages (None: it cannot be decrypted),
    whether the part began on an earlier page, whether the first passage began there and the last
    one goes on, and whether more of the part follows what is shown."""

    part: TranscriptView
    segments: list[Segment] | None = field(default_factory=list)
    continued: bool = False
    starts_inside: bool = False
    ends_inside: bool = False
    more: bool = False


@dataclass(frozen=True)
class TranscriptPage:
    number: int
    count: int
    parts: list[PartExcerpt]

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.count else None


def _cut(text: str, room: int) -> tuple[str, str]:
    """``text`` split in two with the first piece at most ``room`` characters, at the last space
    when there is one in the second half of the room (else exactly at ``room``)."""
    if len(text) <= room:
        return text, ""
    space = text.rfind(" ", room // 2, room + 1)
    at = space if space > 0 else room
    return text[:at].rstrip(), text[at:].lstrip()


def _piece(segment: Segment, text: str) -> Segment:
    return Segment(segment.start, segment.end, segment.speaker, text)


def preview(parts: list[TranscriptView], characters: int = PREVIEW_CHARACTERS) -> list[PartExcerpt]:
    """The start of each part, at most ``characters`` of text each."""
    excerpts = []
    for part in parts:
        if part.segments is None:
            excerpts.append(PartExcerpt(part, None))
            continue
        excerpt, room = PartExcerpt(part), characters
        for segment in part.segments:
            if room <= 0:
                excerpt.more = True
                break
            shown, rest = _cut(segment.text, room)
            excerpt.segments.append(_piece(segment, shown))  # type: ignore[union-attr]
            room -= len(shown)
            if rest:
                excerpt.ends_inside = excerpt.more = True
                break
        excerpts.append(excerpt)
    return excerpts


def paginate(parts: list[TranscriptView], characters: int = PAGE_CHARACTERS) -> list[list[PartExcerpt]]:
    """Every page of the transcript: each a list of part excerpts holding at most ``characters``
    of text (a page holds at least one passage, or the piece of one that fits)."""
    pages: list[list[PartExcerpt]] = [[]]
    room = characters
    begun: set[str] = set()

    def current(part: TranscriptView, starts_inside: bool = False) -> PartExcerpt:
        page = pages[-1]
        if not page or page[-1].part is not part:
            page.append(PartExcerpt(part, continued=part.id in begun, starts_inside=starts_inside))
            begun.add(part.id)
        return page[-1]

    for part in parts:
        if not part.segments:  # unreadable (None) or empty: its heading and a word about it
            pages[-1].append(PartExcerpt(part, part.segments))
            continue
        for segment in part.segments:
            text, continued = segment.text, False
            while True:
                # A passage that does not fit moves whole to the next page; only one longer than a
                # page is cut.
                if room <= 0 or (room < characters and room < len(text) <= characters):
                    page = pages[-1]
                    if page and page[-1].part is part:
                        page[-1].more = True
                    pages.append([])
                    room = characters
                excerpt = current(part, starts_inside=continued)
                shown, text = _cut(text, room)
                excerpt.segments.append(_piece(segment, shown))  # type: ignore[union-attr]
                room -= max(len(shown), 1)
                if not text:
                    break
                excerpt.ends_inside = excerpt.more = True
                room, continued = 0, True
    return pages


def first_pages(pages: list[list[PartExcerpt]]) -> dict[str, int]:
    """The page (1-based) each part begins on, by part id."""
    found: dict[str, int] = {}
    for number, page in enumerate(pages, start=1):
        for excerpt in page:
            found.setdefault(excerpt.part.id, number)
    return found


def page_of(parts: list[TranscriptView], number: int, characters: int = PAGE_CHARACTERS) -> TranscriptPage:
    """Page ``number`` (1-based; out of range: the nearest page) of the transcript."""
    pages = paginate(parts, characters)
    number = max(1, min(number, len(pages)))
    return TranscriptPage(number=number, count=len(pages), parts=pages[number - 1])
