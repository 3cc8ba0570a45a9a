"""Done-when 3: the FHIR R4 read API. The CapabilityStatement and every resource type validate
with ``fhir.resources`` (its R4B models: R4's successor with the same shape for these
resources); ``Patient?name=`` and ``Appointment?patient=&date=ge`` return the right Bundles, with
paging; another organization's token gets an empty Bundle or a 404; reads are audited; only
bearer tokens are accepted; errors are OperationOutcome."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import select

from clinic_app.appointments import booking
from clinic_app.core.audit import Actor, AuditEvent
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.health_data import service as health
from clinic_app.health_data.metrics import HealthMetric
from clinic_app.patients import service as patients
from tests.appointments.builders import make_practitioner, make_type
from tests.factories import access_token_for, api_token_for
from tests.reports.conftest import consultation, generate, sign

FHIR = "application/fhir+json"


def validate(resource: dict[str, Any]) -> Any:
    """The resource parsed by the FHIR library (raises on anything invalid); entries of a Bundle too."""
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    for entry in resource.get("entry", []):
        validate(entry["resource"])
    return model


def _patient(app, organization, first, last, **values) -> str:
    with app.app_context():
        data = patients.validate_for(organization.id, {"first_name": first, "last_name": last, **values})
        patient = patients.create_patient(organization.id, data, actor=Actor())
        db.session.commit()
        return patient.id


@pytest.fixture
def fhir(app, tenants) -> Any:
    client = app.test_client()
    token = access_token_for(app, tenants.user("clinician"))

    def get(path: str, *, as_token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {as_token or token}", "Accept": FHIR}
        response = client.get(path if path.startswith("/") else f"/fhir/R4/{path}", headers=headers)
        return response

    return get


def _fid(internal: str) -> str:
    return internal.replace("_", "-", 1)


def _follow(fhir, url: str) -> Any:
    parts = urlsplit(url)
    return fhir(f"{parts.path}?{parts.query}")


def test_the_capability_statement_is_public_and_valid(app):
    response = app.test_client().get("/fhir/R4/metadata")
    assert response.status_code == 200 and response.mimetype == FHIR
    statement = validate(response.get_json())
    assert statement.fhirVersion == "4.0.1"
    assert {r.type for r in statement.rest[0].resource} == {
        "Patient",
        "Practitioner",
        "Appointment",
        "Encounter",
        "Observation",
        "DocumentReference",
    }


def test_patient_read_is_valid_and_audited(app, tenants, fhir):
    patient_id = _patient(
        app,
        tenants.a,
        "Grace",
        "Hopper",
        date_of_birth="1980-02-03",
        sex="female",
        email="grace@example.com",
        mobile_phone="0412 555 111",
        external_ids={"cliniko": "4242"},
    )
    response = fhir(f"Patient/{_fid(patient_id)}")
    assert response.status_code == 200 and response.mimetype == FHIR
    resource = response.get_json()
    validate(resource)
    assert resource["name"][0] == {"use": "official", "family": "Hopper", "given": ["Grace"]}
    assert resource["birthDate"] == "1980-02-03" and resource["gender"] == "female"
    assert {"system": "email", "value": "grace@example.com"} in resource["telecom"]
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "fhir.read")).all()
        assert [(e.patient_id, e.target_type, e.details["interaction"]) for e in events] == [
            (patient_id, "Patient", "read")
        ]


def test_patient_search_by_name_pages_with_count_and_next_links(app, tenants, fhir):
    wanted = [_patient(app, tenants.a, first, "Lovelace") for first in ("Ada", "Augusta", "Byron")]
    _patient(app, tenants.a, "Charles", "Babbage")
    first = fhir("Patient?name=love&_count=2")
    assert first.status_code == 200
    bundle = first.get_json()
    validate(bundle)
    assert bundle["type"] == "searchset"
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert "next" in links and "_count=2" in links["next"]
    second = _follow(fhir, links["next"]).get_json()
    validate(second)
    assert "next" not in {link["relation"] for link in second["link"]}
    found = [e["resource"]["id"] for e in bundle["entry"] + second["entry"]]
    assert found == [_fid(i) for i in wanted]  # Ada, Augusta, Byron Lovelace; never Babbage
    assert fhir("Patient?name=char").get_json()["entry"][0]["resource"]["name"][0]["family"] == "Babbage"


def test_patient_search_by_birthdate_and_identifier(app, tenants, fhir):
    born = _patient(app, tenants.a, "Early", "Bird", date_of_birth="1970-01-01", external_ids={"cliniko": "77"})
    _patient(app, tenants.a, "Late", "Bird", date_of_birth="1990-01-01")
    by_date = fhir("Patient?birthdate=1970-01-01").get_json()
    assert [e["resource"]["id"] for e in by_date["entry"]] == [_fid(born)]
    by_id = fhir("Patient?identifier=cliniko|77").get_json()
    assert [e["resource"]["id"] for e in by_id["entry"]] == [_fid(born)]
    assert fhir("Patient?identifier=cliniko|78").get_json().get("entry") is None


def test_another_organization_gets_an_empty_bundle_or_a_404(app, tenants, fhir):
    patient_id = _patient(app, tenants.a, "Private", "Person")
    outsider = access_token_for(app, tenants.outsider)
    read = fhir(f"Patient/{_fid(patient_id)}", as_token=outsider)
    assert read.status_code == 404 and read.mimetype == FHIR
    outcome = validate(read.get_json())
    assert outcome.issue[0].code == "not-found"
    search = fhir("Patient?name=private", as_token=outsider).get_json()
    validate(search)
    assert search.get("entry") is None and "Private" not in str(search)
    # An API token of B is B's too.
    token_b = api_token_for(app, tenants.b.id, ["patients:read"], creator=tenants.outsider)
    assert fhir(f"Patient/{_fid(patient_id)}", as_token=token_b).status_code == 404


def test_only_bearer_tokens_and_errors_are_operation_outcomes(app, tenants, login_as):
    patient_id = _patient(app, tenants.a, "Session", "Person")
    anonymous = app.test_client().get(f"/fhir/R4/Patient/{_fid(patient_id)}", headers={"Accept": FHIR})
    assert anonymous.status_code == 401 and validate(anonymous.get_json()).issue[0].code == "login"
    browser = login_as("clinician")
    refused = browser.get(f"/fhir/R4/Patient/{_fid(patient_id)}")
    assert refused.status_code == 401 and refused.get_json()["resourceType"] == "OperationOutcome"


def test_bad_search_parameters_are_operation_outcomes(fhir):
    for path in ("Patient?_count=0", "Patient?_count=1000", "Patient?colour=blue", "Appointment?date=ge2024-13"):
        response = fhir(path)
        assert response.status_code == 422, path
        assert validate(response.get_json()).issue[0].severity == "error"


def _clinic(app, organization, name: str = "Standard consultation") -> dict[str, str]:
    with app.app_context():
        clinic = {
            "practitioner": make_practitioner(organization.id, last=name.split()[0]),
            "type": make_type(organization.id, name),
            "patient": patients.create_patient(
                organization.id,
                patients.validate_for(organization.id, {"first_name": "Ann", "last_name": "Apt"}),
                actor=Actor(),
            ).id,
        }
        db.session.commit()
        return clinic


def _book(app, organization, clinic, starts) -> str:
    with app.app_context():
        appointment = booking.book(
            organization.id,
            patient_id=clinic["patient"],
            practitioner_id=clinic["practitioner"],
            appointment_type_id=clinic["type"],
            starts_at=starts,
            actor=Actor(),
        )
        db.session.commit()
        return appointment.id


def test_appointment_search_by_patient_and_date_pages(app, tenants, fhir):
    clinic = _clinic(app, tenants.a)
    base = (utcnow() + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    made = [_book(app, tenants.a, clinic, base + timedelta(days=n)) for n in range(3)]
    other = _clinic(app, tenants.a, "Other visit")
    _book(app, tenants.a, other, base + timedelta(days=1, hours=2))
    since = (base + timedelta(days=1)).date().isoformat()
    first = fhir(f"Appointment?patient=Patient/{_fid(clinic['patient'])}&date=ge{since}&_count=1")
    assert first.status_code == 200
    bundle = first.get_json()
    validate(bundle)
    next_url = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    second = _follow(fhir, next_url).get_json()
    validate(second)
    assert [e["resource"]["id"] for e in bundle["entry"] + second["entry"]] == [_fid(made[1]), _fid(made[2])]
    resource = bundle["entry"][0]["resource"]
    assert resource["status"] == "booked"
    assert {"actor": {"reference": f"Patient/{_fid(clinic['patient'])}"}, "status": "accepted"} in resource[
        "participant"
    ]
    read = fhir(f"Appointment/{_fid(made[0])}")
    validate(read.get_json())
    practitioner = fhir(f"Practitioner/{_fid(clinic['practitioner'])}")
    assert validate(practitioner.get_json()).name[0].family == "Standard"
    cancelled = fhir(f"Appointment?patient={_fid(clinic['patient'])}&status=cancelled").get_json()
    assert cancelled.get("entry") is None


def test_encounter_and_document_reference_of_a_signed_report(app, tenants, fhir):
    clinician = tenants.user("clinician")
    patient_id = _patient(app, tenants.a, "Doc", "Patient")
    session_id = consultation(app, tenants.a, clinician, patient_id)
    encounter = fhir(f"Encounter?patient=Patient/{_fid(patient_id)}").get_json()
    validate(encounter)
    [entry] = encounter["entry"]
    assert entry["resource"]["status"] == "finished" and entry["resource"]["subject"]["reference"].endswith(
        _fid(patient_id)
    )
    report_id = generate(app, tenants.a, clinician, session_id)
    assert fhir(f"DocumentReference?patient=Patient/{_fid(patient_id)}").get_json().get("entry") is None  # a draft
    sign(app, tenants.a, clinician, report_id)
    documents = fhir(f"DocumentReference?patient=Patient/{_fid(patient_id)}").get_json()
    validate(documents)
    [document] = documents["entry"]
    attachment = document["resource"]["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf" and attachment["url"].endswith(
        f"/api/v1/reports/{report_id}/pdf"
    )
    assert len(document["resource"]["extension"][0]["valueString"]) == 64  # the signed content's SHA-256
    # A receptionist has no clinical access: the documents do not exist for them.
    receptionist = access_token_for(app, tenants.user("receptionist"))
    assert fhir(f"DocumentReference/{_fid(report_id)}", as_token=receptionist).status_code == 404


def test_observations_of_health_metrics_carry_loinc_codes(app, tenants, fhir):
    patient_id = _patient(app, tenants.a, "Watch", "Wearer")
    moment = (utcnow() - timedelta(days=1)).replace(microsecond=0)
    metrics = [
        HealthMetric.model_validate(
            {"metric_type": "heart_rate", "biometric_data": {"heart_rate": 64}, "created_at": moment.isoformat()}
        ),
        HealthMetric.model_validate(
            {
                "metric_type": "blood_pressure",
                "biometric_data": {"blood_pressure_systolic": 120, "blood_pressure_diastolic": 80},
                "created_at": moment.isoformat(),
            }
        ),
    ]
    with app.app_context():
        health.record_metrics(tenants.a.id, patient_id, metrics, actor=Actor(user_id=tenants.user("clinician").id))
        db.session.commit()
    everything = fhir(f"Observation?patient=Patient/{_fid(patient_id)}").get_json()
    validate(everything)
    assert everything["total"] == 3
    heart = fhir(f"Observation?patient=Patient/{_fid(patient_id)}&code=http://loinc.org|8867-4").get_json()
    [entry] = heart["entry"]
    assert entry["resource"]["valueQuantity"]["value"] == 64
    assert entry["resource"]["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "8867-4",
        "display": "Heart rate",
    }
    read = fhir(f"Observation/{entry['resource']['id']}")
    assert read.status_code == 200 and validate(read.get_json()).valueQuantity.value == 64
    later = (moment + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert fhir(f"Observation?patient={_fid(patient_id)}&date=ge{later}").get_json().get("entry") is None
    assert fhir("Observation").status_code == 422  # a patient is required


def test_the_nights_of_an_actigraphy_analysis_are_observations(app, tenants, fhir):
    patient_id = _patient(app, tenants.a, "Night", "Owl")
    # Two nights of minute counts: still from 23:00 to 07:00, active otherwise.
    rows = "".join(
        f"2024-03-0{day}T{h:02}:{m:02}:00,{(m % 3) if (h >= 23 or h < 7) else 300 + m}\n"
        for day in (4, 5, 6)
        for h in range(24)
        for m in range(60)
    )
    with app.app_context(), io.BytesIO(f"timestamp,value\n{rows}".encode()) as csv_file:
        health.receive_file(
            tenants.a.id,
            patient_id,
            csv_file,
            filename="nights.csv",
            file_format="plain_csv",
            actor=Actor(user_id=tenants.user("clinician").id),
        )
        db.session.commit()
    sleep = fhir(f"Observation?patient={_fid(patient_id)}&code=93832-4").get_json()
    validate(sleep)
    assert sleep["total"] >= 1
    night = sleep["entry"][0]["resource"]
    assert night["id"].startswith("hda-") and night["valueQuantity"]["unit"] == "min"
    assert night["valueQuantity"]["value"] > 0 and night["effectivePeriod"]["start"] < night["effectivePeriod"]["end"]
    read = fhir(f"Observation/{night['id']}")
    assert read.status_code == 200 and read.get_json() == night
