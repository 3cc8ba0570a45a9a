"""What every draft generator receives and returns.

``GenerationInputs`` is a plain, decrypted snapshot of everything a draft may be written from:
the template's sections, the patient's intake, their recorded symptoms, the session's facts
(chief complaint, notes, medication plan) and its transcript, plus what the request added
(additional notes, patient progress). It never touches the database, so generators are pure
functions of it (the benchmark and the tests build one by hand), and its ``digest()`` — the
SHA-256 of its canonical JSON — records exactly which inputs produced a draft.

A generator returns a ``Draft``: Markdown per section key, with every section of the template
present, and which generator and model wrote it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

NOT_RECORDED = "Not recorded."


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    guidance: str = ""


@dataclass(frozen=True)
class SymptomFact:
    name: str
    code: str | None = None  # ICD-11 code; None for the clinic's own symptoms
    severity: str | None = None
    frequency: str | None = None
    duration: str | None = None  # "3 months"
    notes: str | None = None


@dataclass(frozen=True)
class Medication:
    drug_name: str
    dosage: str | None = None
    frequency: str | None = None
    duration: str | None = None

    def line(self) -> str:
        return " — ".join(part for part in (self.drug_name, self.dosage, self.frequency, self.duration) if part)


@dataclass(frozen=True)
class TranscriptLine:
    start: float | None
    end: float | None
    speaker: str | None
    text: str


@dataclass(frozen=True)
class GenerationInputs:
    template_name: str
    sections: tuple[Section, ...]
    session_type: str | None = None
    session_date: str | None = None
    clinician_name: str | None = None
    chief_complaint: str | None = None
    presenting_problem: str | None = None
    illness_duration: str | None = None
    precipitating_factors: str | None = None
    symptoms: tuple[SymptomFact, ...] = ()
    medication_plan: tuple[Medication, ...] = ()
    session_notes: str | None = None
    additional_notes: str | None = None
    patient_progress: str | None = None
    transcript: tuple[TranscriptLine, ...] = field(default=())

    def canonical(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def digest(self) -> str:
        """SHA-256 of the canonical inputs: the same inputs always give the same digest."""
        return hashlib.sha256(self.canonical()).hexdigest()

    def summary(self) -> dict[str, Any]:
        """What was available, as counts and flags only (no PHI): stored beside the draft."""
        return {
            "sections": len(self.sections),
            "chief_complaint": bool(self.chief_complaint),
            "intake": bool(self.presenting_problem or self.illness_duration or self.precipitating_factors),
            "symptoms": len(self.symptoms),
            "medications": len(self.medication_plan),
            "session_notes": bool(self.session_notes),
            "additional_notes": bool(self.additional_notes),
            "patient_progress": bool(self.patient_progress),
            "transcript_segments": len(self.transcript),
            "transcript_words": sum(len(line.text.split()) for line in self.transcript),
        }


@dataclass(frozen=True)
class Draft:
    sections: dict[str, str]  # section key -> Markdown, one entry per template section
    generator: str  # "offline", "openai" or "gemini"
    model: str
    note: str | None = None  # why the offline draft stands in for a language model's, when it does


class Generator(Protocol):
    name: str

    def generate(self, inputs: GenerationInputs) -> Draft:
        """A draft with every section of ``inputs.sections``. May raise ``GenerationFailed``."""
        ...


class GenerationFailed(Exception):
    """A generator could not produce a usable draft; ``reason`` says why in a short phrase."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def format_timestamp(seconds: float | None) -> str | None:
    """``[02:14]`` or ``[1:02:14]`` for a time in seconds; None when there is none."""
    if seconds is None:
        return None
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
