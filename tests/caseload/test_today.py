"""Today: a practitioner's appointments of the organization's local day, in time order.

Organization A is in Australia/Sydney (UTC+11 in March). At 13:00 UTC on 9 March 2027 it is local
midnight: "today" is Wednesday 10 March there, from 9 March 13:00 UTC to 10 March 13:00 UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from clinic_app.appointments.models import Practitioner
from clinic_app.core import time as clock
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from tests.caseload.conftest import add_appointment, add_patient, add_practitioner, add_type

MIDNIGHT_SYDNEY = datetime(2027, 3, 9, 13, 0, tzinfo=UTC)  # 10 March 00:00 in Sydney


@pytest.fixture
def day(app, tenants):
    """Appointments around Sydney's 10 March, made out of order, and what each is called."""
    with time_machine.travel(MIDNIGHT_SYDNEY, tick=False), app.app_context():
        org = tenants.a.id
        p1 = add_practitioner(org, "Priya", "Raman", title="Dr")
        p2 = add_practitioner(org, "Sam", "Ortiz")
        kind = add_type(org, "Initial consultation")
        ann, ben, col = (
            add_patient(org, first, last) for first, last in (("Ann", "Ames"), ("Ben", "Bell"), ("Col", "Cole"))
        )
        made = {
            "late": add_appointment(
                org, ben, MIDNIGHT_SYDNEY + timedelta(hours=23, minutes=59), kind=kind, practitioner=p1
            ),
            "yesterday": add_appointment(org, ann, MIDNIGHT_SYDNEY - timedelta(minutes=1), kind=kind, practitioner=p1),
            "midnight": add_appointment(org, ann, MIDNIGHT_SYDNEY, kind=kind, practitioner=p1),
            "tomorrow": add_appointment(org, col, MIDNIGHT_SYDNEY + timedelta(hours=24), kind=kind, practitioner=p1),
            "nine": add_appointment(org, col, MIDNIGHT_SYDNEY + timedelta(hours=9), kind=kind, practitioner=p1),
            "cancelled": add_appointment(
                org, ben, MIDNIGHT_SYDNEY + timedelta(hours=10), practitioner=p1, cancelled_at=MIDNIGHT_SYDNEY
            ),
            "archived": add_appointment(
                org, ben, MIDNIGHT_SYDNEY + timedelta(hours=11), practitioner=p1, archived_at=MIDNIGHT_SYDNEY
            ),
            "other": add_appointment(org, ann, MIDNIGHT_SYDNEY + timedelta(hours=8), kind=kind, practitioner=p2),
            "unknown": add_appointment(org, None, MIDNIGHT_SYDNEY + timedelta(hours=12), practitioner=p1),
            "friday": add_appointment(
                org, ann, MIDNIGHT_SYDNEY + timedelta(days=2, hours=10), kind=kind, practitioner=p1
            ),
        }
        figures.recompute(org)
        db.session.commit()
        facts = {name: row.id for name, row in made.items()}
        facts |= {"p1": p1.id, "p2": p2.id, "org": org, "ann": ann.id, "ben": ben.id, "col": col.id}
    with time_machine.travel(MIDNIGHT_SYDNEY, tick=False):
        yield facts


def shown(html):
    return re.findall(r'<tr data-appointment-id="([^"]+)" data-status="([^"]+)"', html)


def test_day_window_is_local_midnight_to_local_midnight():
    start, end = clock.day_window(datetime(2027, 3, 10).date(), clock.zone_named("Australia/Sydney"))
    assert (start, end) == (MIDNIGHT_SYDNEY, MIDNIGHT_SYDNEY + timedelta(days=1))
    # 4 April 2027: daylight saving ends in Sydney, a 25-hour day.
    start, end = clock.day_window(datetime(2027, 4, 4).date(), clock.zone_named("Australia/Sydney"))
    assert end - start == timedelta(hours=25)


def test_today_lists_the_local_day_in_time_order(day, login_as):
    client = login_as("clinician")
    html = client.get(f"/today?practitioner={day['p1']}").get_data(as_text=True)
    assert "<html" in html
    assert shown(html) == [
        (day["midnight"], "attended"),  # 00:00 local: it has started
        (day["nine"], "booked"),
        (day["cancelled"], "cancelled"),  # stays visible, marked
        (day["unknown"], "booked"),
        (day["late"], "booked"),  # 23:59 local
    ]
    assert "Patient not yet synced" in html
    assert ">00:00<" in html and ">23:59<" in html and "Wed 10 Mar 2027" in html
    assert f'href="/patients/{day["ann"]}"' in html
    nine = html[html.index(day["nine"]) :]
    assert 'data-priority="high"' in nine[: nine.index("</tr>")]


