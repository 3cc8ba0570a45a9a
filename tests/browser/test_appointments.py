"""A receptionist in Chromium books an appointment from the week view's free slot (finding the
patient with the picker), moves it, and cancels it after confirming; the calendar shows each
step in the clinic's local time. The picker answers every new search, and tells two patients of
the same name apart by date of birth and phone number."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from clinic_app.extensions import db
from tests.appointments.builders import events, make_clinic
from tests.browser.clinic_day import build_clinic_day
from tests.browser.helpers import browser_sign_in
from tests.factories import build_tenants

pytestmark = pytest.mark.browser


def test_receptionist_books_moves_and_cancels_in_the_week_view(live_server, page):
    with live_server.app.app_context():
        tenants = build_tenants()
        clinic = make_clinic(tenants.a.id)
        db.session.commit()
    # Next week's Tuesday in Sydney (organization A's zone): every slot of it is in the future.
    today = datetime.now(ZoneInfo("Australia/Sydney")).date()
    tuesday = today + timedelta(days=7 - today.weekday() + 1)
    day = tuesday.isoformat()
    base = live_server.url
    browser_sign_in(page, base, tenants.user("receptionist").email)

    page.click("[data-nav='appointments']")
    page.wait_for_selector("[data-calendar]")
    page.click("a[rel='next']")
    column = page.locator(f".cal-day[data-day='{day}']")
    expect(column).to_be_visible()

    # Book: a free half-hour opens the booking panel with the practitioner, day and time filled in.
    column.locator(f"a[data-slot='{day}T10:00']").click()
    form = page.locator("#booking-form")
    expect(form).to_be_visible()
    expect(page.locator("#time")).to_have_value("10:00")
    page.fill("#patient_q", "smi")
    option = page.locator(f"[data-patient-option='{clinic.patient}'] input")
    option.wait_for()
    option.check()
    page.select_option("#appointment_type_id", clinic.standard)
    page.fill("#notes", "First visit")
    page.click("[data-book-submit]")
    page.wait_for_url(lambda url: f"date={day}" in url)
    expect(page.locator("#alerts")).to_contain_text("Booked Jane Smith for")
    booked = page.locator(f".cal-day[data-day='{day}'] a.cal-apt[data-starts='{day}T10:00']")
    expect(booked).to_contain_text("Jane Smith")
    expect(booked.locator(".cal-time")).to_contain_text("10:30")

    # Reschedule to 14:00 the same day.
    booked.click()
    page.click("[data-reschedule]")
    page.fill("#time", "14:00")
    page.click("[data-reschedule-submit]")
    page.wait_for_url(lambda url: f"date={day}" in url)
    expect(page.locator("#alerts")).to_contain_text("Moved to")
    moved = page.locator(f".cal-day[data-day='{day}'] a.cal-apt[data-starts='{day}T14:00']")
    expect(moved).to_be_visible()
    expect(page.locator(f".cal-day[data-day='{day}'] a.cal-apt[data-starts='{day}T10:00']")).to_have_count(0)

    # Cancel: the first confirmation is declined (nothing happens), the second accepted.
    moved.click()
    page.fill("#reason", "Patient is unwell")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("[data-cancel-submit]")
    expect(page.locator("[data-status-badge]")).to_have_text("Booked")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-cancel-submit]")
    page.wait_for_url(lambda url: "/appointments?" in url)
    expect(page.locator("#alerts")).to_contain_text("Cancelled: Jane Smith")
    expect(page.locator(f".cal-day[data-day='{day}'] a.cal-apt")).to_have_count(0)
    expect(page.locator(f".cal-day[data-day='{day}'] [data-cancelled-count='1']")).to_be_visible()
    # The freed slot is offered again.
    expect(page.locator(f".cal-day[data-day='{day}'] a[data-slot='{day}T14:00']")).to_have_count(1)
    assert page.console_errors == []


def test_the_patient_picker_answers_each_search_and_tells_namesakes_apart(live_server, page):
    day = build_clinic_day(live_server.app)
    first_mia, second_mia = day.mia_davis_ids
    base = live_server.url
    browser_sign_in(page, base, day.user("receptionist").email)
    page.goto(f"{base}/appointments?practitioner={day.practitioner_id}&view=week")
    page.click("[data-book]")  # the booking panel, in the calendar page
    expect(page.locator("#booking-form")).to_be_visible()
    options = page.locator("#patient-options [data-patient-option]")

    page.fill("#patient_q", "smi")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("Smith, Jane")
    # A second search replaces the choices (it used to go nowhere after the first answer).
    page.fill("#patient_q", "davis")
    expect(options).to_have_count(2)
    expect(page.locator(f"[data-patient-option='{day.patient_id}']")).to_have_count(0)
    first = page.locator(f"[data-patient-option='{first_mia}']")
    second = page.locator(f"[data-patient-option='{second_mia}']")
    expect(first).to_contain_text("Davis, Mia")
    expect(first.locator("[data-patient-dob]")).to_have_text("born 02 Jan 1990")
    expect(first.locator("[data-patient-phone]")).to_have_text("+61 412 345 678")
    expect(second.locator("[data-patient-dob]")).to_have_text("born 06 May 1985")
    expect(second.locator("[data-patient-phone]")).to_have_text("+61 498 765 432")
    # And a third: nothing matches.
    page.fill("#patient_q", "zzz")
    expect(options).to_have_count(0)
    expect(page.locator("[data-empty='no-patient-match']")).to_be_visible()
    page.fill("#patient_q", "mia dav")
    expect(options).to_have_count(2)
    second.locator("input").check()
    expect(second.locator("input")).to_be_checked()

    # Each search that showed patients is in the audit trail with the records it showed.
    with live_server.app.app_context():
        shown = [event.details.get("patient_ids", []) for event in events("patient.searched")]
    assert [day.patient_id] in shown
    assert sum(1 for ids in shown if sorted(ids) == sorted(day.mia_davis_ids)) == 2
    assert page.console_errors == []
