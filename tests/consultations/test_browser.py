"""A clinician in Chromium: starts a consultation from the patient page, pastes a transcript and
uploads a WebVTT file (htmx swaps the transcript section), edits the medication plan with an added
row, and stops the session with notes — with no console (CSP) errors on the way."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, live_server  # noqa: F401 (the shared live-server fixture)
from tests.browser.helpers import browser_sign_in
from tests.consultations.conftest import PLAIN_TRANSCRIPT, TEAMS_VTT, patient_of
from tests.factories import build_tenants

pytestmark = pytest.mark.browser


@pytest.fixture
def tenants(live_server):  # noqa: F811
    with live_server.app.app_context():
        return build_tenants()


def test_a_consultation_from_start_to_stop(live_server, tenants, chromium_path, tmp_path):  # noqa: F811
    patient_id = patient_of(live_server.app, tenants.a)
    captions = tmp_path / "second-part.vtt"
    captions.write_text(TEAMS_VTT, encoding="utf-8")
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(
            _walk, live_server.url, tenants.user("clinician").email, patient_id, str(captions), chromium_path
        ).result(timeout=120)


def _walk(base: str, email: str, patient_id: str, captions: str, chromium_path: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.set_default_timeout(10_000)
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            _clinician_walk(page, base, email, patient_id, captions)
            # The refused plan is answered 422 on purpose (the form comes back with its message).
            assert [e for e in errors if "status of 422" not in e] == []
        finally:
            browser.close()


def _clinician_walk(page, base: str, email: str, patient_id: str, captions: str) -> None:
    browser_sign_in(page, base, email)
    page.goto(f"{base}/patients/{patient_id}")
    page.click("#patient-consultations [data-start-consultation]")
    page.fill("#chief_complaint", "Trouble sleeping since the move")
    page.click("[data-start-submit]")
    page.wait_for_url(lambda url: "/consultations/con_" in url)
    expect(page.locator("[data-session-status]")).to_have_text("In progress")

    page.fill("#transcript-text", PLAIN_TRANSCRIPT)
    page.click("[data-add-transcript]")
    expect(page.locator("[data-transcript-notice]")).to_contain_text("27 words in 4 passages")
    page.set_input_files("#transcript-form input[type=file]", captions)
    page.click("[data-add-transcript]")
    expect(page.locator("[data-transcript-notice]")).to_contain_text("29 words in 4 passages")
    expect(page.locator(".transcript-part")).to_have_count(2)

    page.fill("#med-0-drug_name", "Melatonin")
    page.fill("#med-0-dosage", "2 mg")
    page.click("[data-add-medication]")
    expect(page.locator("[data-medication-row]")).to_have_count(2)
    page.fill("#med-1-dosage", "10 mg")  # a row without a drug is refused
    page.click("[data-save-plan]")
    expect(page.locator("#med-1-drug_name-error")).to_have_text("Name the drug.")
    page.fill("#med-1-drug_name", "Sertraline")
    page.click("[data-save-plan]")
    expect(page.locator("[data-plan-notice]")).to_have_text("Medication plan saved (2 medications).")

    page.fill("#stop-notes", "Sleep diary for two weeks.")
    page.click("[data-stop-session]")
    expect(page.locator("[data-session-status]")).to_have_text("Completed")
    expect(page.locator("[data-session-notes]")).to_have_text("Sleep diary for two weeks.")
    assert page.locator("#consultation-stop-form").count() == 0
    page.reload()
    expect(page.locator("[data-medication-row]")).to_have_count(3)  # two saved, one empty
