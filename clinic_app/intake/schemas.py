"""JSON shapes of the intake API, in the old system's words (seed 002 §4.1 and §7).

Request schemas check only the JSON types; the service checks the values, so one 422 lists every
field's problem. The old contract's forms are accepted beside ours: ``name`` for first and last
name, an address as one line, ``duration: {value, unit}`` or ``duration_value``/``duration_unit``,
``onset`` or ``onset_description``, a bare list of symptoms. ``symptom_source`` "user" is the
contract's word for the clinic's own (custom) symptoms.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field, model_validator

from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.crypto import Unreadable
from clinic_app.core.errors import FieldError
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field
from clinic_app.intake.queries import DEFAULT_LIMIT, MAX_LIMIT, IntakePatientRow, RecordView, SymptomView
from clinic_app.intake.service import ApiIntake
from clinic_app.intake.validation import (
    FREQUENCIES,
    INFORMANTS,
    NARRATIVE_MAX,
    NOTES_MAX,
    ONSET_MAX,
    PRESENTING_PROBLEM_MAX,
    REFERRED_BY_MAX,
    SEVERITIES,
    TAGS_MAX,
    UNITS,
    Duration,
)
from clinic_app.intake.writing import CUSTOM, MASTER, SymptomRequest
from clinic_app.patients.privacy_schemas import ConsentIn
from clinic_app.patients.schemas import AddressIn, EmergencyContactIn

SourceIn = Literal["master", "user", "custom"]


def _doc(**schema: Any) -> Any:
    return Field(default=None, json_schema_extra=schema)


class DurationIn(Schema):
    value: int | None = _doc(minimum=1, description="A whole number above 0")
    unit: str | None = _doc(enum=list(UNITS), description="Case-insensitive (the old API sent “Months”)")


class PhoneIn(Schema):
    type: Literal["mobile", "home", "work", "other"] | None = None
    number: str = Field(description="Local (read in the organization's region) or international format")


class InformantsIn(Schema):
    selection: list[str] = Field(default_factory=list, description="Any of: " + ", ".join(INFORMANTS))
    other_details: str | None = None


class PrecipitatingFactorIn(Schema):
    narrative: str | None = _doc(maxLength=NARRATIVE_MAX)
    tags: list[str] | None = _doc(maxItems=TAGS_MAX, description="Short labels, 50 characters each at most")


class SymptomIn(Schema):
    """One symptom of the patient: an ICD-11 symptom (``master``) or the clinic's own (``user``)
    by id, or a new symptom of the clinic's own by ``symptom_name`` (added to its catalogue)."""

    symptom_id: str | None = _doc(description="sym_… (ICD-11) or csym_… (the clinic's own)")
    symptom_source: SourceIn | None = _doc(description="Guessed from symptom_id when left out")
    symptom_name: str | None = _doc(description="Only for a new symptom of the clinic's own; otherwise ignored")
    severity: str | None = _doc(enum=list(SEVERITIES), description="Required; case-insensitive")
    frequency: str | None = _doc(enum=list(FREQUENCIES), description="Required; case-insensitive")
    duration: DurationIn | None = None
    duration_value: int | None = _doc(minimum=1)
    duration_unit: str | None = _doc(enum=list(UNITS))
    notes: str | None = _doc(maxLength=NOTES_MAX)
    onset: str | None = _doc(maxLength=ONSET_MAX, description="How it started (also accepted as onset_description)")
    onset_description: str | None = _doc(maxLength=ONSET_MAX)
    triggers: list[str] | None = _doc(maxItems=20)

    def to_request(self) -> SymptomRequest:
        source = {"master": MASTER, "user": CUSTOM, "custom": CUSTOM}.get(self.symptom_source or "")
        if source is None:
            source = MASTER if (self.symptom_id or "").startswith("sym_") else CUSTOM
        nested = self.duration or DurationIn()
        details = {
            "severity": self.severity,
            "frequency": self.frequency,
            "duration_value": self.duration_value if self.duration_value is not None else nested.value,
            "duration_unit": self.duration_unit if self.duration_unit is not None else nested.unit,
            "notes": self.notes,
            "onset_description": self.onset_description if self.onset_description is not None else self.onset,
            "triggers": self.triggers,
        }
        return SymptomRequest(source, self.symptom_id, self.symptom_name, details)

    def error_names(self) -> dict[str, str]:
        """Our field names → the ones this item used, so messages name what the client sent."""
        names = {}
        if self.duration is not None and self.duration_value is None:
            names |= {"duration_value": "duration.value", "duration_unit": "duration.unit"}
        if self.onset is not None and self.onset_description is None:
            names["onset_description"] = "onset"
        return names


def rename_symptom_errors(
    errors: list[FieldError], items: list[SymptomIn], prefix: str = "symptoms"
) -> list[FieldError]:
    renamed = []
    for error in errors:
        parts = error.field.split(".")
        if len(parts) == 3 and parts[0] == prefix and parts[1].isdigit() and int(parts[1]) < len(items):
            parts[2] = items[int(parts[1])].error_names().get(parts[2], parts[2])
        renamed.append(FieldError(".".join(parts), error.message, error.code))
    return renamed


