"""Bad input is refused with a message for every field at once — as field messages on the form
and one 422 problem+json from the API — and nothing is written. Script tags are data, shown escaped."""

from __future__ import annotations

from datetime import date

import pytest

from clinic_app.core.errors import Invalid
from clinic_app.patients.validation import name_key, validate_patient_input
from tests.factories import api_token_for, page_csrf
from tests.patients.conftest import events, raw_rows, register

TODAY = date(2026, 11, 23)
SCRIPT = "<script>alert(1)</script>"


def problems(raw, **kwargs):
    with pytest.raises(Invalid) as caught:
        validate_patient_input({"first_name": "Jane", "last_name": "Citizen", **raw}, "AU", today=TODAY, **kwargs)
    return {error.field: error.message for error in caught.value.errors}


# --- the rules, at the service ----------------------------------------------------------------


def test_every_problem_is_reported_at_once():
    found = problems(
        {
            "first_name": "",
            "last_name": "x" * 101,
            "date_of_birth": "31/02/2000",
            "phones": [{"type": "mobile", "number": "12345"}, {"type": "pager", "number": "0412 345 678"}],
            "email": "not-an-address",
            "notes": "n" * 6000,
            "address": {"line1": "a" * 201},
            "emergency_contact": {"phone": "999"},
            "sex": "robot",
            "external_ids": {"Cliniko!": "1"},
        }
    )
    assert set(found) == {
        "first_name",
        "last_name",
        "date_of_birth",
        "phones.0.number",
        "phones.1.type",
        "email",
        "notes",
        "address.line1",
        "emergency_contact.phone",
        "sex",
        "external_ids",
    }
    assert "YYYY-MM-DD" in found["date_of_birth"]
    assert "at most 100" in found["last_name"] and "at most 5000" in found["notes"]
    assert "valid phone number" in found["phones.0.number"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-11-24", "future"),
        ("2999-01-01", "future"),
        ("1899-12-31", "before 1900"),
        ("2000-02-31", "not a real date"),
        ("31/02/2000", "YYYY-MM-DD"),
        ("04-03-1971", "YYYY-MM-DD"),
        ("yesterday", "YYYY-MM-DD"),
    ],
)
def test_dates_of_birth_must_be_real_past_iso_dates(value, message):
    assert message in problems({"date_of_birth": value})["date_of_birth"]


def test_today_and_1900_are_accepted_and_blank_means_unknown():
    assert validate_patient_input(
        {"first_name": "A", "last_name": "B", "date_of_birth": "2026-11-23"}, "AU", today=TODAY
    )
    assert validate_patient_input(
        {"first_name": "A", "last_name": "B", "date_of_birth": "1900-01-01"}, "AU", today=TODAY
    )
    data = validate_patient_input({"first_name": "A", "last_name": "B", "date_of_birth": "  "}, "AU", today=TODAY)
    assert data.date_of_birth is None


@pytest.mark.parametrize("name", ["Jane\x00", "Jane\nDoe", "Ja\tne", "Ja\u2028ne", "\x1b[31mJane"])
def test_names_with_control_characters_are_refused(name):
    assert "control characters" in problems({"first_name": name})["first_name"]


def test_phones_are_read_in_the_organizations_region_normalised_and_mobile_first():
    data = validate_patient_input(
        {
            "first_name": "A",
            "last_name": "B",
            "phones": [
                {"type": "home", "number": "(02) 9876 5432"},
                {"number": "0412 345 678"},  # type guessed from the number
                {"type": "work", "number": "+64 21 123 4567"},  # another country's number, international format
                {"type": "mobile", "number": "+61412345678"},  # the same mobile again
            ],
        },
        "AU",
        today=TODAY,
    )
    assert [(p.type, p.number) for p in data.phones] == [
        ("mobile", "+61412345678"),
        ("home", "+61298765432"),
        ("work", "+64211234567"),
    ]
    nz = validate_patient_input({"first_name": "A", "last_name": "B", "phones": [{"number": "021 123 4567"}]}, "NZ")
    assert nz.phones[0].number == "+64211234567"


def test_text_is_trimmed_and_script_tags_are_accepted_as_data():
    data = validate_patient_input(
        {
            "first_name": f"  {SCRIPT} ",
            "last_name": "B",
            "notes": f"line one\r\n{SCRIPT}\n",
            "email": " Jane@Example.COM ",
        },
        "AU",
        today=TODAY,
    )
    assert data.first_name == SCRIPT and data.notes == f"line one\n{SCRIPT}"
    assert data.email == "Jane@example.com"  # domain normalised; the blind index lower-cases all of it


def test_partial_input_checks_only_what_was_sent():
    data = validate_patient_input({"notes": "changed"}, "AU", partial=True, today=TODAY)
    assert data.provided == frozenset({"notes"})
    assert "first_name" in problems({"first_name": None}, partial=True)


def test_name_keys_fold_case_accents_and_punctuation():
    assert name_key("  O'Brien-Zoë ") == "obrien zoe"
    assert name_key("ÅSA  van der Berg") == "asa van der berg"


