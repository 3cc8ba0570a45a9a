"""Done-when 1 of issue 17 in Chromium: a receptionist invoices a completed appointment from Today
(items prefilled from its type), issues it (INV-000001), records a partial payment and then the
rest; the invoice shows paid, the PDF shows the number, items, GST and nothing due, and the
patient's balance is 0."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from clinic_app.billing import service as billing
from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.orgs.models import Organization
from tests.browser.helpers import browser_sign_in
from tests.browser.test_caseload import midday_zone
from tests.caseload.conftest import add_appointment, add_patient, add_practitioner, add_type
from tests.factories import build_tenants

pytestmark = pytest.mark.browser


def test_receptionist_invoices_todays_appointment_and_takes_payment(live_server, page):
    now = datetime.now(UTC)
    with live_server.app.app_context():
        tenants = build_tenants()
        org = tenants.a.id
        db.session.get(Organization, org).time_zone = midday_zone(now)
        priya = add_practitioner(org, "Priya", "Raman", title="Dr")
        kind = add_type(org, "Initial physiotherapy")
        patient = add_patient(org, "Ada", "Archer")
        add_appointment(org, patient, now - timedelta(hours=1), kind=kind, practitioner=priya, patient_arrived=True)
        actor = audit.Actor()
        assessment = billing.ItemInput(
            name="Initial assessment", code="PHY-1", unit_price=9500, appointment_type_id=kind.id
        )
        billing.create_item(org, assessment, actor=actor)
        free = next(rate for rate in billing.tax_rates(org) if rate.basis_points == 0)
        programme = billing.ItemInput(
            name="Exercise programme", code="PHY-EX", unit_price=3000, tax_rate_id=free.id, appointment_type_id=kind.id
        )
        billing.create_item(org, programme, actor=actor)
        db.session.commit()
        patient_id = patient.id

    browser_sign_in(page, live_server.url, tenants.user("receptionist").email)
    page.click("[data-nav='today']")
    row = page.locator("#today-day tbody tr", has_text="Ada Archer")
    row.locator("[data-invoice-appointment]").click()
    prefilled = page.locator("[data-prefilled]")
    expect(prefilled).to_contain_text("Initial assessment")
    expect(prefilled).to_contain_text("Exercise programme")
    page.click("[data-create-draft]")

    expect(page.locator("[data-invoice-number]")).to_have_text("Draft invoice")
    expect(page.locator("[data-amount='total']")).to_have_text("$134.50")  # $95.00 + GST $9.50 + $30.00
    page.click("[data-issue]")
    expect(page.locator("[data-invoice-number]")).to_have_text("INV-000001")
    expect(page.locator("[data-invoice-status]")).to_have_text("Issued")

    page.fill("#amount", "100.00")
    page.select_option("#method", "card")
    page.click("[data-record-payment]")
    expect(page.locator("[data-invoice-status]")).to_have_text("Partially paid")
    expect(page.locator("[data-amount='due']")).to_have_text("$34.50")
    page.fill("#amount", "34.50")
    page.select_option("#method", "health_fund")
    page.click("[data-record-payment]")
    expect(page.locator("[data-invoice-status]")).to_have_text("Paid")
    expect(page.locator("[data-amount='due']")).to_have_text("$0.00")
    expect(page.locator("[data-payments] li")).to_have_count(2)

    pdf_url = page.locator("[data-download-pdf]").get_attribute("href")
    answer = page.request.get(live_server.url + pdf_url)
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(answer.body())).pages).replace("\n", " ")
    for expected in ("INV-000001", "PHY-1", "Initial assessment", "PHY-EX", "GST", "$9.50", "$134.50"):
        assert expected in text, expected
    assert "Amount due $0.00" in text

    page.goto(f"{live_server.url}/billing/patients/{patient_id}")
    expect(page.locator("[data-account='balance']")).to_have_text("$0.00")
    expect(page.locator("[data-account='paid']")).to_have_text("$134.50")
    assert page.console_errors == []
