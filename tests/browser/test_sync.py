"""A practice admin in Chromium connects the clinic to a sandbox Cliniko, starts a comprehensive
sync, watches the progress bar move without a reload, sees the finished run with the sandbox's own
counts, and finds the synced patients in the patient list."""

import re
import time

import pytest
from playwright.sync_api import expect

from devtools.sandbox import Faults, SandboxClinic
from devtools.sandbox.server import SandboxServer
from tests.browser.helpers import browser_sign_in
from tests.factories import build_tenants
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser

FAST = {"requests_per_minute": 100_000, "backoff_base": 0.01, "backoff_cap": 0.05, "timeout": 5.0, "max_retries": 3}


@pytest.fixture
def sandbox():
    # Slow answers (0.2 s a request, about 12 requests) so the bar is seen at several points.
    clinic = SandboxClinic(seed=7, patients=200, appointments=400, faults=Faults(slow_seconds=0.2))
    with SandboxServer(clinic) as server:
        yield server


@pytest.fixture
def server(make_app):
    with LiveServer(make_app(JOBS_BACKEND="thread", SYNC_CLIENT_OPTIONS=FAST)) as live:
        yield live


def progress_values(page, seconds=60.0):
    """The bar's value at each moment it changes, until the run has finished."""
    values, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = page.locator("#sync-run")
        status = run.get_attribute("data-status")
        value = float(run.locator("progress").get_attribute("value"))
        if not values or values[-1] != value:
            values.append(value)
        if status in ("completed", "failed", "cancelled"):
            return values, status
        page.wait_for_timeout(100)
    raise AssertionError(f"the sync did not finish; the bar showed {values}")


def test_admin_connects_syncs_and_sees_the_patients(server, page, sandbox):
    with server.app.app_context():
        tenants = build_tenants()
    clinic = sandbox.clinic
    browser_sign_in(page, server.url, tenants.user("admin").email)

    page.click("[data-nav='integrations']")
    expect(page.locator("[data-connection='none']")).to_be_visible()
    page.fill("#api_key", clinic.api_key)
    expect(page.locator("[data-detected-shard]")).to_have_text("au1")  # read from the key as it is typed
    page.click("details.advanced summary")
    page.fill("#base_url", sandbox.base_url_template)
    page.click("[data-connect]")
    expect(page.locator("[data-connection='connected']")).to_be_visible()
    expect(page.locator("[data-businesses]")).to_contain_text("Harbourside Health")
    assert clinic.api_key not in page.content()

    page.click("[data-nav='sync']")
    page.evaluate("window.__samePage = true")  # gone if anything reloads the page
    expect(page.locator("input[name='mode'][value='comprehensive']")).to_be_checked()
    page.click("[data-start-sync]")
    expect(page.locator("#sync-run [data-notice]")).to_contain_text("Sync started: comprehensive")

    values, status = progress_values(page)
    assert status == "completed", page.locator("#sync-run").inner_text()
    assert values == sorted(values) and values[-1] == 100.0
    assert len(set(values)) >= 3, f"the bar should move in steps, it showed {values}"
    assert page.evaluate("window.__samePage") is True

    counts = clinic.counts()
    breakdown = page.locator("#sync-run .sync-breakdown")
    breakdown.locator("summary").click()
    patients_row = breakdown.locator("tr[data-resource='patients'] td").first
    appointments_row = breakdown.locator("tr[data-resource='appointments'] td").first
    expect(patients_row).to_have_text(str(counts["patients"]["total"]))
    expect(appointments_row).to_have_text(str(counts["appointments"]["total"]))
    expect(page.locator("#sync-run [data-count='failed']")).to_have_text("0")
    history = page.locator("#sync-history tr[data-status='completed']")
    expect(history).to_have_count(1)  # the history reloaded itself when the run ended

    page.click("[data-nav='patients']")
    shown = counts["patients"]["active"]  # archived and deleted ones are kept, but archived
    expect(page.locator("[data-result-count]")).to_have_text(re.compile(rf"^{shown} patients"))
    assert page.console_errors == []
