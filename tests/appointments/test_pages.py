"""The appointment pages: the calendar (day and week, in the clinic's time zone), booking with
the patient picker, an appointment's page (audited), rescheduling and cancelling with
confirmation, the patient page's section, practitioner and type setup, and who may do what."""

from __future__ import annotations

import re

import pytest
import time_machine
from sqlalchemy import func, select

from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.extensions import db
from tests.appointments.builders import at, book, connect_cliniko, events, make_clinic, make_patient
from tests.factories import page_csrf

NOW = "2025-03-03 00:00"  # Monday 3 March, 11:00 in Sydney (organization A's zone)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(at(NOW), tick=False):
        yield


@pytest.fixture
def clinic(app, tenants):
    with app.app_context():
        return make_clinic(tenants.a.id)


def within(app, work):
    with app.app_context():
        result = work()
        db.session.commit()
        return result


def html(response):
    return response.get_data(as_text=True)


def day_column(page: str, day: str) -> str:
    match = re.search(rf'<div class="cal-day[^"]*" data-day="{day}">(.*?)</ol>', page, re.S)
    assert match, f"no column for {day}"
    return match.group(1)


# --- the calendar -------------------------------------------------------------------------------


def test_the_week_view_places_appointments_on_the_clinics_days(app, clinic, login_as):
    # 13:30 UTC on Sunday is 00:30 on Monday in Sydney; 12:30 UTC on Sunday is 23:30 on Sunday.
    monday = within(app, lambda: book(clinic, "2025-03-02 13:30").id)
    sunday = within(app, lambda: book(clinic, "2025-03-02 12:30", patient_id=clinic.other_patient).id)
    later = within(app, lambda: book(clinic, "2025-03-04 22:00", appointment_type_id=clinic.initial).id)  # Wed 09:00
    page = html(login_as("receptionist").get(f"/appointments?practitioner={clinic.practitioner}&date=2025-03-05"))
    assert "week of 03 Mar to 09 Mar 2025" in page and "<html" in page
    assert monday in day_column(page, "2025-03-03") and sunday not in day_column(page, "2025-03-03")
    assert later in day_column(page, "2025-03-05")
    # The 60-minute appointment at 09:00 starts on row 5 of a grid from 00:00 (widened for 00:30) ...
    assert re.search(rf'class="r-37 s-4">\s*<a class="cal-apt[^"]*" href="[^"]*{later}', page)
    # ... and the free half-hours after now are offered for booking, not those in the past.
    assert 'data-slot="2025-03-05T10:00"' in page and 'data-slot="2025-03-03T10:30"' not in page
    assert 'data-slot="2025-03-03T11:00"' in page
    assert 'data-slot="2025-03-05T09:00"' not in page and 'data-slot="2025-03-05T09:30"' not in page
    # The previous week has the Sunday appointment.
    previous = html(login_as("receptionist").get(f"/appointments?practitioner={clinic.practitioner}&date=2025-02-26"))
    assert sunday in day_column(previous, "2025-03-02")


