"""Every appointment time and length the app accepts is bounded (core/time.py: 1900-01-01 to
2100-12-31; lengths 1 to 720 minutes): out of range is a 422 naming the field in the API, a
message on the form, a 422 for the calendar's ``date``, and nothing is written. Before, a start
in year 9999 was stored and every page showing it answered 500."""

from __future__ import annotations

import pytest
import time_machine
from sqlalchemy import func, select

from clinic_app.appointments import booking
from clinic_app.appointments.models import Appointment
from clinic_app.core.errors import Invalid
from clinic_app.extensions import db
from tests.appointments.builders import ACTOR, at, book, make_clinic
from tests.factories import access_token_for, page_csrf

NOW = "2025-03-03 00:00"  # Monday 11:00 in Sydney

OUTSIDE = [
    "9999-12-31T23:00:00Z",
    "9999-12-31T23:00:00-05:00",  # 10000-01-01 in UTC: could not even be converted to UTC
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+05:00",
    "2101-01-01T00:00:00Z",
    "1899-12-31T23:59:59Z",
]


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(at(NOW), tick=False):
        yield


@pytest.fixture
def clinic(app, tenants):
    with app.app_context():
        return make_clinic(tenants.a.id)


@pytest.fixture
def api(app, tenants):
    token = access_token_for(app, tenants.user("receptionist"))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Appointment))


def only_error(response) -> dict:
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    [error] = response.get_json()["errors"]
    return error


def body(clinic, **changes):
    return {
        "patient_id": clinic.patient,
        "practitioner_id": clinic.practitioner,
        "appointment_type_id": clinic.standard,
        "starts_at": "2025-03-04T00:00:00Z",
        **changes,
    }


# --- the JSON API -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", OUTSIDE)
def test_booking_outside_the_range_is_a_422_naming_starts_at(app, clinic, api, value):
    error = only_error(api.post("/api/v1/appointments", json=body(clinic, starts_at=value)))
    assert error["field"] == "starts_at" and "between 1900-01-01 and 2100-12-31" in error["message"]
    assert count(app) == 0


@pytest.mark.parametrize("value", OUTSIDE)
def test_an_end_outside_the_range_is_a_422_naming_ends_at(app, clinic, api, value):
    error = only_error(api.post("/api/v1/appointments", json=body(clinic, ends_at=value)))
    assert error["field"] == "ends_at" and "between 1900-01-01 and 2100-12-31" in error["message"]
    assert count(app) == 0


def test_the_ends_of_the_range_are_accepted(app, clinic, api):
    late = api.post("/api/v1/appointments", json=body(clinic, starts_at="2100-12-31T10:00:00Z"))
    early = api.post("/api/v1/appointments", json=body(clinic, starts_at="1900-01-01T00:00:00Z"))
    assert late.status_code == 201 and late.get_json()["starts_at"] == "2100-12-31T10:00:00.000Z"
    assert early.status_code == 201 and early.get_json()["ends_at"] == "1900-01-01T00:30:00.000Z"
    # Both are then readable, with the clinic's time zone applied (Sydney: +11 in December).
    assert api.get(f"/api/v1/appointments/{late.get_json()['id']}").status_code == 200


@pytest.mark.parametrize("value", ["9999-12-31T23:00:00Z", "0001-01-01T00:00:00Z"])
def test_rescheduling_outside_the_range_changes_nothing(app, clinic, api, value):
    appointment = api.post("/api/v1/appointments", json=body(clinic)).get_json()
    for field in ("starts_at", "ends_at"):
        error = only_error(api.patch(f"/api/v1/appointments/{appointment['id']}", json={field: value}))
        assert error["field"] == field
    again = api.get(f"/api/v1/appointments/{appointment['id']}").get_json()
    assert (again["starts_at"], again["ends_at"]) == (appointment["starts_at"], appointment["ends_at"])


def test_the_service_refuses_out_of_range_times_from_any_caller(app, clinic):
    """The pages and the API are not the only callers: the service checks before any arithmetic."""
    with app.app_context():
        for starts_at in (at("9999-12-31 23:00"), at("0001-01-01 00:00")):
            with pytest.raises(Invalid) as refused:
                booking.book(
                    clinic.organization_id,
                    patient_id=clinic.patient,
                    practitioner_id=clinic.practitioner,
                    appointment_type_id=clinic.standard,
                    starts_at=starts_at,
                    actor=ACTOR,
                )
            assert [e.field for e in refused.value.errors] == ["starts_at"]
        appointment = book(clinic, "2025-03-04 00:00")
        with pytest.raises(Invalid) as refused:
            booking.reschedule(clinic.organization_id, appointment.id, starts_at=at("9999-12-31 23:00"), actor=ACTOR)
        assert [e.field for e in refused.value.errors] == ["starts_at"]
        db.session.rollback()
        assert db.session.get(Appointment, appointment.id).starts_at == at("2025-03-04 00:00")


