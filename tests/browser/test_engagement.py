"""A clinician in Chromium opens the re-engagement worklist, reads why each patient is on it, marks
one contacted (outcome and note, through htmx), sees the row leave without a reload, and the owner
finds the event in the audit trail."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from tests.browser.helpers import browser_sign_in
from tests.engagement.conftest import make_appointment, make_patient
from tests.factories import build_tenants

pytestmark = pytest.mark.browser
DAY = timedelta(days=1)


def test_clinician_marks_a_patient_contacted_and_the_audit_trail_shows_it(live_server, page, browser):
    with live_server.app.app_context():
        tenants = build_tenants()
        org, now = tenants.a.id, utcnow()
        ada = make_patient(org, "Ada", "Lovelace", registered=now - 400 * DAY)
        make_appointment(org, ada, now - 120 * DAY)
        bo = make_patient(org, "Bo", "Diddley", registered=now - 400 * DAY)
        make_appointment(org, bo, now - 20 * DAY)
        for days in (3, 6):
            make_appointment(org, bo, now - days * DAY, did_not_arrive=True)
        figures.recompute(org, now=now)
        db.session.commit()
        ada_id, bo_id = ada.id, bo.id

    browser_sign_in(page, live_server.url, tenants.user("clinician").email)
    page.click("[data-nav='engagement']")
    ada_row, bo_row = page.locator(f"#worklist-row-{ada_id}"), page.locator(f"#worklist-row-{bo_id}")
    expect(ada_row).to_be_visible()
    expect(ada_row.locator("[data-risk-level]")).to_have_text("High")
    expect(ada_row.locator("[data-reasons]")).to_contain_text("(more than 90 days)")
    expect(bo_row.locator("[data-reasons]")).to_contain_text("Missed 2 appointments in 90 days (2 did not arrive")
    expect(bo_row.locator("[data-attendance]")).to_have_text("1 of 3 (33.3%)")

    ada_row.locator("[data-mark-contacted]").click()
    ada_row.locator("select[name=outcome]").select_option("left_message")
    ada_row.locator("textarea[name=note]").fill("Voicemail; will try again Friday")
    url_before = page.url
    ada_row.locator("[data-save-contact]").click()
    expect(page.locator("[data-contact-recorded]")).to_contain_text("Contact recorded (left a message)")
    expect(page.locator(f"#worklist-row-{ada_id}")).to_have_count(0)
    expect(bo_row).to_be_visible()
    assert page.url == url_before  # htmx: no reload
    page.reload()
    expect(page.locator(f"#worklist-row-{bo_id}")).to_be_visible()
    expect(page.locator(f"#worklist-row-{ada_id}")).to_have_count(0)
    assert page.console_errors == []

    owner_context = browser.new_context()
    owner = owner_context.new_page()
    try:
        browser_sign_in(owner, live_server.url, tenants.user("owner").email)
        owner.goto(live_server.url + "/audit?action=engagement.contacted")
        event = owner.locator("#audit-events tbody tr").first
        expect(event).to_contain_text("engagement.contacted")
        expect(event).to_contain_text(tenants.user("clinician").display_name)
        expect(owner.locator("#audit-events")).not_to_contain_text("Voicemail")
    finally:
        owner_context.close()
