"""The active-patients page, its htmx fragment and its CSV export, over HTTP."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from clinic_app.caseload.active_csv import safe_cell
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from tests.caseload.conftest import add_appointment, add_patient


def row_ids(html):
    return re.findall(r'<tr data-patient-id="([^"]+)"', html)


def test_page_lists_active_patients_soonest_first(caseload, login_as):
    response = login_as("clinician").get("/caseload/active")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in html and 'id="active-filters"' in html
    assert row_ids(html) == caseload.ids("alice", "ivy", "cara", "jon", "dan", "kim", "bob")
    assert 'data-total="7"' in html and "1\u20137 of 7 patients" in html
    # Alice's row: local time in Sydney (09:00 UTC + 12 h = 21:00 UTC = 08:00 next day, UTC+11).
    alice = html[html.index(f'data-patient-id="{caseload.patients["alice"]}"') :]
    alice = alice[: alice.index("</tr>")]
    assert "Wed 10 Mar 2027, 08:00" in alice and "Physiotherapy" in alice and "Dr Priya Raman" in alice
    assert "badge-priority-high" in alice


def test_htmx_filter_answers_the_fragment_only(caseload, login_as):
    client = login_as("receptionist")
    response = client.get("/caseload/active?priority=medium", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and html.lstrip().startswith('<section id="active-results"')
    assert row_ids(html) == caseload.ids("cara", "jon")
    assert "/caseload/active.csv?priority=medium" in html  # the export keeps the filters
    assert response.headers["Vary"].count("HX-Request") == 1


def test_bad_filter_is_named_and_the_rest_still_applies(caseload, login_as):
    response = login_as("clinician").get("/caseload/active?priority=urgent&activity=upcoming_only")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-error="priority"' in html and "Choose high, medium or low." in html
    assert row_ids(html) == caseload.ids("ivy", "cara", "jon", "dan")


def test_empty_state_and_past_the_end(caseload, login_as):
    client = login_as("clinician")
    html = client.get("/caseload/active?activity=inactive&priority=high").get_data(as_text=True)
    assert 'data-empty="no-patients"' in html and row_ids(html) == []
    html = client.get("/caseload/active?page=9").get_data(as_text=True)
    assert 'data-empty="past-the-end"' in html


@pytest.mark.parametrize(
    "value", ["\u00b2", "1" + "0" * 5000, "99999999999999999999", "-1", "0"], ids=lambda value: repr(value)[:24]
)
def test_a_page_number_out_of_range_shows_the_first_page(caseload, login_as, value):
    response = login_as("clinician").get("/caseload/active", query_string={"page": value})
    assert response.status_code == 200
    assert row_ids(response.get_data(as_text=True)) == row_ids(
        login_as("clinician").get("/caseload/active").get_data(as_text=True)
    )


@pytest.mark.parametrize("value", ["\u00b2", "9" * 5000, "367"], ids=lambda value: repr(value)[:24])
def test_a_window_out_of_range_is_named(caseload, login_as, value):
    response = login_as("clinician").get("/caseload/active", query_string={"upcoming_within_days": value})
    assert response.status_code == 422 and 'data-error="upcoming_within_days"' in response.get_data(as_text=True)


def test_other_organization_sees_none_of_these_patients(caseload, login_as):
    html = login_as("outsider").get("/caseload/active?activity=all").get_data(as_text=True)
    assert row_ids(html) == []
    assert "Alice" not in html


def read_csv(response):
    assert response.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def test_csv_export_has_the_filtered_patients_and_is_audited(caseload, login_as, app):
    response = login_as("clinician").get("/caseload/active.csv?priority=high")
    assert response.status_code == 200
    assert re.match(r'attachment; filename="active-patients-2027-03-09\.csv"', response.headers["Content-Disposition"])
    rows = read_csv(response)
    assert [row["patient_id"] for row in rows] == caseload.ids("alice", "ivy")
    alice = rows[0]
    assert alice["first_name"] == "Alice" and alice["last_name"] == "Both"
    assert alice["priority"] == "high" and alice["activity_status"] == "active"
    assert alice["next_appointment_local"] == "2027-03-10 08:00"
    assert alice["next_appointment_utc"] == "2027-03-09T21:00:00.000Z"
    assert (alice["next_appointment_type"], alice["next_practitioner"]) == ("Physiotherapy", "Dr Priya Raman")
    assert (
        alice["recent_appointment_count"],
        alice["upcoming_appointment_count"],
        alice["total_appointment_count"],
    ) == ("1", "1", "2")
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "patients.exported")).one()
    assert event.details["patient_ids"] == caseload.ids("alice", "ivy")
    assert event.details["filters"] == {"activity": "active", "priority": "high"}
    assert event.details["results"] == 2 and event.details["format"] == "csv"


def test_csv_export_without_filters_is_the_whole_active_list(caseload, login_as):
    rows = read_csv(login_as("receptionist").get("/caseload/active.csv"))
    assert [row["patient_id"] for row in rows] == caseload.ids("alice", "ivy", "cara", "jon", "dan", "kim", "bob")


def test_csv_cells_never_start_a_formula(caseload, login_as, app):
    with app.app_context():
        sly = add_patient(caseload.org, '=HYPERLINK("http://evil.example")', "+SUM(A1)")
        other = add_patient(caseload.org, "@cmd", "-2+3")
        from clinic_app.figures import service as figures
        from tests.caseload.conftest import DAY, NOW

        add_appointment(caseload.org, sly, NOW + 5 * DAY)
        add_appointment(caseload.org, other, NOW + 6 * DAY)
        sly_id, other_id = sly.id, other.id
        figures.recompute(caseload.org, [sly_id, other_id], now=NOW)
        db.session.commit()
    rows = read_csv(login_as("clinician").get("/caseload/active.csv?priority=low"))
    cells = {row["patient_id"]: (row["first_name"], row["last_name"]) for row in rows}
    assert cells[sly_id] == ('\'=HYPERLINK("http://evil.example")', "'+SUM(A1)")
    assert cells[other_id] == ("'@cmd", "'-2+3")


def test_safe_cell():
    assert [safe_cell(v) for v in ("=1", "+1", "-1", "@x", "\tx", "\rx", "a=b", "", None, 3)] == [
        "'=1",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "'\rx",
        "a=b",
        "",
        "",
        "3",
    ]


def test_csv_refuses_bad_filters(caseload, login_as):
    response = login_as("clinician").get(
        "/caseload/active.csv?activity=everyone", headers={"Accept": "application/json"}
    )
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "activity"