def test_everyone_shows_every_practitioner(day, login_as):
    html = login_as("receptionist").get("/today?practitioner=all").get_data(as_text=True)
    ids = [appointment for appointment, _status in shown(html)]
    assert ids == [day["midnight"], day["other"], day["nine"], day["cancelled"], day["unknown"], day["late"]]
    assert "Sam Ortiz" in html


def test_another_day_and_its_priorities(day, login_as):
    client = login_as("clinician")
    html = client.get(f"/today?date=2027-03-12&practitioner={day['p1']}").get_data(as_text=True)
    assert shown(html) == [(day["friday"], "booked")]
    friday = html[html.index(day["friday"]) :]
    assert 'data-priority="medium"' in friday[: friday.index("</tr>")]  # 58 hours ahead
    assert "data-back-to-today" in html
    html = client.get(f"/today?date=2027-03-11&practitioner={day['p1']}").get_data(as_text=True)
    assert shown(html) == [(day["tomorrow"], "booked")]


def test_empty_day(day, login_as):
    html = login_as("clinician").get("/today?date=2027-03-19&practitioner=all").get_data(as_text=True)
    assert shown(html) == [] and 'data-empty="no-appointments"' in html
    assert "No appointments on Friday 19 March" in html
    html = login_as("outsider").get("/today").get_data(as_text=True)
    assert "No appointments today" in html


@pytest.mark.parametrize(
    "value", ["tomorrow", "2027-02-30", "0001-01-01", "9999-12-31", "1899-12-31", "2101-01-01", "2200-06-01"]
)
def test_bad_date_is_named_and_today_is_shown(day, login_as, value):
    response = login_as("clinician").get(f"/today?date={value}&practitioner=all")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-error="date"' in html and len(shown(html)) == 6


def test_the_choice_of_practitioner_is_remembered(day, login_as):
    client = login_as("clinician")
    html = client.get("/today").get_data(as_text=True)
    assert "data-ask-to-pick" in html and len(shown(html)) == 6  # no choice yet: everyone, and a prompt
    client.get(f"/today?practitioner={day['p2']}")
    html = client.get("/today").get_data(as_text=True)
    assert [a for a, _ in shown(html)] == [day["other"]] and "data-ask-to-pick" not in html
    assert login_as("clinician").get("/today").get_data(as_text=True).count("data-appointment-id") == 6  # per session


def test_a_clinician_linked_to_a_practitioner_sees_their_own_day(day, login_as, tenants, app):
    with app.app_context():
        db.session.get(Practitioner, day["p2"]).user_id = tenants.user("clinician").id
        db.session.commit()
    html = login_as("clinician").get("/today").get_data(as_text=True)
    assert [a for a, _ in shown(html)] == [day["other"]]
    assert "Appointments with Sam Ortiz" in html


def test_a_practitioner_of_another_organization_is_not_a_choice(day, login_as, tenants, app):
    with app.app_context():
        theirs = add_practitioner(tenants.b.id, "Other", "Clinic").id
        db.session.commit()
    response = login_as("clinician").get(f"/today?practitioner={theirs}")
    assert response.status_code == 422
    assert 'data-error="practitioner"' in response.get_data(as_text=True)


def test_htmx_gets_the_fragment_and_the_view_is_audited(day, login_as, app):
    response = login_as("clinician").get(f"/today?practitioner={day['p1']}", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<section id="today-day"')
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.listed")).all()[-1]
    assert event.details["list"] == "today" and event.details["day"] == "2027-03-10"
    assert day["ann"] in event.details["patient_ids"]


def test_each_row_offers_the_consultation_control_with_its_appointment(day, login_as, app):
    """Each row includes consultations/_start_from_today.html with ``appointment`` and
    ``patient_id``; a stand-in template shows what it was given."""
    from jinja2 import ChoiceLoader, DictLoader

    stand_in = '<span data-stand-in="{{ appointment.id }}|{{ patient_id }}"></span>'
    app.jinja_env.loader = ChoiceLoader(
        [DictLoader({"consultations/_start_from_today.html": stand_in}), app.jinja_env.loader]
    )
    html = login_as("clinician").get(f"/today?practitioner={day['p1']}").get_data(as_text=True)
    assert re.findall(r'data-stand-in="([^"]*)"', html) == [
        f"{day['midnight']}|{day['ann']}",
        f"{day['nine']}|{day['col']}",
        f"{day['cancelled']}|{day['ben']}",
        f"{day['unknown']}|None",  # no patient yet: the control shows nothing for it
        f"{day['late']}|{day['ben']}",
    ]
