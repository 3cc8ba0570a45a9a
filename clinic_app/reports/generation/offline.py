"""The offline generator: a structured draft from the facts on record and the transcript's most
informative passages, with no network and no model. It always works, and the same inputs always
give the same draft.

How a section is filled:

1. **Facts** go to the section whose key and title (and, more weakly, guidance) best match what
   they are: the chief complaint with the intake's presenting problem, duration and precipitating
   factors to a "complaint" section; the recorded symptoms (severity, frequency, ICD-11 code) to a
   "symptoms" section; the medication plan to a "medication" section; the patient's progress to an
   "assessment" section; the session's notes and the request's additional notes to a "plan"
   section. A kind of fact no section matches goes to the first (the complaint) or last section.
2. **Quotes**: the transcript is cut into passages (a segment, or a few sentences of a long one).
   Each passage is scored against each section's terms — the words of its title and guidance,
   plus the chief complaint and the symptom names — weighting rarer words higher (a word said in
   every passage tells nothing), and normalised by length. A passage is quoted in the one section
   it fits best, and each section quotes its best few, in the order they were said, with their
   timestamps and speakers.
3. A section with neither facts nor quotes says "Not recorded."
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from clinic_app.reports.generation.base import (
    NOT_RECORDED,
    Draft,
    GenerationInputs,
    Section,
    TranscriptLine,
    format_timestamp,
)

NAME = "offline"
MODEL = "offline-extractive-1"
QUOTES_PER_SECTION = 3
PASSAGE_MAX_WORDS = 60
PASSAGE_MIN_WORDS = 4

_WORD = re.compile(r"[a-z][a-z0-9']*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")

STOPWORDS = frozenset(
    " ".join(
        (
            "a about above after again against all also am an and any are as at be because been before being",
            "below between both but by can could did do does doing down during each few for from further had has",
            "have having he her here hers herself him himself his how i if in into is it its itself just me more",
            "most my myself no nor not now of off on once only or other our ours ourselves out over own same she",
            "should so some such than that the their theirs them themselves then there these they this those",
            "through to too under until up very was we were what when where which while who whom why will with",
            "would you your yours yourself yourselves yes yeah okay ok um uh like really well get got going go",
            "know think mean said say says thing things lot much many one two still even every today day time",
            "week weeks month months since patient patients clinician doctor section what's it's i'm don't can't",
            "that's there's i've you're",
        )
    ).split()
)

# What each kind of fact is about, matched (stemmed, below) against a section's key, title and guidance.
_FACT_WORDS: dict[str, frozenset[str]] = {
    "complaint": frozenset({"complaint", "present", "reason", "problem", "concern", "referral"}),
    "symptoms": frozenset({"symptom", "severity", "icd", "sign"}),
    "medication": frozenset({"medication", "medicine", "drug", "prescription", "pharmacotherapy", "dose"}),
    "progress": frozenset({"assessment", "impression", "progress", "response", "formulation", "review"}),
    "plan": frozenset({"plan", "follow", "next", "goal", "recommendation", "management", "step"}),
}
FALLBACK_FIRST = frozenset({"complaint"})


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    """A light suffix-stripper, applied alike to passages and section terms, so "sleeping",
    "sleeps" and "sleep" meet."""
    if len(word) <= 4:
        return word
    for suffix, replacement in (
        ("ations", "ate"),
        ("ation", "ate"),
        ("ies", "y"),
        ("ied", "y"),
        ("ing", ""),
        ("ness", ""),
        ("edly", ""),
        ("ed", ""),
        ("ly", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + replacement
    return word


FACT_AFFINITY: dict[str, frozenset[str]] = {
    kind: frozenset(stem(word) for word in words) for kind, words in _FACT_WORDS.items()
}


def terms(text: str | None) -> set[str]:
    if not text:
        return set()
    return {stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 2}


@dataclass(frozen=True)
class Passage:
    order: int
    start: float | None
    speaker: str | None
    text: str
    terms: frozenset[str]
    words: int


def passages(lines: tuple[TranscriptLine, ...] | list[TranscriptLine]) -> list[Passage]:
    """The transcript as quotable passages: each segment, or runs of sentences of a long one
    (every piece keeps its segment's start time and speaker)."""
    found: list[Passage] = []
    for line in lines:
        text = " ".join(line.text.split())
        if not text:
            continue
        chunks = [text]
        if len(text.split()) > PASSAGE_MAX_WORDS:
            chunks, current, count = [], [], 0
            for sentence in _SENTENCE_END.split(text):
                size = len(sentence.split())
                if current and count + size > PASSAGE_MAX_WORDS:
                    chunks.append(" ".join(current))
                    current, count = [], 0
                current.append(sentence)
                count += size
            if current:
                chunks.append(" ".join(current))
        for chunk in chunks:
            words = len(chunk.split())
            if words < PASSAGE_MIN_WORDS:
                continue
            found.append(Passage(len(found), line.start, line.speaker, chunk, frozenset(terms(chunk)), words))
    return found


def _escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _quote(passage: Passage) -> str:
    stamp = format_timestamp(passage.start)
    head = " ".join(
        part
        for part in (f"[{stamp}]" if stamp else None, f"**{_escape(passage.speaker)}:**" if passage.speaker else None)
        if part
    )
    return f"> {head + ' ' if head else ''}“{_escape(passage.text)}”"


# --- facts ----------------------------------------------------------------------------------------


def _fact_lines(inputs: GenerationInputs) -> dict[str, list[str]]:
    facts: dict[str, list[str]] = {kind: [] for kind in FACT_AFFINITY}

    def labelled(kind: str, label: str, value: str | None) -> None:
        if value and value.strip():
            facts[kind].append(f"**{label}:** {_escape(value)}")

    labelled("complaint", "Chief complaint", inputs.chief_complaint)
    labelled("complaint", "Presenting problem (intake)", inputs.presenting_problem)
    labelled("complaint", "Going on for", inputs.illness_duration)
    labelled("complaint", "Precipitating factors", inputs.precipitating_factors)
    for symptom in inputs.symptoms:
        details = [
            f"severity {symptom.severity}" if symptom.severity else None,
            symptom.frequency,
            f"for {symptom.duration}" if symptom.duration else None,
        ]
        code = f" (ICD-11 {_escape(symptom.code)})" if symptom.code else ""
        line = f"- **{_escape(symptom.name)}**{code}"
        described = "; ".join(_escape(d) for d in details if d)
        if described:
            line += f": {described}"
        if symptom.notes:
            line += f". {_escape(symptom.notes)}"
        facts["symptoms"].append(line)
    for medication in inputs.medication_plan:
        facts["medication"].append(f"- {_escape(medication.line())}")
    labelled("progress", "Patient progress", inputs.patient_progress)
    labelled("plan", "Session notes", inputs.session_notes)
    labelled("plan", "Additional notes", inputs.additional_notes)
    return facts


def _section_profile(section: Section) -> tuple[set[str], set[str]]:
    strong = terms(section.key.replace("_", " ")) | terms(section.title)
    return strong, terms(section.guidance)


def _home_of_facts(sections: tuple[Section, ...]) -> dict[str, int]:
    """The index of the section each kind of fact goes to."""
    profiles = [_section_profile(s) for s in sections]
    homes: dict[str, int] = {}
    for kind, affinity in FACT_AFFINITY.items():
        scores = [3 * len(strong & affinity) + len(weak & affinity) for strong, weak in profiles]
        best = max(scores)
        if best > 0:
            homes[kind] = scores.index(best)
        else:
            homes[kind] = 0 if kind in FALLBACK_FIRST else len(sections) - 1
    return homes


# --- quotes ---------------------------------------------------------------------------------------


def _quotes_by_section(inputs: GenerationInputs, found: list[Passage], fallback: int) -> list[list[Passage]]:
    """The passages each section quotes. Passages that fit no section at all (a transcript about
    something the template does not name) are not lost: the most informative of them fill the
    ``fallback`` section (the complaint's) up to its share."""
    sections = inputs.sections
    chosen: list[list[Passage]] = [[] for _ in sections]
    if not found or not sections:
        return chosen
    document_frequency: dict[str, int] = {}
    for passage in found:
        for term in passage.terms:
            document_frequency[term] = document_frequency.get(term, 0) + 1
    total = len(found)

    def idf(term: str) -> float:
        return math.log(1 + total / (1 + document_frequency.get(term, 0)))

    focus = terms(inputs.chief_complaint)
    for symptom in inputs.symptoms:
        focus |= terms(symptom.name)
    weights: list[dict[str, float]] = []
    for section in sections:
        strong, weak = _section_profile(section)
        weighted = {t: 1.0 * idf(t) for t in focus}
        weighted.update({t: 2.0 * idf(t) for t in strong | weak})
        weights.append(weighted)

    ranked: list[list[tuple[float, Passage]]] = [[] for _ in sections]
    unplaced: list[tuple[float, Passage]] = []
    for passage in found:
        norm = math.sqrt(max(passage.words, 12))
        best_index, best_score = -1, 0.0
        for index, weighted in enumerate(weights):
            score = sum(weighted[t] for t in passage.terms if t in weighted) / norm
            if score > best_score:
                best_index, best_score = index, score
        if best_index >= 0:
            ranked[best_index].append((best_score, passage))
        else:
            unplaced.append((sum(idf(t) for t in passage.terms) / norm, passage))
    room = QUOTES_PER_SECTION - len(ranked[fallback])
    if room > 0 and unplaced:
        unplaced.sort(key=lambda item: (-item[0], item[1].order))
        ranked[fallback].extend((-1.0, p) for _, p in unplaced[:room])  # after the section's own matches
    for index, candidates in enumerate(ranked):
        candidates.sort(key=lambda item: (-item[0], item[1].order))
        chosen[index] = sorted((p for _, p in candidates[:QUOTES_PER_SECTION]), key=lambda p: p.order)
    return chosen


# --- the generator --------------------------------------------------------------------------------


class OfflineGenerator:
    name = NAME
    model = MODEL

    def generate(self, inputs: GenerationInputs) -> Draft:
        sections = inputs.sections
        facts = _fact_lines(inputs)
        homes = _home_of_facts(sections) if sections else {}
        quotes = _quotes_by_section(inputs, passages(inputs.transcript), homes.get("complaint", 0))
        content: dict[str, str] = {}
        for index, section in enumerate(sections):
            blocks: list[str] = []
            for kind, lines in facts.items():
                if lines and homes.get(kind) == index:
                    blocks.append("\n".join(lines) if lines[0].startswith("- ") else "  \n".join(lines))
            if quotes[index]:
                blocks.append("From the consultation:")
                blocks.append("\n>\n".join(_quote(p) for p in quotes[index]))
            content[section.key] = "\n\n".join(blocks) if blocks else NOT_RECORDED
        return Draft(sections=content, generator=NAME, model=MODEL)


def generate(inputs: GenerationInputs) -> Draft:
    return OfflineGenerator().generate(inputs)