# --- the forms --------------------------------------------------------------------------------------


def booking_form(clinic, **changes):
    return {
        "patient_id": clinic.patient,
        "practitioner_id": clinic.practitioner,
        "appointment_type_id": clinic.standard,
        "date": "2025-03-04",
        "time": "09:30",
        "length_minutes": "",
        "notes": "",
        "view": "week",
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"date": "9999-12-31"}, "Give a date between 1900-01-01 and 2100-12-31."),
        ({"date": "0001-01-01"}, "Give a date between 1900-01-01 and 2100-12-31."),
        ({"date": "2101-01-01"}, "Give a date between 1900-01-01 and 2100-12-31."),
        ({"length_minutes": "99999999999999999999"}, "Give a length of 1 to 720 minutes (12 hours)."),
        ({"length_minutes": "721"}, "Give a length of 1 to 720 minutes (12 hours)."),
    ],
)
def test_the_booking_form_says_what_is_out_of_range(app, clinic, login_as, changes, message):
    client = login_as("receptionist")
    token = page_csrf(client, "/appointments/new")
    response = client.post("/appointments/new", data={**booking_form(clinic, **changes), "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and message in page and "<html" in page
    htmx = client.post(
        "/appointments/new", data=booking_form(clinic, **changes), headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert htmx.status_code == 422 and message in htmx.get_data(as_text=True)
    assert count(app) == 0


def test_the_longest_length_on_the_form_is_accepted(app, clinic, login_as):
    client = login_as("receptionist")
    token = page_csrf(client, "/appointments/new")
    response = client.post(
        "/appointments/new", data={**booking_form(clinic, length_minutes="720"), "csrf_token": token}
    )
    assert response.status_code == 303
    with app.app_context():
        appointment = db.session.scalar(select(Appointment))
        assert appointment.ends_at - appointment.starts_at == at("2025-01-01 12:00") - at("2025-01-01 00:00")


def test_the_reschedule_form_refuses_a_date_out_of_range(app, clinic, login_as):
    appointment = None
    with app.app_context():
        appointment = book(clinic, "2025-03-04 00:00").id
    client = login_as("receptionist")
    token = page_csrf(client, f"/appointments/{appointment}/reschedule")
    response = client.post(
        f"/appointments/{appointment}/reschedule",
        data={
            "csrf_token": token,
            "practitioner_id": clinic.practitioner,
            "appointment_type_id": clinic.standard,
            "date": "9999-12-31",
            "time": "23:00",
            "length_minutes": "99999999999999999999",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Give a date between 1900-01-01 and 2100-12-31." in page and "Give a length of 1 to 720" in page
    with app.app_context():
        assert db.session.get(Appointment, appointment).starts_at == at("2025-03-04 00:00")


# --- the calendar's date ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "2101-01-01", "1899-12-31"])
def test_a_calendar_date_out_of_range_is_a_422_naming_it(clinic, login_as, value):
    client = login_as("receptionist")
    for view in ("week", "day"):
        url = f"/appointments?practitioner={clinic.practitioner}&date={value}&view={view}"
        page = client.get(url)
        assert page.status_code == 422 and "between 1900-01-01 and 2100-12-31" in page.get_data(as_text=True)
        fragment = client.get(url, headers={"HX-Request": "true"})
        assert fragment.status_code == 422 and "<html" not in fragment.get_data(as_text=True)
        as_json = client.get(url, headers={"Accept": "application/json"})
        assert as_json.status_code == 422 and as_json.get_json()["errors"][0]["field"] == "date"


def test_the_calendar_at_the_ends_of_the_range(clinic, login_as):
    client = login_as("receptionist")
    last = client.get(f"/appointments?practitioner={clinic.practitioner}&date=2100-12-31&view=week")
    first = client.get(f"/appointments?practitioner={clinic.practitioner}&date=1900-01-01&view=day")
    assert last.status_code == 200 and "week of 27 Dec to 02 Jan 2101" in last.get_data(as_text=True)
    assert first.status_code == 200 and "01 January 1900" in first.get_data(as_text=True)
    # The link past the end opens this week rather than a date the calendar refuses.
    assert "date=2101-01-07" not in last.get_data(as_text=True)