def test_the_day_view_and_htmx_fragment(app, clinic, login_as):
    appointment = within(app, lambda: book(clinic, "2025-03-03 23:00").id)  # Tue 10:00
    client = login_as("clinician")
    page = html(client.get(f"/appointments?practitioner={clinic.practitioner}&date=2025-03-04&view=day"))
    assert "Tuesday 04 March 2025" in page and appointment in page
    assert 'href="/appointments?practitioner=' in page and "date=2025-03-03&amp;view=day" in page  # previous day
    assert "date=2025-03-05&amp;view=day" in page
    fragment = client.get(
        f"/appointments?practitioner={clinic.practitioner}&date=2025-03-04&view=day", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200 and "<html" not in html(fragment) and 'id="calendar"' in html(fragment)
    assert fragment.headers["Vary"].count("HX-Request") == 1


def test_a_clinician_linked_to_a_practitioner_opens_on_their_own_calendar(app, tenants, clinic, login_as):
    from clinic_app.appointments import practitioners as setup
    from tests.appointments.builders import ACTOR

    def link():
        data = setup.validate_practitioner(
            tenants.a.id, {"first_name": "Tom", "last_name": "Walsh", "user_id": tenants.user("clinician").id}
        )
        setup.update_practitioner(tenants.a.id, clinic.other_practitioner, data, actor=ACTOR)

    within(app, link)
    page = html(login_as("clinician").get("/appointments"))
    assert f'<option value="{clinic.other_practitioner}" selected>' in page
    page = html(login_as("receptionist").get("/appointments"))
    assert f'<option value="{clinic.practitioner}" selected>' in page  # the first by name


def test_empty_states(app, tenants, login_as):
    page = html(login_as("owner").get("/appointments"))
    assert 'data-empty="no-practitioners"' in page and "/appointments/setup" in page
    page = html(login_as("receptionist").get("/appointments"))
    assert "Ask a practice admin" in page


def test_another_organizations_practitioner_or_appointment_is_not_found(app, clinic, login_as):
    appointment = within(app, lambda: book(clinic, "2025-03-04 00:00").id)
    outsider = login_as("outsider")
    assert outsider.get(f"/appointments?practitioner={clinic.practitioner}").status_code == 404
    for path in ("", "/reschedule", "/cancel"):
        response = outsider.get(f"/appointments/{appointment}{path}")
        assert response.status_code == 404 and "Jane" not in html(response)


def test_with_cliniko_connected_a_practitioner_cliniko_does_not_know_offers_no_slots(app, clinic, login_as):
    within(app, lambda: book(clinic, "2025-03-04 00:00"))
    within(app, lambda: connect_cliniko(clinic.organization_id))
    page = html(login_as("receptionist").get(f"/appointments?practitioner={clinic.practitioner}"))
    assert "data-cliniko-calendar" in page and "data-slot=" not in page and "data-book>" not in page


# --- booking -------------------------------------------------------------------------------------


def booking_form(clinic, **changes):
    data = {
        "patient_id": clinic.patient,
        "practitioner_id": clinic.practitioner,
        "appointment_type_id": clinic.standard,
        "date": "2025-03-04",
        "time": "09:30",
        "length_minutes": "",
        "notes": "Left knee",
        "view": "week",
    }
    data.update(changes)
    return data


def test_a_receptionist_books_in_the_clinics_local_time(app, clinic, login_as):
    client = login_as("receptionist")
    form = client.get(f"/appointments/new?practitioner={clinic.practitioner}&date=2025-03-04&time=09:30")
    assert form.status_code == 200 and 'id="booking-form"' in html(form) and 'value="09:30"' in html(form)
    token = page_csrf(client, "/appointments/new")
    response = client.post("/appointments/new", data={**booking_form(clinic), "csrf_token": token})
    assert response.status_code == 303
    assert (
        f"practitioner={clinic.practitioner}" in response.headers["Location"]
        and "date=2025-03-04" in response.headers["Location"]
    )
    with app.app_context():
        appointment = db.session.scalar(select(Appointment))
        # 09:30 in Sydney (AEDT, +11:00) is 22:30 UTC the day before.
        assert appointment.starts_at == at("2025-03-03 22:30") and appointment.ends_at == at("2025-03-03 23:00")
    followed = html(client.get(response.headers["Location"]))
    assert "Booked Jane Smith for Tue 04 Mar 2025, 09:30." in followed and appointment.id in followed


def test_htmx_booking_answers_with_a_redirect_and_errors_with_the_form(app, clinic, login_as):
    client = login_as("receptionist")
    token = page_csrf(client, "/appointments/new")
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    missing = client.post("/appointments/new", data=booking_form(clinic, patient_id="", time=""), headers=headers)
    body = html(missing)
    assert missing.status_code == 422 and "<html" not in body
    assert "Choose the patient." in body and "Choose a time." in body
    ok = client.post("/appointments/new", data=booking_form(clinic), headers=headers)
    assert ok.status_code == 200 and "date=2025-03-04" in ok.headers["HX-Redirect"]
    clash = client.post(
        "/appointments/new", data=booking_form(clinic, patient_id=clinic.other_patient), headers=headers
    )
    assert clash.status_code == 409 and "already has an appointment Tue 04 Mar 2025 09:30 to 10:00" in html(clash)
    bad_end = client.post(
        "/appointments/new", data=booking_form(clinic, time="11:00", length_minutes="0"), headers=headers
    )
    assert bad_end.status_code == 422 and "The end must be after the start." in html(bad_end)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Appointment)) == 1


def test_the_patient_picker_finds_active_patients_by_name(app, clinic, login_as):
    within(app, lambda: make_patient(clinic.organization_id, "Janet", "Smithers", archived=True))
    client = login_as("receptionist")
    options = html(client.get("/appointments/patient-options?patient_q=smi"))
    assert f'value="{clinic.patient}"' in options and "Smithers" not in options
    assert 'type="radio" name="patient_id"' in options
    assert "No active patient" in html(client.get("/appointments/patient-options?patient_q=zzz"))
    # Without JavaScript, "Find" shows the matches inside the form and books nothing.
    token = page_csrf(client, "/appointments/new")
    found = client.post(
        "/appointments/new",
        data={**booking_form(clinic, patient_id=""), "patient_q": "haddad", "find": "1", "csrf_token": token},
    )
    assert found.status_code == 200 and f'value="{clinic.other_patient}"' in html(found)
    assert events_count(app, "patient.searched") == 3