class IntakeCreate(Schema):
    """A new patient with their intake: demographics (first and last name required; or ``name``),
    the presenting problem, and optionally their symptoms."""

    first_name: str | None = _doc(maxLength=100)
    last_name: str | None = _doc(maxLength=100)
    name: str | None = _doc(description="The old API's full name, used when first_name/last_name are left out")
    preferred_name: str | None = None
    date_of_birth: str | None = _doc(format="date", description="YYYY-MM-DD; not in the future, not before 1900")
    age: int | None = Field(
        default=None, deprecated=True, description="Accepted from the old API and ignored: send date_of_birth"
    )
    sex: str | None = _doc(description="female, male, intersex or not_stated (case-insensitive)")
    gender: str | None = None
    phones: list[PhoneIn] | None = None
    email: str | None = _doc(format="email")
    address: AddressIn | str | None = _doc(description="An object, or the old API's single line")
    emergency_contact: EmergencyContactIn | None = None
    informants: InformantsIn | list[str] | None = None
    illness_duration: DurationIn | None = None
    referred_by: str | None = _doc(maxLength=REFERRED_BY_MAX)
    presenting_problem: str | None = _doc(maxLength=PRESENTING_PROBLEM_MAX)
    precipitating_factor: PrecipitatingFactorIn | None = None
    symptoms: list[SymptomIn] = Field(default_factory=list)
    create_anyway: bool = Field(default=False, description="Register even when possible duplicates exist")
    consents: list[ConsentIn] = Field(
        default_factory=list,
        max_length=10,
        description="Consents the patient gave; those the organization requires at intake must be here (else a 422 "
        "naming `consents`, code CONSENT_REQUIRED)",
    )

    def _names(self) -> tuple[str | None, str | None]:
        if self.first_name is not None or self.last_name is not None or not self.name:
            return self.first_name, self.last_name
        words = self.name.split()
        if len(words) < 2:
            return None, self.name
        return " ".join(words[:-1]), words[-1]

    def to_intake(self) -> ApiIntake:
        first_name, last_name = self._names()
        sex = (self.sex or "").strip().lower() or None
        sex = {"m": "male", "f": "female"}.get(sex or "", sex)
        address: Any = {"line1": self.address} if isinstance(self.address, str) else self.address
        patient_raw = {
            "first_name": first_name,
            "last_name": last_name,
            "preferred_name": self.preferred_name,
            "date_of_birth": self.date_of_birth,
            "sex": sex,
            "gender": self.gender,
            "phones": [p.model_dump() for p in self.phones or []],
            "email": self.email,
            "address": address.model_dump() if isinstance(address, AddressIn) else address,
            "emergency_contact": self.emergency_contact.model_dump() if self.emergency_contact else None,
        }
        informants = self.informants
        if isinstance(informants, list):
            informants = InformantsIn(selection=informants)
        duration = self.illness_duration or DurationIn()
        factor = self.precipitating_factor or PrecipitatingFactorIn()
        presenting = {
            "presenting_problem": self.presenting_problem,
            "informants": informants.selection if informants else [],
            "informant_details": informants.other_details if informants else None,
            "illness_duration_value": duration.value,
            "illness_duration_unit": duration.unit,
            "referred_by": self.referred_by,
            "precipitating_factors": factor.narrative,
            "precipitating_tags": factor.tags,
        }
        return ApiIntake(
            patient_raw=patient_raw,
            presenting=presenting,
            symptoms=[item.to_request() for item in self.symptoms],
            create_anyway=self.create_anyway,
            consents=[item.model_dump() for item in self.consents],
        )

    def rename_errors(self, errors: list[FieldError]) -> list[FieldError]:
        """The service's field names in the words of this request's shape."""
        names = {
            "informants": "informants.selection",
            "informant_details": "informants.other_details",
            "illness_duration_value": "illness_duration.value",
            "illness_duration_unit": "illness_duration.unit",
            "precipitating_factors": "precipitating_factor.narrative",
            "precipitating_tags": "precipitating_factor.tags",
        }
        if self.first_name is None and self.last_name is None and self.name:
            names |= {"first_name": "name", "last_name": "name"}
        if isinstance(self.address, str):
            names["address.line1"] = "address"
        renamed = [FieldError(names.get(e.field, e.field), e.message, e.code) for e in errors]
        return rename_symptom_errors(renamed, self.symptoms)


class SymptomsAdd(Schema):
    """Symptoms to record for an existing patient: ``{"symptoms": [...]}``, or the bare list the
    old API took."""

    symptoms: list[SymptomIn] = Field(default_factory=list, description="At least one; at most 50")

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, data: Any) -> Any:
        return {"symptoms": data} if isinstance(data, list) else data


# --- answers -------------------------------------------------------------------------------------


def _readable(value: Any) -> Any:
    return None if isinstance(value, Unreadable) else value


