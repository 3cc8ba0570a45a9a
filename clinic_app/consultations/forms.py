"""Forms of the consultation pages. They only parse (and carry the CSRF token): the service
validates, and its field errors are put back on these fields."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectField, TextAreaField

from clinic_app.consultations.models import SESSION_TYPES
from clinic_app.consultations.service import (
    CHIEF_COMPLAINT_MAX,
    MEDICATION_FIELDS,
    MEDICATION_LIMITS,
    NOTES_MAX,
)
from clinic_app.consultations.stt import AUDIO_EXTENSIONS
from clinic_app.core.errors import FieldError

SESSION_TYPE_LABELS = {
    "new_patient": "New patient",
    "follow_up": "Follow-up",
    "consultation": "Consultation",
    "emergency": "Emergency",
}
MEDICATION_LABELS = {"drug_name": "Drug", "dosage": "Dosage", "frequency": "Frequency", "duration": "Duration"}
EMPTY_MEDICATION_ROWS = 1  # blank rows offered under the ones already in the plan


class StartForm(FlaskForm):
    clinician_id = SelectField("Clinician", choices=[], validate_choice=False)
    chief_complaint = TextAreaField(
        "Chief complaint",
        render_kw={"maxlength": CHIEF_COMPLAINT_MAX, "minlength": 3, "rows": 3, "required": True},
    )
    session_type = SelectField(
        "Session type", choices=[(kind, SESSION_TYPE_LABELS[kind]) for kind in SESSION_TYPES], validate_choice=False
    )
    appointment_id = HiddenField()


class StopForm(FlaskForm):
    notes = TextAreaField("Closing notes (optional)", render_kw={"maxlength": NOTES_MAX, "rows": 4, "id": "stop-notes"})


class TranscriptForm(FlaskForm):
    text = TextAreaField("Paste the transcript", render_kw={"rows": 8, "id": "transcript-text"})
    file = FileField("…or upload a file (.txt, .vtt or .srt, up to 2 MB)", render_kw={"accept": ".txt,.vtt,.srt"})


class AudioForm(FlaskForm):
    audio = FileField("Audio recording", render_kw={"accept": ",".join(("audio/*", *AUDIO_EXTENSIONS))})


def medication_rows(form_data: Any) -> list[dict[str, str]]:
    """The plan editor's rows: parallel lists ``drug_name``, ``dosage``, ``frequency``, ``duration``."""
    columns = {name: form_data.getlist(name) for name in MEDICATION_FIELDS}
    count = max((len(values) for values in columns.values()), default=0)
    return [
        {name: (columns[name][index] if index < len(columns[name]) else "") for name in MEDICATION_FIELDS}
        for index in range(count)
    ]


def row_errors(errors: list[FieldError]) -> tuple[dict[tuple[int, str], str], list[str]]:
    """``medication_plan.<row>.<field>`` errors by (row, field), and the others as sentences."""
    placed: dict[tuple[int, str], str] = {}
    other: list[str] = []
    for item in errors:
        parts = item.field.split(".")
        if len(parts) == 3 and parts[1].isdigit():
            placed[(int(parts[1]), parts[2])] = item.message
        else:
            other.append(item.message)
    return placed, other


__all__ = [
    "EMPTY_MEDICATION_ROWS",
    "MEDICATION_LABELS",
    "MEDICATION_LIMITS",
    "SESSION_TYPE_LABELS",
    "AudioForm",
    "StartForm",
    "StopForm",
    "TranscriptForm",
    "medication_rows",
    "row_errors",
]
