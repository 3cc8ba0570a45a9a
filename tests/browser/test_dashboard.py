"""A clinician in Chromium opens the dashboard from the navigation, sees the cards and the three
charts (SVG with bars, no script needed), reads a chart's numbers as a table, refreshes without a
reload, and follows a card to exactly the patients it counts."""

import re

import pytest
from playwright.sync_api import expect

from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from tests.browser.helpers import browser_sign_in
from tests.dashboard.dataset import build_clinic
from tests.factories import build_tenants

pytestmark = pytest.mark.browser


def test_clinician_sees_the_cards_and_charts(live_server, page):
    with live_server.app.app_context():
        tenants = build_tenants()
        build_clinic(tenants.a.id, utcnow(), patients_count=30)
        figures.recompute(tenants.a.id)
        db.session.commit()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    browser_sign_in(page, live_server.url, tenants.user("clinician").email)

    page.click("[data-nav='dashboard']")
    expect(page).to_have_title("Dashboard · Clinic")
    for card in ("total_patients", "active_patients", "upcoming_7_days", "engagement_rate", "attendance_rate"):
        expect(page.locator(f"[data-card='{card}'] .dashboard-card-value")).to_have_text(re.compile(r"^\d[\d,.]*%?$"))
    expect(page.locator("[data-card-link='total_patients']")).to_have_text("28")  # 30, 2 of them archived

    for chart in ("chart-weeks", "chart-patients", "chart-types"):
        svg = page.locator(f"svg#{chart}[role='img']")
        expect(svg).to_be_visible()
        assert svg.locator("rect[data-series]").count() > 0, chart
        assert svg.bounding_box()["height"] > 50
    expect(page.locator("svg#chart-weeks title").first).to_have_text("Appointments per week")

    table = page.locator("[data-table='weeks']")
    expect(table.locator("table")).to_be_hidden()
    table.locator("summary").click()
    expect(table.locator("tbody tr")).to_have_count(12)

    page.evaluate("window.__samePage = true")
    page.click("[data-refresh]")
    expect(page.locator("#dashboard [data-card='active_patients']")).to_be_visible()
    assert page.evaluate("window.__samePage") is True

    active = page.locator("[data-card-link='active_patients']").inner_text()
    page.click("[data-card-link='active_patients']")
    expect(page.locator("[data-total]")).to_have_attribute("data-total", active)
    assert all(url.startswith(live_server.url) for url in requested)  # nothing fetched from elsewhere
    assert page.console_errors == []  # includes CSP violations
