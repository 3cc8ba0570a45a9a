"""Intake: from a draft (or one API call) to one patient with their intake record and symptoms.

The web flow keeps its answers in a draft (``drafts``: ``start_draft``, ``save_step``,
``autosave``, ``add_draft_symptom``), shows possible duplicates (``duplicates_for``) and
``submit``\\ s it. The JSON API checks a whole intake at once and registers it with
``register_from_api``. Both end in ``_register`` and both are idempotent: a draft is claimed with a
conditional UPDATE (``... WHERE status = 'draft'``), an API call by inserting its
``Idempotency-Key`` hash, so two requests racing for the same intake create one patient and the
loser answers with the winner's result.

Every function takes the organization explicitly (a draft carries its own); another
organization's draft or patient is NotFound. Writes only flush; the request commits. Audit events:
``intake.started``, ``intake.submitted``, ``intake.abandoned``, ``intake.listed`` and
``patient_symptom.added``, with ids only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update

from clinic_app.core import audit
from clinic_app.core.errors import Conflict, FieldError, Invalid
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.intake.demographics import DEMOGRAPHIC_FIELDS, check_demographics
from clinic_app.intake.drafts import (
    DEMOGRAPHICS,
    PRESENTING,
    REVIEW,
    STEP_LABELS,
    STEPS,
    SYMPTOMS,
    Answers,
    DraftSummary,
    add_draft_symptom,
    autosave,
    discard,
    draft_answers,
    get_draft,
    remove_draft_symptom,
    save_step,
    start_draft,
    unfinished_drafts,
)
from clinic_app.intake.idempotency import claim_key, held_draft, idempotency_hash, request_hash
from clinic_app.intake.models import API, DRAFT, SUBMITTED, WEB, IntakeDraft
from clinic_app.intake.queries import (
    IntakePatientsPage,
    IntakeSummary,
    RecordView,
    SymptomView,
    intake_patients,
    summary_for,
    symptom_views,
)
from clinic_app.intake.validation import PresentingProblem, check_presenting_problem
from clinic_app.intake.writing import (
    ResolvedSymptom,
    SymptomRequest,
    add_new_names_to_catalogue,
    add_symptoms,
    record_symptoms,
    resolve_symptoms,
    write_record,
)
from clinic_app.patients import consent
from clinic_app.patients import service as patients

__all__ = [
    "DEMOGRAPHICS",
    "DEMOGRAPHIC_FIELDS",
    "PRESENTING",
    "REVIEW",
    "STEPS",
    "STEP_LABELS",
    "SYMPTOMS",
    "Answers",
    "ApiIntake",
    "ApiResult",
    "DraftSummary",
    "IntakePatientsPage",
    "IntakeSummary",
    "RecordView",
    "SymptomRequest",
    "SymptomView",
    "add_draft_symptom",
    "add_symptoms",
    "autosave",
    "discard",
    "draft_answers",
    "draft_problems",
    "duplicates_for",
    "get_draft",
    "intake_patients",
    "register_from_api",
    "remove_draft_symptom",
    "request_hash",
    "save_step",
    "start_draft",
    "submit",
    "summary_for",
    "symptom_views",
    "unfinished_drafts",
]

# --- the whole intake -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedIntake:
    patient: patients.PatientInput
    problem: PresentingProblem
    symptoms: list[ResolvedSymptom]
    consents: tuple[consent.ConsentInput, ...] = ()


def _check_draft(draft: IntakeDraft, answers: Answers) -> CheckedIntake:
    """Every step of the draft checked again (a birth date may have been typed before midnight,
    a symptom may have left the catalogue). Raises Invalid with ``<step>.<field>`` names."""
    errors: list[FieldError] = []
    patient = problem = None
    try:
        patient = check_demographics(draft.organization_id, answers.demographics)
    except Invalid as error:
        errors += [FieldError(f"{DEMOGRAPHICS}.{e.field}", e.message) for e in error.errors]
    try:
        problem = check_presenting_problem(answers.presenting)
    except Invalid as error:
        errors += [FieldError(f"{PRESENTING}.{e.field}", e.message) for e in error.errors]
    requests = [
        (
            f"symptoms.{entry['key']}.",
            SymptomRequest(entry.get("source", ""), entry.get("symptom_id"), entry.get("name"), entry),
        )
        for entry in answers.symptoms
    ]
    chosen: list[ResolvedSymptom] = []
    try:
        chosen = resolve_symptoms(draft.organization_id, requests)
    except Invalid as error:
        errors += error.errors
    if errors or patient is None or problem is None:
        raise Invalid(errors=errors)
    return CheckedIntake(patient, problem, chosen)


def draft_problems(draft: IntakeDraft) -> list[FieldError]:
    """What stops the draft from being submitted (``<step>.<field>`` names); empty when nothing does."""
    try:
        _check_draft(draft, draft_answers(draft))
    except Invalid as error:
        return error.errors
    return []


def _duplicates(organization_id: str, data: patients.PatientInput) -> list[patients.DuplicateMatch]:
    return patients.possible_duplicates(
        organization_id,
        first_name=data.first_name,
        last_name=data.last_name,
        date_of_birth=data.date_of_birth,
        phones=data.phones,
        email=data.email,
    )


def duplicates_for(draft: IntakeDraft) -> list[patients.DuplicateMatch]:
    """Patients who may be the person this draft describes: same name and date of birth, or the
    same phone number or e-mail address. Empty while the demographics are incomplete."""
    try:
        data = check_demographics(draft.organization_id, draft_answers(draft).demographics)
    except Invalid:
        return []
    return _duplicates(draft.organization_id, data)


CONSENT_REQUIRED = "CONSENT_REQUIRED"


def check_consents(organization_id: str, consents: Sequence[consent.ConsentInput]) -> None:
    """Raises Invalid (field ``consents``, code CONSENT_REQUIRED) when the organization requires a
    consent at intake (docs/patients.md, "Consent") that ``consents`` does not give."""
    missing = consent.missing_at_intake(organization_id, [given.kind for given in consents])
    if missing:
        labels = "; ".join(consent.KINDS[kind].lower() for kind in missing)
        raise Invalid(
            errors=[
                FieldError(
                    "consents",
                    f"This clinic needs the patient's consent before registering them: {labels}.",
                    CONSENT_REQUIRED,
                )
            ]
        )


def _register(
    organization_id: str,
    intake: CheckedIntake,
    *,
    actor: audit.Actor,
    draft: IntakeDraft,
    channel: str,
    consents: Sequence[consent.ConsentInput] = (),
) -> patients.Patient:
    patient = patients.create_patient(organization_id, intake.patient, actor=actor)
    for given in consents:
        consent.record_consent(organization_id, patient.id, given, actor=actor)
    record = write_record(organization_id, patient.id, intake.problem, actor=actor, draft_id=draft.id)
    record_symptoms(organization_id, patient.id, intake.symptoms, actor=actor)
    draft.status = SUBMITTED
    draft.submitted_patient_id = patient.id
    draft.submitted_at = utcnow()
    draft.payload_enc = None  # the patient record holds it from now on
    draft.step = REVIEW
    db.session.flush()
    audit.record(
        "intake.submitted",
        organization_id=organization_id,
        actor=actor,
        target_type="intake_record",
        target_id=record.id,
        patient_id=patient.id,
        details={"draft_id": draft.id, "channel": channel, "symptoms": len(intake.symptoms)},
    )
    return patient


def _duplicate_conflict(matches: Sequence[patients.DuplicateMatch]) -> Conflict:
    return Conflict(
        "This person may already be registered. Open the existing record, or create the patient anyway.",
        duplicates=[{"id": m.id, "reasons": list(m.reasons), "archived": m.archived} for m in matches],
    )


def _submitted_patient(draft: IntakeDraft) -> patients.Patient:
    if draft.submitted_patient_id is None:
        raise Conflict("This intake was submitted, but its patient no longer exists.")
    return patients.get_patient(draft.organization_id, draft.submitted_patient_id)


def submit(
    draft: IntakeDraft,
    *,
    create_anyway: bool,
    actor: audit.Actor,
    consents: Sequence[consent.ConsentInput] = (),
) -> patients.Patient:
    """Register the patient the draft describes, with their intake record and symptoms.

    Idempotent: a draft already submitted (a double click, a retry after a dropped connection)
    returns its patient and creates nothing; two requests at once cannot both create, because the
    draft is claimed with ``UPDATE ... WHERE status = 'draft'`` before anything is written.
    Raises Invalid (``<step>.<field>`` names) when a step is incomplete; Conflict carrying
    ``duplicates`` when possible duplicates exist and ``create_anyway`` is false (nothing written);
    Conflict if the draft was discarded. ``consents`` are recorded with the patient; Invalid
    (``consents``) when one the organization requires at intake is missing."""
    if draft.status == SUBMITTED:
        return _submitted_patient(draft)
    if draft.status != DRAFT:
        raise Conflict("This intake was discarded.")
    intake = _check_draft(draft, draft_answers(draft))
    check_consents(draft.organization_id, consents)
    claimed = db.session.scalar(
        update(IntakeDraft)
        .where(IntakeDraft.id == draft.id, IntakeDraft.status == DRAFT)
        .values(status=SUBMITTED, updated_at=utcnow())
        .returning(IntakeDraft.id)
        .execution_options(synchronize_session=False)
    )
    if claimed is None:
        # Another request claimed it first (and, on PostgreSQL, has committed by now: the UPDATE
        # waited for its row lock). Answer with what it created.
        db.session.refresh(draft)
        if draft.status != SUBMITTED:
            raise Conflict("This intake was discarded.")
        return _submitted_patient(draft)
    if not create_anyway:
        matches = _duplicates(draft.organization_id, intake.patient)
        if matches:
            raise _duplicate_conflict(matches)  # the request rolls back, releasing the claim
    return _register(draft.organization_id, intake, actor=actor, draft=draft, channel=WEB, consents=consents)


# --- the JSON API ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiIntake:
    """One POST /api/v1/intake/patients, as the API layer parsed it."""

    patient_raw: dict[str, Any]  # in the patient service's shape
    presenting: dict[str, Any]  # PRESENTING_FIELDS
    symptoms: list[SymptomRequest]
    create_anyway: bool = False
    consents: list[dict[str, Any]] = field(default_factory=list)  # each {"kind", "text_version", "method"}


@dataclass(frozen=True)
class ApiResult:
    patient_id: str
    replayed: bool  # an earlier request with the same Idempotency-Key created it


def _check_api_intake(organization_id: str, data: ApiIntake) -> CheckedIntake:
    errors: list[FieldError] = []
    patient = problem = None
    try:
        patient = patients.validate_for(organization_id, data.patient_raw)
    except Invalid as error:
        errors += error.errors
    try:
        problem = check_presenting_problem(data.presenting)
    except Invalid as error:
        errors += error.errors
    chosen: list[ResolvedSymptom] = []
    try:
        chosen = resolve_symptoms(organization_id, [(f"symptoms.{n}.", r) for n, r in enumerate(data.symptoms)])
    except Invalid as error:
        errors += error.errors
    given = []
    for number, raw in enumerate(data.consents):
        try:
            given.append(consent.validate_consent(raw, prefix=f"consents.{number}."))
        except Invalid as error:
            errors += error.errors
    if not errors:
        try:
            check_consents(organization_id, given)
        except Invalid as error:
            errors += error.errors
    if errors or patient is None or problem is None:
        raise Invalid(errors=errors)
    return CheckedIntake(patient, problem, chosen, tuple(given))


def _replay(draft: IntakeDraft, body_hash: str | None) -> ApiResult:
    if draft.request_hash != body_hash:
        raise Invalid(
            errors=[FieldError("Idempotency-Key", "This key was used within 24 hours for a different request body.")]
        )
    return ApiResult(_submitted_patient(draft).id, replayed=True)


def register_from_api(
    organization_id: str,
    data: ApiIntake,
    *,
    actor: audit.Actor,
    idempotency_key: str | None = None,
    body_hash: str | None = None,
) -> ApiResult:
    """Register a patient with their intake record and symptoms in one call.

    With ``idempotency_key``, a second call with the same key (from the same caller, within 24
    hours) returns the first call's patient and creates nothing, even when both arrive at once;
    the same key with a different body (``body_hash``) is Invalid. Only a successful call holds
    its key: one refused with Invalid or Conflict may be retried with the same key.
    Raises Invalid listing every field (API names: ``first_name``, ``symptoms.0.severity``);
    Conflict carrying ``duplicates`` when possible duplicates exist and ``create_anyway`` is false."""
    key_hash = idempotency_hash(organization_id, actor, idempotency_key) if idempotency_key else None
    if key_hash is not None:
        held = held_draft(organization_id, key_hash)
        if held is not None and held.status == SUBMITTED:
            return _replay(held, body_hash)
    intake = _check_api_intake(organization_id, data)
    resolved = add_new_names_to_catalogue(organization_id, intake.symptoms, actor=actor)
    intake = CheckedIntake(intake.patient, intake.problem, resolved, intake.consents)
    if key_hash is not None:
        draft = claim_key(organization_id, key_hash, body_hash, actor)
        if draft is None:
            held = held_draft(organization_id, key_hash)
            if held is None or held.status != SUBMITTED:
                raise Conflict("A request with this Idempotency-Key is still being processed; retry shortly.")
            return _replay(held, body_hash)
    else:
        draft = IntakeDraft(organization_id=organization_id, created_by_id=actor.user_id, channel=API, step=REVIEW)
        db.session.add(draft)
        db.session.flush()
    if not data.create_anyway:
        matches = _duplicates(organization_id, intake.patient)
        if matches:
            raise _duplicate_conflict(matches)
    patient = _register(organization_id, intake, actor=actor, draft=draft, channel=API, consents=intake.consents)
    return ApiResult(patient.id, replayed=False)
