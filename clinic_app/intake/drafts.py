"""Intake drafts: the answers of an intake in progress, kept encrypted between steps.

A receptionist's draft is saved on every step (``save_step``: strict, all or nothing) and as they
type (``autosave``: keeps whatever is valid), so a reload or a dropped connection loses nothing.
Answers are stored as the form names them; ``service.submit`` checks them all again and turns
them into a patient. A draft belongs to its organization: any staff member with intake:write may
resume it, another organization's draft is NotFound.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from clinic_app.core import audit, crypto
from clinic_app.core.crypto import Unreadable
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.intake.demographics import DEMOGRAPHIC_FIELDS, check_demographics
from clinic_app.intake.models import ABANDONED, DRAFT, DRAFT_PAYLOAD, WEB, IntakeDraft
from clinic_app.intake.validation import (
    PRESENTING_FIELDS,
    SYMPTOM_DETAIL_FIELDS,
    SYMPTOMS_MAX,
    check_presenting_problem,
    check_symptom_details,
    fields_with_errors,
    is_blank,
)
from clinic_app.intake.writing import catalogue_entry_for_name
from clinic_app.symptoms import service as symptoms

DEMOGRAPHICS, PRESENTING, SYMPTOMS, REVIEW = "demographics", "presenting-problem", "symptoms", "review"
STEPS = (DEMOGRAPHICS, PRESENTING, SYMPTOMS, REVIEW)
STEP_LABELS = {
    DEMOGRAPHICS: "Demographics",
    PRESENTING: "Presenting problem",
    SYMPTOMS: "Symptoms",
    REVIEW: "Review and submit",
}
NOT_FOUND = "No such intake."


# --- answers kept in a draft ------------------------------------------------------------------


@dataclass
class Answers:
    """What a draft holds: each step's answers as the form names them (strings, and a list for
    the informants) and the chosen symptoms with their details. ``unreadable`` says the stored
    answers could not be decrypted (the draft starts over)."""

    demographics: dict[str, str] = field(default_factory=dict)
    presenting: dict[str, Any] = field(default_factory=dict)
    symptoms: list[dict[str, Any]] = field(default_factory=list)
    unreadable: bool = False

    @property
    def name(self) -> str:
        return " ".join(
            part for part in (self.demographics.get("first_name"), self.demographics.get("last_name")) if part
        )

    def symptom(self, key: str) -> dict[str, Any] | None:
        return next((entry for entry in self.symptoms if entry["key"] == key), None)

    def as_json(self) -> str:
        payload = {
            DEMOGRAPHICS: self.demographics,
            PRESENTING: self.presenting,
            SYMPTOMS: self.symptoms,
        }
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def draft_answers(draft: IntakeDraft) -> Answers:
    """Every answer saved in the draft so far (empty answers, flagged, if they cannot be decrypted)."""
    plain = crypto.vault_for(draft.organization_id).decrypt(DRAFT_PAYLOAD, draft.payload_enc, target_id=draft.id)
    if plain is None:
        return Answers()
    if isinstance(plain, Unreadable):
        return Answers(unreadable=True)
    try:
        payload = json.loads(plain)
        return Answers(
            demographics=dict(payload.get(DEMOGRAPHICS) or {}),
            presenting=dict(payload.get(PRESENTING) or {}),
            symptoms=list(payload.get(SYMPTOMS) or []),
        )
    except (ValueError, TypeError, AttributeError):
        return Answers(unreadable=True)


def _store(draft: IntakeDraft, answers: Answers) -> None:
    draft.payload_enc = crypto.vault_for(draft.organization_id).encrypt(DRAFT_PAYLOAD, answers.as_json())
    draft.updated_at = utcnow()
    db.session.flush()


# --- drafts -----------------------------------------------------------------------------------


def start_draft(organization_id: str, *, actor: audit.Actor) -> IntakeDraft:
    """A new, empty intake at its first step; records ``intake.started``."""
    draft = IntakeDraft(organization_id=organization_id, created_by_id=actor.user_id, channel=WEB, step=DEMOGRAPHICS)
    db.session.add(draft)
    db.session.flush()
    audit.record(
        "intake.started", organization_id=organization_id, actor=actor, target_type="intake_draft", target_id=draft.id
    )
    return draft


def get_draft(organization_id: str, draft_id: str, *, for_update: bool = False) -> IntakeDraft:
    """The organization's draft (open or submitted). Raises NotFound for an unknown id, another
    organization's draft, or one that was discarded. ``for_update`` locks the row (PostgreSQL)
    for the rest of the transaction, so saves of one draft happen one after the other."""
    draft = (
        db.session.get(IntakeDraft, draft_id, with_for_update=for_update, populate_existing=for_update)
        if draft_id
        else None
    )
    if draft is None or draft.organization_id != organization_id or draft.status == ABANDONED or draft.channel != WEB:
        raise NotFound(NOT_FOUND)
    return draft


@dataclass(frozen=True)
class DraftSummary:
    id: str
    name: str
    step: str
    updated_at: datetime
    created_by_id: str | None


def unfinished_drafts(organization_id: str, *, limit: int = 25) -> list[DraftSummary]:
    """The organization's open intakes, most recently touched first (any staff member may resume one)."""
    drafts = db.session.scalars(
        select(IntakeDraft)
        .where(IntakeDraft.organization_id == organization_id, IntakeDraft.status == DRAFT, IntakeDraft.channel == WEB)
        .order_by(IntakeDraft.updated_at.desc(), IntakeDraft.id)
        .limit(limit)
    )
    return [
        DraftSummary(draft.id, draft_answers(draft).name, draft.step, draft.updated_at, draft.created_by_id)
        for draft in drafts
    ]


