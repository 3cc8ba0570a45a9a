"""Gathering a report's ``GenerationInputs`` from the rest of the app: the template version it
uses, the patient's intake and symptoms (intake service), the session's facts and transcript
(consultations service), and the extra inputs the request stored on the report. Values that
cannot be decrypted are left out (the vault has already raised the alarm)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from clinic_app.consultations import service as consultations
from clinic_app.core import time as clock
from clinic_app.core.crypto import Unreadable
from clinic_app.intake import service as intake
from clinic_app.reports.generation.base import (
    GenerationInputs,
    Medication,
    Section,
    SymptomFact,
    TranscriptLine,
)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, Unreadable):
        return None
    text = str(value).strip()
    return text or None


def _medications(plan: Any) -> tuple[Medication, ...]:
    if not isinstance(plan, list | tuple):
        return ()
    found = []
    for item in plan:
        if isinstance(item, dict) and _text(item.get("drug_name")):
            found.append(
                Medication(
                    drug_name=_text(item.get("drug_name")) or "",
                    dosage=_text(item.get("dosage")),
                    frequency=_text(item.get("frequency")),
                    duration=_text(item.get("duration")),
                )
            )
    return tuple(found)


def local_date(organization_id: str, value: datetime | None) -> str | None:
    if value is None:
        return None
    return clock.local_date(value, clock.organization_zone(organization_id)).isoformat()


def gather(
    organization_id: str,
    *,
    session: Any,
    patient_id: str,
    template_name: str,
    sections: list[dict[str, Any]],
    extra: dict[str, Any],
) -> GenerationInputs:
    """Everything the draft of one report may be written from, decrypted."""
    facts = consultations.session_facts(session)
    summary = intake.summary_for(organization_id, patient_id)
    record = summary.record
    symptoms = tuple(
        SymptomFact(
            name=s.name,
            code=s.code,
            severity=s.severity,
            frequency=s.frequency,
            duration=s.duration.label() if s.duration else None,
            notes=_text(s.notes),
        )
        for s in summary.symptoms
    )
    plan = extra.get("medication_plan")
    if plan is None:
        plan = getattr(facts, "medication_plan", None)
    transcript = tuple(
        TranscriptLine(start=segment.start, end=segment.end, speaker=segment.speaker, text=segment.text)
        for segment in consultations.transcript_segments(session)
    )
    return GenerationInputs(
        template_name=template_name,
        sections=tuple(Section(s["key"], s["title"], s.get("guidance") or "") for s in sections),
        session_type=_text(extra.get("session_type")) or _text(getattr(facts, "session_type", None)),
        session_date=local_date(organization_id, getattr(facts, "started_at", None)),
        clinician_name=_text(getattr(facts, "clinician_name", None)),
        chief_complaint=_text(getattr(facts, "chief_complaint", None)),
        presenting_problem=_text(record.presenting_problem) if record else None,
        illness_duration=record.illness_duration.label() if record and record.illness_duration else None,
        precipitating_factors=_text(record.precipitating_factors) if record else None,
        symptoms=symptoms,
        medication_plan=_medications(plan),
        session_notes=_text(getattr(facts, "notes", None)),
        additional_notes=_text(extra.get("additional_notes")),
        patient_progress=_text(extra.get("patient_progress")),
        transcript=transcript,
    )
