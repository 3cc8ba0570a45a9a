"""Writing a patient's intake record and symptoms: resolving the symptoms a caller asked for to
catalogue entries (adding new custom names to the clinic's catalogue), then the rows, free text
encrypted. Shared by the web flow and the JSON API; ``service`` is the entry point other code uses,
``queries`` reads the rows back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clinic_app.core import audit, crypto
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.extensions import db
from clinic_app.intake.models import RECORD_FIELDS, SYMPTOM_FIELDS, IntakeRecord, PatientSymptom
from clinic_app.intake.validation import (
    SYMPTOMS_MAX,
    PresentingProblem,
    SymptomDetails,
    check_symptom_details,
)
from clinic_app.patients import service as patients
from clinic_app.symptoms import service as symptoms

MASTER, CUSTOM = symptoms.MASTER, symptoms.CUSTOM


# --- symptoms: from a request to catalogue entries ------------------------------------------------


@dataclass(frozen=True)
class SymptomRequest:
    """A symptom someone asked to record: a catalogue id (master or the clinic's own), or for a
    custom symptom not yet in the catalogue its name; with the details as sent."""

    source: str  # MASTER or CUSTOM
    symptom_id: str | None
    name: str | None
    details: Mapping[str, Any]


@dataclass(frozen=True)
class ResolvedSymptom:
    symptom: symptoms.SymptomMatch | None  # None until a new custom name is created
    new_custom_name: str | None
    details: SymptomDetails


def resolve_symptoms(organization_id: str, requests: Sequence[tuple[str, SymptomRequest]]) -> list[ResolvedSymptom]:
    """Check every requested symptom (``requests`` pairs an error-name prefix such as
    ``symptoms.0.`` with each). Raises Invalid listing every problem; creates nothing."""
    errors: list[FieldError] = []
    resolved: list[ResolvedSymptom] = []
    if len(requests) > SYMPTOMS_MAX:
        raise Invalid(errors=[FieldError("symptoms", f"Record at most {SYMPTOMS_MAX} symptoms at a time.")])
    seen: set[str] = set()
    for prefix, request in requests:
        match: symptoms.SymptomMatch | None = None
        new_name: str | None = None
        if request.symptom_id:
            try:
                match = symptoms.get_symptom(organization_id, request.symptom_id)
            except NotFound:
                errors.append(FieldError(prefix + "symptom_id", "No such symptom in the catalogue."))
            else:
                if match.source != request.source:
                    expected = "master" if match.source == MASTER else "user"
                    errors.append(FieldError(prefix + "symptom_source", f"This symptom's source is {expected}."))
                elif match.id in seen:
                    errors.append(FieldError(prefix + "symptom_id", "This symptom is listed twice."))
                seen.add(match.id)
        elif request.source == CUSTOM:
            new_name = " ".join((request.name or "").split())
            if not new_name:
                errors.append(FieldError(prefix + "symptom_name", "Give the symptom's id, or its name to add it."))
            elif len(new_name) > symptoms.NAME_MAX_LENGTH:
                errors.append(
                    FieldError(prefix + "symptom_name", f"Use at most {symptoms.NAME_MAX_LENGTH} characters.")
                )
        else:
            errors.append(FieldError(prefix + "symptom_id", "Give the id of the ICD-11 symptom."))
        try:
            details = check_symptom_details(request.details, prefix)
        except Invalid as error:
            errors.extend(error.errors)
            continue
        resolved.append(ResolvedSymptom(match, new_name, details))
    if errors:
        raise Invalid(errors=errors)
    return resolved


def catalogue_entry_for_name(organization_id: str, name: str, *, actor: audit.Actor) -> symptoms.SymptomMatch:
    """The clinic's custom symptom called ``name``, added to the catalogue if it is not there
    yet; when ``name`` is an ICD-11 title, that master symptom instead. Raises Invalid."""
    try:
        created = symptoms.create_custom(organization_id, name, actor=actor)
    except Conflict as conflict:
        known = conflict.extra.get("existing") or conflict.extra.get("suggestion")
        if known is not None:
            return symptoms.get_symptom(organization_id, known["id"])
        # Added by someone else a moment ago (the catalogue's own check rolled the work back).
        found = next(
            (m for m in symptoms.search(organization_id, name, limit=5) if m.title.casefold() == name.casefold()), None
        )
        if found is None:
            raise Invalid(errors=[FieldError("symptom_name", conflict.detail)]) from None
        return found
    except Invalid as invalid:
        raise Invalid(errors=[FieldError("symptom_name", e.message) for e in invalid.errors]) from None
    return symptoms.get_symptom(organization_id, created.id)


# --- writing ------------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def write_record(
    organization_id: str,
    patient_id: str,
    problem: PresentingProblem,
    *,
    actor: audit.Actor,
    draft_id: str | None,
) -> IntakeRecord:
    """Store the presenting problem of a newly registered patient (free text encrypted)."""
    vault = crypto.vault_for(organization_id)
    informants = None
    if problem.informants or problem.informant_details:
        informants = _json({"selection": list(problem.informants), "other_details": problem.informant_details or ""})
    record = IntakeRecord(
        organization_id=organization_id,
        patient_id=patient_id,
        draft_id=draft_id,
        informants_enc=vault.encrypt(RECORD_FIELDS["informants"], informants),
        illness_duration_value=problem.illness_duration.value if problem.illness_duration else None,
        illness_duration_unit=problem.illness_duration.unit if problem.illness_duration else None,
        referred_by_enc=vault.encrypt(RECORD_FIELDS["referred_by"], problem.referred_by),
        presenting_problem_enc=vault.encrypt(RECORD_FIELDS["presenting_problem"], problem.presenting_problem),
        precipitating_factors_enc=vault.encrypt(RECORD_FIELDS["precipitating_factors"], problem.precipitating_factors),
        precipitating_tags_enc=vault.encrypt(
            RECORD_FIELDS["precipitating_tags"],
            _json(list(problem.precipitating_tags)) if problem.precipitating_tags else None,
        ),
        created_by_id=actor.user_id,
    )
    db.session.add(record)
    db.session.flush()
    return record


def add_new_names_to_catalogue(
    organization_id: str, resolved: Sequence[ResolvedSymptom], *, actor: audit.Actor
) -> list[ResolvedSymptom]:
    """Each new custom name replaced by its catalogue entry (created if need be). Call it before
    writing anything else: the catalogue rolls the transaction back if it loses a race for a name."""
    return [
        item
        if item.symptom is not None
        else ResolvedSymptom(
            catalogue_entry_for_name(organization_id, item.new_custom_name or "", actor=actor), None, item.details
        )
        for item in resolved
    ]


def record_symptoms(
    organization_id: str, patient_id: str, resolved: Sequence[ResolvedSymptom], *, actor: audit.Actor
) -> list[PatientSymptom]:
    """Store each resolved symptom (new names already in the catalogue) for the patient; records
    ``patient_symptom.added`` for each (ids only)."""
    vault = crypto.vault_for(organization_id)
    rows = []
    for item in resolved:
        match = item.symptom
        if match is None:
            raise ValueError("add new custom names to the catalogue before recording symptoms")
        details = item.details
        row = PatientSymptom(
            organization_id=organization_id,
            patient_id=patient_id,
            symptom_source=match.source,
            symptom_id=match.id,
            symptom_name=match.title,
            code=match.code,
            severity=details.severity,
            frequency=details.frequency,
            duration_value=details.duration.value if details.duration else None,
            duration_unit=details.duration.unit if details.duration else None,
            notes_enc=vault.encrypt(SYMPTOM_FIELDS["notes"], details.notes),
            onset_description_enc=vault.encrypt(SYMPTOM_FIELDS["onset_description"], details.onset_description),
            triggers_enc=vault.encrypt(
                SYMPTOM_FIELDS["triggers"], _json(list(details.triggers)) if details.triggers else None
            ),
            created_by_id=actor.user_id,
        )
        db.session.add(row)
        db.session.flush()
        audit.record(
            "patient_symptom.added",
            organization_id=organization_id,
            actor=actor,
            target_type="patient_symptom",
            target_id=row.id,
            patient_id=patient_id,
            details={"symptom_id": match.id, "source": match.source},
        )
        rows.append(row)
    return rows


def add_symptoms(
    organization_id: str, patient_id: str, requests: Sequence[SymptomRequest], *, actor: audit.Actor
) -> list[PatientSymptom]:
    """Record symptoms for an existing patient of the organization: ICD-11 symptoms by id, the
    clinic's own by id, or a new custom symptom by name (added to the clinic's catalogue).
    Everything is checked first: Invalid (fields ``symptoms.<n>.<field>``) writes nothing.
    Raises NotFound for another organization's patient."""
    patients.ensure_not_erased(patients.get_patient(organization_id, patient_id))
    if not requests:
        raise Invalid(errors=[FieldError("symptoms", "Give at least one symptom.")])
    resolved = resolve_symptoms(organization_id, [(f"symptoms.{n}.", r) for n, r in enumerate(requests)])
    resolved = add_new_names_to_catalogue(organization_id, resolved, actor=actor)
    return record_symptoms(organization_id, patient_id, resolved, actor=actor)
