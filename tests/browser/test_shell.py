"""A person in Chromium: the home page loads htmx from our own copy, and a background job's
progress appears on the page without a reload."""

import re

import pytest

from tests.browser.helpers import browser_sign_in
from tests.factories import build_tenants

pytestmark = pytest.mark.browser


def test_home_page_renders_with_local_htmx(live_server, page):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(live_server.url + "/")
    assert page.title() == "Home · Clinic"
    page.wait_for_selector("[data-htmx-loaded='true']")
    assert page.evaluate("window.htmx.version") == "2.0.11"
    assert live_server.url + "/static/vendor/htmx-2.0.11.min.js" in requested
    assert all(url.startswith(live_server.url) for url in requested)  # nothing fetched from elsewhere
    assert page.console_errors == []  # includes CSP violations


def test_job_progress_updates_without_reload(live_server, page):
    with live_server.app.app_context():
        tenants = build_tenants()
    browser_sign_in(page, live_server.url, tenants.user("admin").email)
    page.goto(live_server.url + "/jobs/demo")
    page.evaluate("window.__sameDocument = true")
    page.fill("#steps", "4")
    page.fill("#delay_seconds", "0.4")
    page.click("#demo-form button[type=submit]")
    progress = page.locator("#job-progress progress")
    progress.wait_for()
    seen = set()
    for _ in range(60):
        seen.add(int(progress.get_attribute("value")))
        if page.locator("#job-progress .badge-succeeded").count():
            break
        page.wait_for_timeout(200)
    assert page.locator("#job-progress .badge-succeeded").count() == 1
    assert int(progress.get_attribute("value")) == 100
    assert len(seen - {100}) >= 1  # it was seen part-way, not only at the end
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert page.console_errors == []


def test_error_page_in_the_browser_shows_a_reference(live_server, page):
    response = page.goto(live_server.url + "/definitely-missing")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert re.fullmatch(r"[0-9a-f]{32}", page.locator(".request-id").inner_text())
