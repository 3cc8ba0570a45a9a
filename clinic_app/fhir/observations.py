"""FHIR Observation: the numeric values of a patient's health-data metrics (the JSON metrics of
``health_data``) and of the nights its actigraphy analyses found (sleep duration, time in bed,
efficiency, latency, wake after sleep onset, awakenings), one Observation per value, coded with
LOINC where a code exists and with the app's own code system always. Search needs ``patient``
and takes ``code`` (``8867-4``, ``http://loinc.org|8867-4`` or the app's ``heart_rate``) and
``date``. ``health_data:read``.

An Observation's id names where its value is kept: ``<upload>.<metric>.<value>``
(``hdu-2xwH....3.0``) or ``<analysis>.<night>.<value>``, so a read opens that one record again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Response, request
from sqlalchemy import select

from clinic_app.core.access import requires
from clinic_app.core.errors import FieldError, Invalid, NotFound, Unavailable
from clinic_app.core.tenancy import current_organization_id
from clinic_app.extensions import db
from clinic_app.fhir import bp, common
from clinic_app.fhir.scheduling import patient_param
from clinic_app.health_data import analyses, blocks
from clinic_app.health_data.models import COMPLETED, HealthAnalysis, HealthUpload

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OWN_CODES = "urn:clinic-app:health-metric"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MAX_UPLOADS = 200  # the newest uploads a search looks through

# (data part, field): (LOINC code or None, display, UCUM unit, category)
VALUES: dict[tuple[str, str], tuple[str | None, str, str, str]] = {
    ("biometric_data", "heart_rate"): ("8867-4", "Heart rate", "/min", "vital-signs"),
    ("biometric_data", "blood_pressure_systolic"): ("8480-6", "Systolic blood pressure", "mm[Hg]", "vital-signs"),
    ("biometric_data", "blood_pressure_diastolic"): ("8462-4", "Diastolic blood pressure", "mm[Hg]", "vital-signs"),
    ("biometric_data", "oxygen_saturation"): ("59408-5", "Oxygen saturation by pulse oximetry", "%", "vital-signs"),
    ("biometric_data", "heart_rate_variability"): ("80404-7", "Heart rate variability (SDNN)", "ms", "vital-signs"),
    ("biometric_data", "respiratory_rate"): ("9279-1", "Respiratory rate", "/min", "vital-signs"),
    ("biometric_data", "body_temperature"): ("8310-5", "Body temperature", "Cel", "vital-signs"),
    ("biometric_data", "blood_glucose"): ("2339-0", "Glucose in blood", "mg/dL", "laboratory"),
    ("activity_data", "steps"): ("55423-8", "Number of steps", "{steps}", "activity"),
    ("activity_data", "resting_heart_rate"): ("40443-4", "Resting heart rate", "/min", "vital-signs"),
    ("activity_data", "active_energy"): ("41981-2", "Calories burned", "kcal", "activity"),
    ("activity_data", "distance"): (None, "Distance", "km", "activity"),
    ("activity_data", "exercise_minutes"): ("55411-3", "Exercise duration", "min", "activity"),
    ("activity_data", "flights_climbed"): (None, "Flights climbed", "{flights}", "activity"),
    ("activity_data", "active_minutes"): (None, "Active time", "min", "activity"),
    ("activity_data", "vo2_max"): (None, "VO2 max", "mL/kg/min", "activity"),
    ("sleep_data", "total_sleep_minutes"): ("93832-4", "Sleep duration", "min", "activity"),
    ("sleep_data", "time_to_sleep_minutes"): (None, "Time to fall asleep", "min", "activity"),
    ("sleep_data", "sleep_efficiency"): (None, "Sleep efficiency", "1", "activity"),
    ("sleep_data", "wake_count"): (None, "Awakenings", "{count}", "activity"),
    ("mental_health_data", "stress_level"): (None, "Stress level (1-10)", "{score}", "survey"),
    ("mental_health_data", "anxiety_level"): (None, "Anxiety level (1-10)", "{score}", "survey"),
    ("mental_health_data", "energy_level"): (None, "Energy level (1-10)", "{score}", "survey"),
    ("mental_health_data", "focus_rating"): (None, "Focus rating (1-10)", "{score}", "survey"),
}
ORDER = list(VALUES)
# A night of an actigraphy analysis: (field, LOINC code or None, display, UCUM unit).
NIGHT_VALUES = (
    ("total_sleep_minutes", "93832-4", "Sleep duration", "min"),
    ("time_in_bed_minutes", None, "Time in bed", "min"),
    ("sleep_efficiency", None, "Sleep efficiency", "1"),
    ("sleep_onset_latency_minutes", None, "Sleep onset latency", "min"),
    ("waso_minutes", None, "Wake after sleep onset", "min"),
    ("awakenings", None, "Awakenings", "{count}"),
)


def observation(
    upload: HealthUpload, index: int, moment: datetime, key: tuple[str, str], value: float
) -> dict[str, Any]:
    loinc, display, unit, category = VALUES[key]
    codings = _coding(loinc, key[1], display)
    return {
        "resourceType": "Observation",
        "id": f"{common.fhir_id(upload.id)}.{index}.{ORDER.index(key)}",
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "code": {"coding": codings, "text": display},
        "subject": common.reference("Patient", upload.patient_id),
        "effectiveDateTime": common.instant(moment),
        "issued": common.instant(upload.completed_at or upload.created_at),
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def _coding(loinc: str | None, own: str, display: str) -> list[dict[str, str]]:
    codings = [{"system": OWN_CODES, "code": own, "display": display}]
    if loinc:
        codings.insert(0, {"system": LOINC, "code": loinc, "display": display})
    return codings


def _night_observations(analysis: HealthAnalysis) -> Iterator[tuple[int, datetime, dict[str, Any]]]:
    """(night, in bed from, resource) for every value of an actigraphy analysis's nights."""
    try:
        result = analyses.result_of(analysis) or {}
    except Unavailable:
        return
    nights = (result.get("sleep_metrics") or {}).get("nights") or []
    algorithm = (result.get("sleep_metrics") or {}).get("algorithm") or analysis.algorithm
    for index, night in enumerate(nights):
        start, end = night.get("in_bed_start"), night.get("in_bed_end")
        if not start or not end:
            continue
        began = datetime.fromisoformat(start)
        for position, (name, loinc, display, unit) in enumerate(NIGHT_VALUES):
            value = night.get(name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                continue
            yield (
                index,
                began,
                {
                    "resourceType": "Observation",
                    "id": f"{common.fhir_id(analysis.id)}.{index}.{position}",
                    "status": "final",
                    "category": [{"coding": [{"system": CATEGORY, "code": "activity"}]}],
                    "code": {"coding": _coding(loinc, f"actigraphy.{name}", display), "text": display},
                    "subject": common.reference("Patient", analysis.patient_id),
                    "effectivePeriod": {
                        "start": common.instant(began),
                        "end": common.instant(datetime.fromisoformat(end)),
                    },
                    "issued": common.instant(analysis.completed_at),
                    "method": {"text": f"Actigraphy, {algorithm}"},
                    "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
                },
            )


def _observations(organization_id: str, upload: HealthUpload) -> Iterator[tuple[int, datetime, dict[str, Any]]]:
    """(metric index, observed at, resource) for every numeric value of one upload."""
    channels = db.session.scalars(
        select(blocks.HealthSeriesBlock.channel).where(blocks.HealthSeriesBlock.upload_id == upload.id).distinct()
    ).all()
    metrics = [c for c in channels if c.startswith("metric.")]
    samples = blocks.read_samples(organization_id, upload.patient_id, metrics, upload_id=upload.id)
    for index, (_channel, sample) in enumerate(samples):
        for key in ORDER:
            part = (sample.extra or {}).get(key[0]) or {}
            value = part.get(key[1])
            if isinstance(value, int | float) and not isinstance(value, bool):
                yield index, sample.start, observation(upload, index, sample.start, key, value)


def _upload(organization_id: str, internal: str | None) -> HealthUpload | None:
    found = db.session.get(HealthUpload, internal) if internal and internal.startswith("hdu_") else None
    if found is None or found.organization_id != organization_id or found.status != COMPLETED:
        return None
    return found


def _analysis(organization_id: str, internal: str | None) -> HealthAnalysis | None:
    found = db.session.get(HealthAnalysis, internal) if internal and internal.startswith("hda_") else None
    if found is None or found.organization_id != organization_id or found.status != COMPLETED:
        return None
    return found


@bp.get("/Observation/<resource_id>")
@requires("health_data:read")
def read_observation(resource_id: str) -> Response:
    organization_id = current_organization_id()
    source = common.internal_id(resource_id.partition(".")[0])
    upload = _upload(organization_id, source)
    if upload is not None:
        for _index, _moment, resource in _observations(organization_id, upload):
            if resource["id"] == resource_id:
                common.audit_read(organization_id, "Observation", upload.id, upload.patient_id, "read")
                return common.answer(resource)
    analysis = _analysis(organization_id, source)
    if analysis is not None:
        for _index, _moment, resource in _night_observations(analysis):
            if resource["id"] == resource_id:
                common.audit_read(organization_id, "Observation", analysis.id, analysis.patient_id, "read")
                return common.answer(resource)
    raise NotFound(f"Observation/{resource_id[:80]} not found.")


def _code_matches(wanted: list[str], resource: dict[str, Any]) -> bool:
    for code in wanted:
        system, _, value = code.rpartition("|")
        if any(c["code"] == value and (not system or c["system"] == system) for c in resource["code"]["coding"]):
            return True
    return False


@bp.get("/Observation")
@requires("health_data:read")
def search_observations() -> Response:
    organization_id = current_organization_id()
    given = common.params(("patient", "code", "date", "category"))
    if "patient" not in given:
        raise Invalid(errors=[FieldError("patient", "Name the patient: Observation?patient=Patient/<id>.", "MISSING")])
    patient_id = patient_param(given["patient"])
    limit = common.count()
    span = common.date_range("date", request.args.getlist("date"))
    codes = [c.strip() for c in given.get("code", "").split(",") if c.strip()]
    position = common.cursor_text() or "0"
    if not position.isdigit():
        raise Invalid(errors=[FieldError("_cursor", "This cursor is not valid.", "INVALID_SEARCH")])
    uploads = db.session.scalars(
        select(HealthUpload)
        .where(
            HealthUpload.organization_id == organization_id,
            HealthUpload.patient_id == patient_id,
            HealthUpload.kind == "metrics",
            HealthUpload.status == COMPLETED,
        )
        .order_by(HealthUpload.created_at.desc(), HealthUpload.id)
        .limit(MAX_UPLOADS)
    ).all()
    nights = db.session.scalars(
        select(HealthAnalysis)
        .where(
            HealthAnalysis.organization_id == organization_id,
            HealthAnalysis.patient_id == patient_id,
            HealthAnalysis.status == COMPLETED,
        )
        .order_by(HealthAnalysis.created_at.desc(), HealthAnalysis.id)
        .limit(MAX_UPLOADS)
    ).all()
    found: list[dict[str, Any]] = []
    sources = [*(_observations(organization_id, u) for u in uploads), *(_night_observations(a) for a in nights)]
    for source in sources:
        found += [
            resource
            for _index, moment, resource in source
            if (span.start is None or moment >= span.start)
            and (span.end is None or moment < span.end)
            and (not codes or _code_matches(codes, resource))
            and ("category" not in given or resource["category"][0]["coding"][0]["code"] == given["category"])
        ]
    start = int(position)
    page = found[start : start + limit]
    for upload_id in dict.fromkeys(resource["id"].split(".")[0] for resource in page):
        common.audit_read(
            organization_id, "Observation", common.internal_id(upload_id) or upload_id, patient_id, "search"
        )
    next_position = str(start + limit) if start + limit < len(found) else None
    return common.searchset("Observation", page, next_position, total=len(found))