def events_count(app, action):
    with app.app_context():
        return len(events(action))


def test_booking_from_the_patient_page(app, clinic, login_as):
    past = within(app, lambda: book(clinic, "2025-02-20 00:00").id)
    upcoming = within(app, lambda: book(clinic, "2025-03-10 00:00").id)
    client = login_as("receptionist")
    page = html(client.get(f"/patients/{clinic.patient}"))
    section = page[page.index("data-patient-appointments") :]
    assert upcoming in section[: section.index("data-past")] and past in section[section.index("data-past") :]
    assert f'href="/appointments/new?patient={clinic.patient}"' in page
    form = html(client.get(f"/appointments/new?patient={clinic.patient}"))
    assert f'value="{clinic.patient}" checked' in form


# --- one appointment ---------------------------------------------------------------------------------


def test_the_appointment_page_shows_notes_and_audits_the_read(app, clinic, login_as):
    appointment = within(app, lambda: book(clinic, "2025-03-04 00:00", notes="Left knee").id)
    page = html(login_as("clinician").get(f"/appointments/{appointment}"))
    assert "Left knee" in page and "Reschedule" in page and 'id="cancel-form"' in page
    with app.app_context():
        [event] = events("appointment.viewed")
        assert event.target_id == appointment and event.details == {"channel": "web"}


def test_reschedule_through_the_form(app, clinic, login_as):
    appointment = within(app, lambda: book(clinic, "2025-03-04 00:00").id)  # Tue 11:00 Sydney
    client = login_as("receptionist")
    form = html(client.get(f"/appointments/{appointment}/reschedule"))
    assert 'value="2025-03-04"' in form and 'value="11:00"' in form and 'value="30"' in form
    token = page_csrf(client, f"/appointments/{appointment}/reschedule")
    response = client.post(
        f"/appointments/{appointment}/reschedule",
        data={
            "csrf_token": token,
            "practitioner_id": clinic.practitioner,
            "appointment_type_id": clinic.standard,
            "date": "2025-03-06",
            "time": "14:00",
            "length_minutes": "45",
        },
    )
    assert response.status_code == 303 and "date=2025-03-06" in response.headers["Location"]
    with app.app_context():
        moved = db.session.get(Appointment, appointment)
        assert moved.starts_at == at("2025-03-06 03:00") and moved.ends_at == at("2025-03-06 03:45")


def test_cancel_asks_for_a_reason_and_confirmation(app, clinic, login_as):
    appointment = within(app, lambda: book(clinic, "2025-03-04 00:00").id)
    client = login_as("receptionist")
    token = page_csrf(client, f"/appointments/{appointment}/cancel")
    no_reason = client.post(f"/appointments/{appointment}/cancel", data={"csrf_token": token, "reason": ""})
    assert no_reason.status_code == 422 and "Say why" in html(no_reason)
    asked = client.post(f"/appointments/{appointment}/cancel", data={"csrf_token": token, "reason": "Unwell"})
    assert asked.status_code == 200 and "data-confirm-question" in html(asked)
    assert 'name="confirmed" value="yes"' in html(asked) and "Unwell" in html(asked)
    with app.app_context():
        assert db.session.get(Appointment, appointment).cancelled_at is None
    done = client.post(
        f"/appointments/{appointment}/cancel", data={"csrf_token": token, "reason": "Unwell", "confirmed": "yes"}
    )
    assert done.status_code == 303
    with app.app_context():
        assert db.session.get(Appointment, appointment).status == "cancelled"
    # A cancelled appointment is listed apart on its day, and its page offers no actions.
    week = html(client.get(done.headers["Location"]))
    assert "Cancelled: Jane Smith, Tue 04 Mar 2025, 11:00." in week and f'data-cancelled-id="{appointment}"' in week
    page = html(client.get(f"/appointments/{appointment}"))
    assert "Unwell" in page and 'id="cancel-form"' not in page and "Reschedule" not in page