class DurationOut(Schema):
    value: int
    unit: Literal["days", "weeks", "months", "years"]

    @classmethod
    def of(cls, duration: Duration | None) -> DurationOut | None:
        return cls(value=duration.value, unit=duration.unit) if duration else None  # type: ignore[arg-type]


class InformantsOut(Schema):
    selection: list[str]
    other_details: str | None


class PrecipitatingFactorOut(Schema):
    narrative: str | None
    tags: list[str] | None


class IntakeRecordOut(Schema):
    """What intake recorded. A value that could not be decrypted is null and named in
    ``unreadable_fields``."""

    id: str
    patient_id: str
    presenting_problem: str | None
    informants: InformantsOut | None
    illness_duration: DurationOut | None
    referred_by: str | None
    precipitating_factor: PrecipitatingFactorOut
    created_by_id: str | None
    created_at: Timestamp
    unreadable_fields: list[str]

    @classmethod
    def of(cls, record: RecordView) -> IntakeRecordOut:
        informants = _readable(record.informants)
        tags = _readable(record.precipitating_tags)
        return cls(
            id=record.id,
            patient_id=record.patient_id,
            presenting_problem=_readable(record.presenting_problem),
            informants=(
                InformantsOut(selection=list(informants), other_details=_readable(record.informant_details))
                if informants is not None
                else None
            ),
            illness_duration=DurationOut.of(record.illness_duration),
            referred_by=_readable(record.referred_by),
            precipitating_factor=PrecipitatingFactorOut(
                narrative=_readable(record.precipitating_factors), tags=list(tags) if tags is not None else None
            ),
            created_by_id=record.created_by_id,
            created_at=record.created_at,
            unreadable_fields=list(record.unreadable_fields),
        )


class PatientSymptomOut(Schema):
    """A symptom of the patient as stored (seed 002 §7 shape, with the ICD-11 code)."""

    id: str
    symptom_id: str
    symptom_source: Literal["master", "user"]
    symptom_name: str
    code: str | None = Field(description="ICD-11 MMS code; null for the clinic's own symptoms")
    severity: str
    frequency: str
    duration: DurationOut | None
    duration_value: int | None
    duration_unit: str | None
    notes: str | None
    onset_description: str | None
    triggers: list[str] | None
    created_at: Timestamp
    unreadable_fields: list[str]

    @classmethod
    def of(cls, symptom: SymptomView) -> PatientSymptomOut:
        triggers = _readable(symptom.triggers)
        return cls(
            id=symptom.id,
            symptom_id=symptom.symptom_id,
            symptom_source="master" if symptom.source == MASTER else "user",
            symptom_name=symptom.name,
            code=symptom.code,
            severity=symptom.severity,
            frequency=symptom.frequency,
            duration=DurationOut.of(symptom.duration),
            duration_value=symptom.duration.value if symptom.duration else None,
            duration_unit=symptom.duration.unit if symptom.duration else None,
            notes=_readable(symptom.notes),
            onset_description=_readable(symptom.onset_description),
            triggers=list(triggers) if triggers is not None else None,
            created_at=symptom.created_at,
            unreadable_fields=list(symptom.unreadable_fields),
        )


class IntakeCreatedData(Schema):
    patient_id: str
    name: str
    message: str
    intake: IntakeRecordOut
    symptoms: list[PatientSymptomOut]


class IntakeCreatedOut(Schema):
    """The old API's answer (``status`` and ``data`` with ``patient_id``, ``name``, ``message``),
    with the stored intake record and symptoms."""

    status: Literal["success"] = "success"
    data: IntakeCreatedData


class IntakePatientOut(Schema):
    """A patient with their intake record (null if registered without intake) and symptoms."""

    id: str
    name: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    sex: str | None
    intake: IntakeRecordOut | None
    symptoms: list[PatientSymptomOut]
    unreadable_fields: list[str] = Field(description="Patient fields that could not be decrypted (shown as null)")


class IntakePatientListItem(Schema):
    id: str = Field(description="The patient's id")
    name: str
    first_name: str
    last_name: str
    intake_id: str
    illness_duration: DurationOut | None
    symptom_count: int
    created_at: Timestamp = Field(description="When the intake was recorded")

    @classmethod
    def of(cls, row: IntakePatientRow) -> IntakePatientListItem:
        return cls(
            id=row.patient_id,
            name=f"{row.first_name} {row.last_name}",
            first_name=row.first_name,
            last_name=row.last_name,
            intake_id=row.intake_id,
            illness_duration=DurationOut.of(row.illness_duration),
            symptom_count=row.symptom_count,
            created_at=row.created_at,
        )


class IntakePatientListOut(Schema):
    patients: list[IntakePatientListItem]
    limit: int
    next_cursor: str | None = next_cursor_field()
    has_more: bool


class IntakePatientListQuery(Schema):
    limit: int = limit_field(DEFAULT_LIMIT, MAX_LIMIT)
    cursor: str | None = cursor_field()


class SymptomsAddedOut(Schema):
    patient_id: str
    symptoms: list[PatientSymptomOut] = Field(description="The symptoms just stored, in the order sent")
