"""What the database holds: ciphertext for everything but the names, blind indexes that reveal
nothing, and a record that still opens (with "unreadable" and an alarm) when a value is damaged."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from clinic_app.core import audit, crypto
from clinic_app.extensions import db
from clinic_app.patients import service
from clinic_app.patients.models import Patient
from tests.factories import api_token_for, page_csrf
from tests.patients.conftest import SENTINEL, corrupt, events, leaked, raw_rows, register

FORM_SENTINEL = {
    "first_name": "Sentinel",
    "last_name": "Formfilled",
    "date_of_birth": "1971-03-04",
    "sex": "female",
    "gender": "SENTINEL-GENDER",
    "mobile_phone": "0412 345 678",
    "home_phone": "(02) 9876 5432",
    "email": "sentinel.patient@example.com",
    "address_line1": "42 Sentinel Street",
    "suburb": "Sentinelville",
    "state": "NSW",
    "postcode": "2999",
    "emergency_name": "SENTINEL-CONTACT",
    "emergency_phone": "0499 888 777",
    "notes": "SENTINEL-NOTE",
    "cliniko_id": "SENTINEL-CLINIKO-77",
}


def _leaks(rows):
    found = []
    for row in rows:
        for column, value in row.items():
            found += [(column, fragment) for fragment in leaked(str(value) if value is not None else "")]
    return found


def test_the_raw_tables_hold_no_plaintext_phi_for_patients_made_by_api_and_form(app, tenants, receptionist):
    token = api_token_for(app, tenants.a.id, ["patients:read", "patients:write"], creator=tenants.user("owner"))
    created = app.test_client().post(
        "/api/v1/patients/create", json=SENTINEL, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201, created.get_json()
    form = receptionist.post(
        "/patients/new",
        data={**FORM_SENTINEL, "csrf_token": page_csrf(receptionist, "/patients/new"), "register_anyway": "yes"},
    )
    assert form.status_code == 303, form.get_data(as_text=True)

    patients = raw_rows(app, "patients")
    identifiers = raw_rows(app, "patient_identifiers")
    assert len(patients) == 2 and len(identifiers) == 2 * 3  # two phones and a Cliniko id each
    assert _leaks(patients) == []
    assert _leaks(identifiers) == []
    assert _leaks(raw_rows(app, "audit_events")) == []
    for row in patients:
        assert row["email_enc"].startswith("v1:") and row["notes_enc"].startswith("v1:")
        assert len(row["email_bidx"]) == 64 and len(row["dob_bidx"]) == 64
        # Names are plaintext on purpose (sorting, prefix search): see docs/patients.md.
        assert row["first_name"] == "Sentinel" and row["first_name_key"] == "sentinel"

    # ... and every value comes back intact.
    body = (
        app.test_client()
        .get(f"/api/v1/patients/{created.get_json()['id']}", headers={"Authorization": f"Bearer {token}"})
        .get_json()
    )
    assert body["date_of_birth"] == "1971-03-04" and body["email"] == "sentinel.patient@example.com"
    assert body["phones"] == [{"type": "mobile", "number": "+61412345678"}, {"type": "home", "number": "+61298765432"}]
    assert body["address"]["line1"] == "42 Sentinel Street" and body["notes"] == "SENTINEL-NOTE"
    assert body["emergency_contact"] == {"name": "SENTINEL-CONTACT", "relationship": "Sister", "phone": "+61499888777"}
    assert body["external_ids"] == {"cliniko": "SENTINEL-CLINIKO-77"} and body["unreadable_fields"] == []


def test_ciphertext_is_bound_to_its_patient_field_and_cannot_be_swapped(app, tenants):
    patient_id = register(app, tenants.a, email="a@example.com", notes="private")
    with app.app_context():
        patient = db.session.get(Patient, patient_id)
        patient.notes_enc = patient.email_enc  # a value moved into another column
        db.session.commit()
        view = service.view_patient(tenants.a.id, patient_id, actor=audit.Actor(), record_view=False)
        assert view.notes is crypto.UNREADABLE and view.email == "a@example.com"
        assert view.unreadable_fields == ("notes",)


@pytest.mark.parametrize("column", ["email_enc", "date_of_birth_enc"])
def test_a_corrupted_value_shows_unreadable_on_the_list_page_and_api_with_an_alarm(app, tenants, clinician, column):
    register(app, tenants.a, first_name="Ada", last_name="Able", email="ada@example.com", date_of_birth="1980-01-01")
    broken = register(
        app,
        tenants.a,
        first_name="Bea",
        last_name="Broken",
        email="bea@example.com",
        date_of_birth="1981-02-03",
        phones=[{"number": "0412 000 111"}],
        notes="still readable",
    )
    corrupt(app, broken, column)
    field = column.removesuffix("_enc")

    listing = clinician.get("/patients")
    html = listing.get_data(as_text=True)
    assert listing.status_code == 200
    row = html.split(f'id="patient-row-{broken}"')[1].split("</tr>")[0]
    assert "unreadable" in row and "row-unreadable" in html
    assert "ada@example.com" in html and "1980-01-01" in html  # the other patient is unaffected

    page = clinician.get(f"/patients/{broken}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "data-unreadable" in html and "data-unreadable-warning" in html
    assert "still readable" in html and "+61 412 000 111" in html  # the rest of the record opens

    token = api_token_for(app, tenants.a.id, ["patients:read"], creator=tenants.user("owner"))
    headers = {"Authorization": f"Bearer {token}"}
    record = app.test_client().get(f"/api/v1/patients/{broken}", headers=headers)
    assert record.status_code == 200
    assert record.get_json()[field] is None and record.get_json()["unreadable_fields"] == [field]
    items = app.test_client().get("/api/v1/patients/list/", headers=headers).get_json()["patients"]
    item = next(i for i in items if i["id"] == broken)
    assert item[field] is None and item["unreadable_fields"] == [field]

    alarms = events(app, "crypto.decryption_failed")
    assert alarms and all(a.outcome == "alarm" and a.target_id == broken for a in alarms)
    assert {a.details["field"] for a in alarms} == {f"patients.{field}"}
    assert not any("bea@" in str(a.details) or "1981" in str(a.details) for a in alarms)


def test_a_value_under_an_unknown_key_is_unreadable_not_an_error(app, tenants, clinician):
    patient_id = register(app, tenants.a, first_name="Kim", last_name="Keyless", email="kim@example.com")
    with app.app_context():
        patient = db.session.get(Patient, patient_id)
        _, _, payload = patient.email_enc.split(":", 2)
        patient.email_enc = f"v1:key_doesnotexist:{payload}"
        db.session.commit()
    assert "unreadable" in clinician.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert clinician.get("/patients?q=keyless").status_code == 200


def test_key_rotation_re_encrypts_patient_fields(app, tenants):
    from clinic_app.core.key_rotation import pending_count

    patient_id = register(app, tenants.a, email="rotate@example.com", notes="rotate me", date_of_birth="1990-05-06")
    result = app.test_cli_runner().invoke(args=["keys", "rotate", "--wait"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        current = crypto.vault_for(tenants.a.id).current.id
        patient = db.session.scalar(select(Patient).where(Patient.id == patient_id))
        assert patient.email_enc.startswith(f"v1:{current}:") and patient.notes_enc.startswith(f"v1:{current}:")
        assert pending_count() == 0
        view = service.view_patient(tenants.a.id, patient_id, actor=audit.Actor(), record_view=False)
        assert (view.email, view.notes, view.date_of_birth.isoformat()) == (
            "rotate@example.com",
            "rotate me",
            "1990-05-06",
        )
        # Blind indexes use the index key, which rotation keeps: lookups still work.
        page = service.search_patients(tenants.a.id, q="rotate@example.com")
        assert [row.id for row in page.rows] == [patient_id]
