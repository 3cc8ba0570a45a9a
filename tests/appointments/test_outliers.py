"""Appointments stored with times at the ends of Python's calendar (year 9999, year 1), written
straight into the table as rows from before the range was enforced, or from a sync, would be:
every page and answer that shows them still works. Adding a duration to such a time, or moving
it to the clinic's time zone, used to raise OverflowError (a 500) on the patient page, the
appointment page, the calendars, the day page, the lists and the exports."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from clinic_app.appointments.models import Appointment
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from clinic_app.orgs.models import Organization
from tests.appointments.builders import at, make_clinic
from tests.factories import access_token_for

NOW = "2025-03-03 00:00"  # Monday 3 March
LAST = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
FIRST = datetime(1, 1, 1, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(at(NOW), tick=False):
        yield


def store(clinic, patient_id, starts_at, **columns) -> str:
    """An appointment written directly, as a sync or an older version would have."""
    appointment = Appointment(
        organization_id=clinic.organization_id,
        patient_id=patient_id,
        practitioner_id=clinic.practitioner,
        appointment_type_id=clinic.standard,
        starts_at=starts_at,
        **columns,
    )
    db.session.add(appointment)
    db.session.flush()
    return appointment.id


@pytest.fixture(params=["Australia/Sydney", "America/Los_Angeles"])
def zone(request):
    """East of UTC, year 9999 cannot move to the clinic's zone; west of it, year 1 cannot."""
    return request.param


@pytest.fixture(params=[LAST, FIRST], ids=["year-9999", "year-1"])
def outliers(request, app, tenants, zone):
    moment = request.param
    with app.app_context():
        db.session.get(Organization, tenants.a.id).time_zone = zone
        clinic = make_clinic(tenants.a.id)
        rows = {
            "open": store(clinic, clinic.patient, moment),  # no end: its type's length is added
            "ended": store(clinic, clinic.patient, moment, ends_at=moment),
            "cancelled": store(clinic, clinic.patient, moment, cancelled_at=at("2025-01-01 00:00")),
            "arrived": store(clinic, clinic.other_patient, moment, patient_arrived=True),
            "missed": store(clinic, clinic.other_patient, moment, did_not_arrive=True),
            # In this week, but ending at the calendar's end: the calendar lays it out.
            "this_week": store(clinic, clinic.other_patient, at("2025-03-04 00:00"), ends_at=moment),
        }
        db.session.commit()
        # What a sync does after writing appointments: the figures every list reads.
        figures.recompute(tenants.a.id)
        db.session.commit()
    return clinic, rows, moment


def ok(response):
    assert response.status_code == 200, (response.status_code, response.get_data(as_text=True)[:300])
    return response.get_data(as_text=True)


def test_the_patient_and_appointment_pages_show_them(outliers, login_as):
    clinic, rows, moment = outliers
    client = login_as("owner")
    for patient_id, shown in ((clinic.patient, ("open", "ended", "cancelled")), (clinic.other_patient, ("missed",))):
        page = ok(client.get(f"/patients/{patient_id}"))
        assert all(rows[name] in page for name in shown)
        assert "<html" not in ok(client.get(f"/patients/{patient_id}", headers={"HX-Request": "true"}))
    for name in rows:
        page = ok(client.get(f"/appointments/{rows[name]}"))
        assert f'data-appointment="{rows[name]}"' in page
        # The link back to the calendar opens this week: the appointment's own day is out of range.
        assert f"date={moment.year:04d}-" not in page
        ok(client.get(f"/appointments/{rows[name]}", headers={"HX-Request": "true"}))
    if moment is LAST:
        assert "9999" in ok(client.get(f"/appointments/{rows['open']}"))
        ok(client.get(f"/appointments/{rows['open']}/reschedule"))
        ok(client.get(f"/appointments/{rows['open']}/cancel"))


def test_the_calendars_lists_and_dashboards_still_answer(outliers, login_as):
    clinic, rows, _moment = outliers
    client = login_as("owner")
    week = ok(client.get(f"/appointments?practitioner={clinic.practitioner}&date=2025-03-04"))
    assert rows["this_week"] in week
    ok(client.get(f"/appointments?practitioner={clinic.practitioner}&date=2025-03-04&view=day"))
    ok(client.get("/today?date=2025-03-04&practitioner=all"))
    ok(client.get("/dashboard"))
    ok(client.get("/caseload/active?activity=all"))
    ok(client.get("/caseload/active.csv?activity=all"))
    ok(client.get("/engagement?risk=all"))
    ok(client.get("/engagement/export.csv?risk=all"))
    ok(client.get(f"/patients/{clinic.patient}/export"))


def test_the_json_api_still_answers(outliers, app, tenants):
    clinic, rows, moment = outliers
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {access_token_for(app, tenants.user('owner'))}"
    org = tenants.a.id
    answer = client.get(f"/api/v1/appointments/{rows['open']}")
    assert answer.status_code == 200
    assert answer.get_json()["starts_at"] == moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for path in (
        f"/api/v1/patients/{clinic.patient}",
        f"/api/v1/patients/{clinic.patient}/export",
        f"/api/v1/appointments/{org}/upcoming?days_ahead=90",
        f"/api/v1/appointments/{org}/upcoming/summary?days_ahead=90",
        f"/api/v1/dashboard/{org}",
        "/api/v1/patients/dashboard-stats",
        f"/api/v1/patients/{org}/patients",
        f"/api/v1/patients/{org}/patients/with-appointments",
        f"/api/v1/reengagement/{org}/prioritized?risk=all",
        f"/api/v1/reengagement/{org}/risk-metrics",
        f"/api/v1/reengagement/{org}/patient/{clinic.other_patient}/details",
    ):
        assert client.get(path).status_code == 200, path


def test_an_appointment_in_year_9999_can_be_moved_back_into_the_range(app, tenants, login_as):
    with app.app_context():
        clinic = make_clinic(tenants.a.id)
        stray = store(clinic, clinic.patient, LAST)
        db.session.commit()
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {access_token_for(app, tenants.user('receptionist'))}"
    moved = client.patch(f"/api/v1/appointments/{stray}", json={"starts_at": "2025-03-05T00:00:00Z"})
    assert moved.status_code == 200, moved.get_json()
    assert (moved.get_json()["starts_at"], moved.get_json()["ends_at"]) == (
        "2025-03-05T00:00:00.000Z",
        "2025-03-05T00:30:00.000Z",
    )
