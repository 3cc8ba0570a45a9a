"""A receptionist in Chromium: registers a patient, finds them by typing (htmx), opens the record
and archives it after confirming — with no console (CSP) errors on the way."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, live_server  # noqa: F401 (the shared live-server fixture)
from tests.browser.helpers import browser_sign_in
from tests.factories import build_tenants
from tests.patients.conftest import register

pytestmark = pytest.mark.browser


@pytest.fixture
def tenants(live_server):  # noqa: F811
    with live_server.app.app_context():
        return build_tenants()


def test_register_search_as_you_type_and_archive(live_server, tenants, chromium_path):  # noqa: F811
    register(live_server.app, tenants.a, first_name="Amy", last_name="Smithers", email="amy@example.com")
    # Playwright's sync API allows one instance per thread, and tests/browser keeps its own open
    # for the whole session: this walk drives its own browser from a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(_walk, live_server.url, tenants.user("receptionist").email, chromium_path).result(timeout=120)


def _walk(base: str, email: str, chromium_path: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.set_default_timeout(10_000)
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            _receptionist_walk(page, base, email)
            assert errors == []
        finally:
            browser.close()


def _receptionist_walk(page, base: str, email: str) -> None:
    browser_sign_in(page, base, email)

    page.click("[data-nav=patients]")
    page.wait_for_url(f"{base}/patients")
    page.click("[data-register-patient]")
    page.fill("#first_name", "Jane")
    page.fill("#last_name", "Smith")
    page.fill("#date_of_birth", "1971-03-04")
    page.fill("#mobile_phone", "0412 345 678")
    page.click("#patient-form button[type=submit]")
    page.wait_for_url(lambda url: "/patients/pat_" in url)
    assert "Jane Smith" in page.inner_text("h1") and "+61 412 345 678" in page.inner_text("#patient-record")

    page.goto(f"{base}/patients")
    assert page.locator("tr[data-patient-id]").count() == 2
    page.fill("#patient-q", "jane smi")  # typing searches without a page load
    expect(page.locator("tr[data-patient-id]")).to_have_count(1)
    assert "Smith, Jane" in page.inner_text("#patient-results")
    expect(page).to_have_url(re.compile(r"q=jane(\+|%20)smi"))  # the search is in the address bar
    page.fill("#patient-q", "0412345678")
    expect(page.locator("tr[data-patient-id] .patient-name")).to_have_text(["Smith, Jane"])
    assert "0412" not in page.url  # phone numbers and e-mail addresses stay out of the history
    page.fill("#patient-q", "nobody")
    page.wait_for_selector("[data-empty=no-match]")
    page.fill("#patient-q", "")
    page.select_option("#patient-sort", "recent")
    expect(page.locator("tr[data-patient-id] .patient-name")).to_have_text(["Smith, Jane", "Smithers, Amy"])

    page.click("text=Smith, Jane")
    page.wait_for_url(lambda url: "/patients/pat_" in url)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#patient-status button.button-danger")
    page.wait_for_selector("[data-patient-archived]")
    assert "was archived" in page.inner_text("#patient-status")
    page.goto(f"{base}/patients")
    assert page.locator("tr[data-patient-id]").count() == 1