def _require_open(draft: IntakeDraft) -> None:
    if draft.status != DRAFT:
        raise Conflict("This intake has already been submitted.", patient_id=draft.submitted_patient_id)


def discard(draft: IntakeDraft, *, actor: audit.Actor) -> None:
    """Abandon an open intake: its answers are erased; records ``intake.abandoned``. Raises Conflict
    if it was submitted."""
    _require_open(draft)
    draft.status = ABANDONED
    draft.payload_enc = None
    draft.updated_at = utcnow()
    db.session.flush()
    audit.record(
        "intake.abandoned",
        organization_id=draft.organization_id,
        actor=actor,
        target_type="intake_draft",
        target_id=draft.id,
    )


# --- checking each step -------------------------------------------------------------------------


def _clean(raw: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The step's fields from ``raw``: strings trimmed, lists of strings kept (checkbox groups)."""
    cleaned: dict[str, Any] = {}
    for name in names:
        value = raw.get(name)
        if isinstance(value, list | tuple):
            cleaned[name] = [str(item).strip() for item in value if str(item).strip()]
        else:
            cleaned[name] = value.strip() if isinstance(value, str) else ("" if value is None else value)
    return cleaned


def _posted_symptom_details(answers: Answers, raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each chosen symptom's details as posted (``raw`` maps its key to its fields); symptoms the
    post does not mention keep what is stored."""
    posted = raw.get("symptoms") or {}
    details = {}
    for entry in answers.symptoms:
        sent = posted.get(entry["key"]) if isinstance(posted, Mapping) else None
        if sent is None:
            sent = {name: entry.get(name, "") for name in SYMPTOM_DETAIL_FIELDS}
        details[entry["key"]] = _clean(sent, SYMPTOM_DETAIL_FIELDS)
    return details


def _step_errors(draft: IntakeDraft, step: str, values: Any) -> list[FieldError]:
    """Every problem with ``values`` as the answers of ``step`` (empty when they are fine)."""
    try:
        if step == DEMOGRAPHICS:
            check_demographics(draft.organization_id, values)
        elif step == PRESENTING:
            check_presenting_problem(values)
        elif step == SYMPTOMS:
            errors: list[FieldError] = []
            for key, details in values.items():
                try:
                    check_symptom_details(details, f"symptoms.{key}.")
                except Invalid as error:
                    errors.extend(error.errors)
            return errors
    except Invalid as error:
        return error.errors
    return []


def _posted_values(step: str, answers: Answers, raw: Mapping[str, Any]) -> Any:
    if step == DEMOGRAPHICS:
        return _clean(raw, DEMOGRAPHIC_FIELDS)
    if step == PRESENTING:
        return _clean(raw, PRESENTING_FIELDS)
    return _posted_symptom_details(answers, raw)


def _apply(step: str, answers: Answers, values: Any) -> None:
    if step == DEMOGRAPHICS:
        answers.demographics = values
    elif step == PRESENTING:
        answers.presenting = values
    else:
        for entry in answers.symptoms:
            entry.update(values.get(entry["key"], {}))


def _check_step_name(step: str) -> None:
    if step not in STEPS:
        raise NotFound("No such step.")


def save_step(draft: IntakeDraft, step: str, raw: Mapping[str, Any]) -> Answers:
    """Check the answers of ``step`` and keep them in the draft, moving it on to the next step.

    ``raw`` holds the form's fields (for the symptoms step, ``{"symptoms": {key: details}}``).
    Raises Invalid listing every field's problem, and then nothing of this step is saved (what
    earlier steps and autosave kept is untouched); Conflict if the draft was submitted; NotFound
    for an unknown step."""
    _check_step_name(step)
    _require_open(draft)
    answers = draft_answers(draft)
    if step == REVIEW:
        return answers
    values = _posted_values(step, answers, raw)
    errors = _step_errors(draft, step, values)
    if errors:
        raise Invalid(errors=errors)
    _apply(step, answers, values)
    following = STEPS[STEPS.index(step) + 1]
    if STEPS.index(following) > STEPS.index(draft.step):
        draft.step = following
    _store(draft, answers)
    return answers


def autosave(draft: IntakeDraft, step: str, raw: Mapping[str, Any]) -> list[FieldError]:
    """Keep what is valid of ``step``'s answers as typed so far: an empty field is kept empty (it
    may simply not be filled in yet), a field with a problem keeps its stored value. Returns the
    problems of the fields that were not saved (never raises Invalid). Raises Conflict if the
    draft was submitted."""
    _check_step_name(step)
    _require_open(draft)
    answers = draft_answers(draft)
    if step == REVIEW:
        return []
    values = _posted_values(step, answers, raw)
    errors = _step_errors(draft, step, values)
    kept_back: set[str] = set()
    if step == SYMPTOMS:
        for key, details in values.items():
            stored = answers.symptom(key) or {}
            for name in fields_with_errors(errors, f"symptoms.{key}."):
                if not is_blank(details.get(name)):
                    details[name] = stored.get(name, "")
                    kept_back.add(f"symptoms.{key}.{name}")
    else:
        stored = answers.demographics if step == DEMOGRAPHICS else answers.presenting
        for name in fields_with_errors(errors):
            if name in values and not is_blank(values[name]):
                values[name] = stored.get(name, [] if name == "informants" else "")
                kept_back.add(name)
    _apply(step, answers, values)
    _store(draft, answers)
    return [error for error in errors if error.field in kept_back]


def add_draft_symptom(
    draft: IntakeDraft, *, symptom_id: str | None = None, custom_name: str | None = None, actor: audit.Actor
) -> tuple[dict[str, Any], bool]:
    """Add a catalogue symptom (by id), or a custom one by name (added to the clinic's catalogue
    if new, as receptionists may through intake), to the draft's chosen symptoms. Returns the
    entry and whether it was new (a symptom already chosen is not added twice). Raises Invalid
    (field ``symptom_id`` or ``custom_name``) or Conflict if the draft was submitted."""
    _require_open(draft)
    organization_id = draft.organization_id
    if symptom_id:
        try:
            match = symptoms.get_symptom(organization_id, symptom_id)
        except NotFound:
            raise Invalid(errors=[FieldError("symptom_id", "No such symptom in the catalogue.")]) from None
    else:
        name = " ".join((custom_name or "").split())
        if not name:
            raise Invalid(errors=[FieldError("custom_name", "Enter the symptom's name.")])
        try:
            # Before the draft changes: the catalogue rolls the transaction back if it loses a race.
            match = catalogue_entry_for_name(organization_id, name, actor=actor)
        except Invalid as error:
            raise Invalid(errors=[FieldError("custom_name", e.message) for e in error.errors]) from None
    answers = draft_answers(draft)
    existing = next((entry for entry in answers.symptoms if entry["symptom_id"] == match.id), None)
    if existing is not None:
        return existing, False
    if len(answers.symptoms) >= SYMPTOMS_MAX:
        raise Invalid(errors=[FieldError("symptom_id", f"An intake can list at most {SYMPTOMS_MAX} symptoms.")])
    entry = {
        "key": secrets.token_hex(4),
        "symptom_id": match.id,
        "source": match.source,
        "name": match.title,
        "code": match.code,
        **dict.fromkeys(SYMPTOM_DETAIL_FIELDS, ""),
    }
    answers.symptoms.append(entry)
    _store(draft, answers)
    return entry, True


def remove_draft_symptom(draft: IntakeDraft, key: str) -> bool:
    """Take a symptom off the draft's list; whether it was there. Raises Conflict if submitted."""
    _require_open(draft)
    answers = draft_answers(draft)
    kept = [entry for entry in answers.symptoms if entry["key"] != key]
    if len(kept) == len(answers.symptoms):
        return False
    answers.symptoms = kept
    _store(draft, answers)
    return True