def test_attendance_buttons(app, clinic, login_as):
    appointment = within(app, lambda: book(clinic, "2025-03-02 22:00").id)  # two hours ago
    client = login_as("clinician")
    page = html(client.get(f"/appointments/{appointment}"))
    assert "data-mark-dna" in page and "Reschedule" not in page and 'id="cancel-form"' not in page
    token = page_csrf(client, f"/appointments/{appointment}")
    assert client.post(f"/appointments/{appointment}/did-not-arrive", data={"csrf_token": token}).status_code == 303
    with app.app_context():
        assert db.session.get(Appointment, appointment).status == "did_not_arrive"


# --- setup -----------------------------------------------------------------------------------------------


def test_only_admins_set_up_practitioners_and_types(app, tenants, login_as):
    assert login_as("receptionist").get("/appointments/setup").status_code == 403
    assert login_as("clinician").get("/appointments/setup").status_code == 403
    admin = login_as("admin")
    assert admin.get("/appointments/setup").status_code == 200
    token = page_csrf(admin, "/appointments/setup")
    bad = admin.post("/appointments/practitioners", data={"csrf_token": token, "first_name": "", "last_name": ""})
    assert bad.status_code == 422 and "Give the practitioner&#39;s name." in html(bad)
    made = admin.post(
        "/appointments/practitioners",
        data={"csrf_token": token, "title": "Dr", "first_name": "Ana", "last_name": "Costa", "user_id": ""},
    )
    assert made.status_code == 303
    bad = admin.post("/appointments/types", data={"csrf_token": token, "name": "Review", "duration_minutes": "2"})
    assert bad.status_code == 422 and "Choose 5 to 480 minutes." in html(bad)
    assert (
        admin.post(
            "/appointments/types",
            data={"csrf_token": token, "name": "Review", "duration_minutes": "20", "color": "green"},
        ).status_code
        == 303
    )
    duplicate = admin.post(
        "/appointments/types", data={"csrf_token": token, "name": "review", "duration_minutes": "20"}
    )
    assert duplicate.status_code == 422 and "already an appointment type" in html(duplicate)
    with app.app_context():
        person = db.session.scalar(select(Practitioner))
        kind = db.session.scalar(select(AppointmentType))
        assert person.display_name == "Dr Ana Costa" and (kind.name, kind.duration_minutes) == ("Review", 20)
        assert [e.target_id for e in events("practitioner.created")] == [person.id]
    # Archiving asks first (a plain form gets a confirmation page), then takes it off the calendar's list.
    asked = admin.post(f"/appointments/practitioners/{person.id}/archive", data={"csrf_token": token})
    assert asked.status_code == 200 and "Their appointments stay" in html(asked)
    done = admin.post(
        f"/appointments/practitioners/{person.id}/archive", data={"csrf_token": token, "confirmed": "yes"}
    )
    assert done.status_code == 303
    assert 'data-empty="no-practitioners"' in html(admin.get("/appointments"))
    edit = admin.post(
        f"/appointments/types/{kind.id}/edit", data={"csrf_token": token, "name": "Review", "duration_minutes": "25"}
    )
    assert edit.status_code == 303
    with app.app_context():
        assert db.session.get(AppointmentType, kind.id).duration_minutes == 25


def test_the_nav_links_to_appointments(app, tenants, login_as):
    page = html(login_as("receptionist").get("/patients"))
    assert 'data-nav="appointments"' in page


def test_the_demo_clinic_without_cliniko_gets_a_calendar(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "Demo bookings:" in first.output and "appointments for Northside Mind Health" in first.output
    from clinic_app.orgs.models import Organization

    with app.app_context():
        org = db.session.scalar(select(Organization).where(Organization.slug == "northside-mind-health"))
        count = db.session.scalar(
            select(func.count()).select_from(Appointment).where(Appointment.organization_id == org.id)
        )
        assert 24 <= count <= 80
        people = db.session.scalars(select(Practitioner).where(Practitioner.organization_id == org.id)).all()
        assert len(people) == 3 and sum(1 for p in people if p.user_id) == 1
        assert db.session.scalar(select(func.count()).select_from(AppointmentType)) == 3
        statuses = set(db.session.scalars(select(Appointment.status).where(Appointment.organization_id == org.id)))
        assert {"attended", "booked"} <= statuses
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0 and "already has its calendar" in again.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Appointment)) == count
    client = app.test_client()
    from tests.factories import csrf_from

    token = csrf_from(html(client.get("/login")))
    client.post(
        "/login", data={"email": "owner@northside.example", "password": "harbour-demo-password", "csrf_token": token}
    )
    page = html(client.get("/appointments"))
    assert "Dr Nadia Northside · week of" in page and "cal-apt" in page
