"""A clinician in Chromium opens Today and sees their own appointments of the day in time order
with priorities, then opens Active patients and narrows the list by priority (htmx, no reload)."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from clinic_app.extensions import db
from clinic_app.figures import service as figures
from clinic_app.orgs.models import Organization
from tests.browser.helpers import browser_sign_in
from tests.caseload.conftest import add_appointment, add_patient, add_practitioner, add_type
from tests.factories import build_tenants

pytestmark = pytest.mark.browser


def midday_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about noon now, so "today" has hours left whatever the
    real clock says (Etc/GMT-N is UTC+N)."""
    offset = 12 - now.hour
    return f"Etc/GMT-{offset}" if offset >= 0 else f"Etc/GMT+{-offset}"


def test_clinician_sees_today_and_filters_active_patients(live_server, page):
    now = datetime.now(UTC)
    with live_server.app.app_context():
        tenants = build_tenants()
        org = tenants.a.id
        db.session.get(Organization, org).time_zone = midday_zone(now)
        mine = add_practitioner(org, "Priya", "Raman", title="Dr", user_id=tenants.user("clinician").id)
        other = add_practitioner(org, "Sam", "Ortiz")
        kind = add_type(org, "Follow-up")
        people = {
            name: add_patient(org, name, surname)
            for name, surname in [
                ("Ada", "Archer"),
                ("Ben", "Baker"),
                ("Cy", "Cole"),
                ("Dee", "Dunn"),
                ("Eve", "Ellis"),
            ]
        }
        add_appointment(org, people["Ben"], now + timedelta(hours=2), kind=kind, practitioner=mine)
        add_appointment(org, people["Ada"], now + timedelta(hours=1), kind=kind, practitioner=mine)
        add_appointment(org, people["Cy"], now + timedelta(hours=3), kind=kind, practitioner=other)
        add_appointment(org, people["Dee"], now + timedelta(days=5), kind=kind, practitioner=mine)
        add_appointment(org, people["Eve"], now + timedelta(days=2), kind=kind, practitioner=mine)
        figures.recompute(org)
        db.session.commit()
        ids = {name: patient.id for name, patient in people.items()}

    browser_sign_in(page, live_server.url, tenants.user("clinician").email)
    page.click("[data-nav='today']")
    rows = page.locator("#today-day tbody tr")
    expect(rows).to_have_count(2)  # their own day: the practitioner linked to them
    expect(page.locator("#today-heading")).to_contain_text("Appointments with Dr Priya Raman")
    expect(rows.nth(0).locator(".patient-name")).to_have_text("Ada Archer")
    expect(rows.nth(1).locator(".patient-name")).to_have_text("Ben Baker")
    expect(rows.locator("[data-priority='high']")).to_have_count(2)

    page.select_option("#today-practitioner", "all")  # everyone's day, without a reload
    expect(rows).to_have_count(3)
    expect(rows.nth(2).locator(".patient-name")).to_have_text("Cy Cole")

    page.click("[data-nav='active-patients']")
    table = page.locator("#active-results tbody tr")
    expect(table).to_have_count(5)
    expect(page.locator("#active-results [data-total]")).to_have_attribute("data-total", "5")
    page.evaluate("window.__samePage = true")
    page.select_option("#filter-priority", "medium")
    expect(table).to_have_count(1)
    expect(table.nth(0)).to_have_attribute("data-patient-id", ids["Eve"])
    page.select_option("#filter-priority", "high")
    expect(table).to_have_count(3)
    assert [table.nth(i).get_attribute("data-patient-id") for i in range(3)] == [ids["Ada"], ids["Ben"], ids["Cy"]]
    assert "priority=high" in page.url
    assert page.evaluate("window.__samePage") is True  # htmx swapped the list; nothing reloaded
    assert page.console_errors == []