# --- through HTTP: the API --------------------------------------------------------------------

BAD = {
    "first_name": "Jane",
    "last_name": "L" * 101,
    "date_of_birth": "31/02/2000",
    "phones": [{"type": "mobile", "number": "0412 34"}],
    "email": "jane@",
    "notes": "n" * 6000,
}


def _api(app, tenants):
    token = api_token_for(app, tenants.a.id, ["patients:read", "patients:write"], creator=tenants.user("owner"))
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def test_the_api_answers_one_422_listing_every_field_and_writes_nothing(app, tenants):
    client, headers = _api(app, tenants)
    response = client.post("/api/v1/patients/create", json=BAD, headers=headers)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 422 and body["title"] == "Validation error" and body["path"] == "/api/v1/patients/create"
    assert {e["field"] for e in body["errors"]} == {"last_name", "date_of_birth", "phones.0.number", "email", "notes"}
    assert "n" * 50 not in response.get_data(as_text=True)  # the values are not echoed back

    future = client.post(
        "/api/v1/patients/create",
        json={"first_name": "A", "last_name": "B", "date_of_birth": "2999-01-01"},
        headers=headers,
    )
    assert future.status_code == 422 and future.get_json()["errors"][0]["field"] == "date_of_birth"
    assert raw_rows(app, "patients") == [] and raw_rows(app, "patient_identifiers") == []
    assert events(app, "patient.created") == []


def test_an_api_update_with_bad_values_changes_nothing(app, tenants):
    patient_id = register(app, tenants.a, first_name="Keep", last_name="Me", email="keep@example.com")
    client, headers = _api(app, tenants)
    response = client.put(
        f"/api/v1/patients/{patient_id}",
        json={"email": "nope", "date_of_birth": "2999-01-01", "notes": "ok"},
        headers=headers,
    )
    assert response.status_code == 422
    assert {e["field"] for e in response.get_json()["errors"]} == {"email", "date_of_birth"}
    assert client.get(f"/api/v1/patients/{patient_id}", headers=headers).get_json()["notes"] is None
    assert events(app, "patient.updated") == []


def test_wrong_json_types_and_non_json_bodies_are_refused(app, tenants):
    client, headers = _api(app, tenants)
    assert (
        client.post("/api/v1/patients/create", json={"first_name": 5, "last_name": "B"}, headers=headers).status_code
        == 422
    )
    assert client.post("/api/v1/patients/create", data="x", headers=headers).status_code == 415


# --- through HTTP: the form -------------------------------------------------------------------


def test_the_form_shows_a_message_beside_each_field_and_writes_nothing(receptionist, app, tenants):
    form = {
        "first_name": "",
        "last_name": "L" * 101,
        "date_of_birth": "31/02/2000",
        "mobile_phone": "0412 34",
        "email": "jane@",
        "notes": "n" * 6000,
        "csrf_token": page_csrf(receptionist, "/patients/new"),
    }
    response = receptionist.post("/patients/new", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "data-form-errors" in html and "Nothing has been saved" in html
    for field_id, message in [
        ("first_name", "Enter the first name."),
        ("last_name", "Use at most 100 characters"),
        ("date_of_birth", "Enter the date of birth as YYYY-MM-DD"),
        ("mobile_phone", "Enter a valid phone number"),
        ("email", "Enter a valid e-mail address"),
        ("notes", "Use at most 5000 characters"),
    ]:
        assert f'<p class="field-error" id="{field_id}-error">{message}' in html, field_id
    assert 'value="0412 34"' in html  # what they typed is kept for correcting
    future = receptionist.post(
        "/patients/new",
        data={"first_name": "A", "last_name": "B", "date_of_birth": "2999-01-01", "csrf_token": form["csrf_token"]},
        headers={"HX-Request": "true"},
    )
    assert future.status_code == 422 and "cannot be in the future" in future.get_data(as_text=True)
    assert "<html" not in future.get_data(as_text=True)  # htmx gets the form fragment
    assert raw_rows(app, "patients") == []


def test_script_tags_are_stored_as_typed_and_always_shown_escaped(receptionist, app, tenants):
    csrf = page_csrf(receptionist, "/patients/new")
    response = receptionist.post(
        "/patients/new",
        data={
            "first_name": SCRIPT,
            "last_name": "Tester",
            "notes": SCRIPT,
            "preferred_name": SCRIPT,
            "csrf_token": csrf,
        },
    )
    assert response.status_code == 303
    [row] = raw_rows(app, "patients")
    assert row["first_name"] == SCRIPT  # data is data

    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for path in ("/patients", f"/patients/{row['id']}", f"/patients/{row['id']}/edit", "/patients?q=tester"):
        html = receptionist.get(path).get_data(as_text=True)
        assert escaped in html, path
        assert SCRIPT not in html, path
    assert escaped in receptionist.get("/patients?q=<script>").get_data(as_text=True)  # echoed query, escaped too
