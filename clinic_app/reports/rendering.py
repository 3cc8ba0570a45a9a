"""Report text as HTML: Markdown rendered and sanitised, and the clinician's edits shown against
the generated draft.

Markdown is rendered with raw HTML switched off (a ``<script>`` typed into a section shows as
text), then sanitised with an allow-list (no images, no styles, links only to http(s) and mailto)
as a second lock, because the HTML goes into the review page and the PDF as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "b", "i", "u", "s", "del", "ins", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td", "a",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}, "ol": {"start"}}

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")
_WORD = re.compile(r"\w")


def markdown_to_html(text: str | None) -> Markup:
    """Safe HTML for a section's Markdown (empty for no text)."""
    if not text:
        return Markup("")
    html = _markdown.render(text)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)  # noqa: S704 (sanitised just above)


@dataclass(frozen=True)
class Diff:
    html: Markup  # the edited text with <ins> for what was added and <del> for what was removed
    inserted_words: int
    deleted_words: int

    @property
    def changed(self) -> bool:
        return bool(self.inserted_words or self.deleted_words)


def _words(tokens: list[str]) -> int:
    return sum(1 for token in tokens if _WORD.match(token))


def _chunks(before: list[str], after: list[str]) -> list[tuple[bool, list[str], list[str]]]:
    """(changed, removed tokens, added tokens) runs; an unchanged run of only spaces and
    punctuation between two changes joins them, so "Not recorded" → "Calm and settled" reads as
    one replacement rather than word-by-word swaps around the shared space."""
    matcher = SequenceMatcher(None, before, after, autojunk=False)
    chunks: list[tuple[bool, list[str], list[str]]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            chunks.append((False, before[i1:i2], after[j1:j2]))
        else:
            chunks.append((True, before[i1:i2], after[j1:j2]))
    merged: list[tuple[bool, list[str], list[str]]] = []
    index = 0
    while index < len(chunks):
        changed, removed, added = chunks[index]
        if (
            not changed
            and merged
            and merged[-1][0]
            and index + 1 < len(chunks)
            and not any(_WORD.search(token) for token in added)
        ):
            _, next_removed, next_added = chunks[index + 1]
            _, prev_removed, prev_added = merged.pop()
            merged.append((True, prev_removed + removed + next_removed, prev_added + added + next_added))
            index += 2
            continue
        if changed and merged and merged[-1][0]:
            _, prev_removed, prev_added = merged.pop()
            merged.append((True, prev_removed + removed, prev_added + added))
        else:
            merged.append((changed, removed, added))
        index += 1
    return merged


def diff(generated: str | None, current: str | None) -> Diff:
    """Word by word, what the clinician changed in the generated text (both as typed Markdown)."""
    parts: list[str] = []
    inserted = deleted = 0
    for changed, removed, added in _chunks(_TOKENS.findall(generated or ""), _TOKENS.findall(current or "")):
        if not changed:
            parts.append(str(escape("".join(added))))
            continue
        if removed:
            deleted += _words(removed)
            parts.append(f'<del class="diff-del">{escape("".join(removed))}</del>')
        if added:
            inserted += _words(added)
            parts.append(f'<ins class="diff-ins">{escape("".join(added))}</ins>')
    return Diff(Markup("".join(parts)), inserted, deleted)  # noqa: S704 (every piece escaped)
