"""A person in Chromium: the home page loads htmx from our own copy, and a background job's
progress appears on its page without a reload."""

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
    from clinic_app.core import jobs
    from clinic_app.extensions import db

    with live_server.app.app_context():
        tenants = build_tenants()
        job = jobs.Job(kind="reports.generate", organization_id=tenants.a.id, status=jobs.RUNNING, progress=30)
        db.session.add(job)
        db.session.commit()
        job_id = job.id

    def move(progress, status=jobs.RUNNING):
        with live_server.app.app_context():
            row = db.session.get(jobs.Job, job_id)
            row.progress, row.status = progress, status
            db.session.commit()

    browser_sign_in(page, live_server.url, tenants.user("clinician").email)
    page.goto(live_server.url + f"/jobs/{job_id}")
    page.evaluate("window.__sameDocument = true")
    progress = page.locator("#job-progress progress")
    assert progress.get_attribute("value") == "30"
    move(70)
    for _ in range(50):  # the fragment polls every second
        if progress.get_attribute("value") == "70":
            break
        page.wait_for_timeout(100)
    assert progress.get_attribute("value") == "70"
    move(100, jobs.SUCCEEDED)
    page.locator("#job-progress .badge-succeeded").wait_for()
    assert int(progress.get_attribute("value")) == 100
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert page.console_errors == []


def test_error_page_in_the_browser_shows_a_reference(live_server, page):
    response = page.goto(live_server.url + "/definitely-missing")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert re.fullmatch(r"[0-9a-f]{32}", page.locator(".request-id").inner_text())
