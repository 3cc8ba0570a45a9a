"""Done-when 1 of the health-data issue, in Chromium: a clinician opens a patient's page, uploads
pyActigraphy's example_01.AWD in the "Activity and sleep" section, watches the import's progress
(the live server runs jobs on its worker thread, so the page really polls), and sees the actogram,
the nights table and the circadian cards; the numbers on the page are the API's
(GET /api/v1/pat/analysis/<id>), whose IS and IV match pyActigraphy's to 1e-9. axe-core finds
nothing wrong with the page once the section is filled, wide and at phone width. Without
JavaScript the same form uploads and comes back to the chart."""

import re
import time

import pytest
from playwright.sync_api import expect

from clinic_app.health_data import imports
from tests.browser.helpers import axe_violations, browser_sign_in
from tests.factories import access_token_for, build_tenants
from tests.health_data import conftest as health_data_fixtures
from tests.health_data.conftest import EXAMPLE_01, register_patient

pytestmark = pytest.mark.browser
example_01 = health_data_fixtures.example_01  # fails, never skips, when the recording is missing

IS_BINARISED, IV_BINARISED = 0.527656245354158, 0.32913524895082263


def slow_imports(monkeypatch):
    """The import takes a moment (the live server runs in this process), so its progress is seen."""
    real = imports.read_awd

    def slower(*args, **kwargs):
        time.sleep(1.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(imports, "read_awd", slower)


def duration(minutes):
    hours, rest = divmod(round(minutes), 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"


def describe(violations):
    return "\n".join(f"{rule['id']} ({rule['impact']}): {rule['help']} → {rule['nodes'][:5]}" for rule in violations)


def api_analysis(app, user, analysis_id):
    response = app.test_client().get(
        f"/api/v1/pat/analysis/{analysis_id}", headers={"Authorization": f"Bearer {access_token_for(app, user)}"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_clinician_uploads_an_actiwatch_file_and_reads_the_analysis(
    live_server, page, new_page, monkeypatch, example_01
):
    app = live_server.app
    with app.app_context():
        tenants = build_tenants()
    patient_id = register_patient(app, tenants.a, first_name="Nora", last_name="Quill")
    slow_imports(monkeypatch)
    base = live_server.url
    clinician = tenants.user("clinician")
    browser_sign_in(page, base, clinician.email)

    page.goto(f"{base}/patients/{patient_id}")
    section = page.locator("#patient-health")
    expect(section.locator("h2")).to_have_text("Activity and sleep")
    expect(section.locator("[data-health-empty]")).to_be_visible()

    # Upload: the progress shows while the file is imported, then the section fills in.
    page.set_input_files("#health-file", str(EXAMPLE_01))
    page.select_option("#health-file-format", "awd")
    page.click("[data-health-upload]")
    progress = section.locator("[data-health-progress='running'] progress")
    expect(progress).to_be_visible()
    expect(section.locator("[data-health-progress='running'] [role=status]")).to_contain_text("%")
    expect(section.locator("[data-actogram] svg[role='img']")).to_be_visible(timeout=20_000)
    expect(section.locator("[data-health-progress]")).to_have_count(0)
    assert page.url.endswith(f"/patients/{patient_id}")  # htmx swapped the section; no reload

    svg = section.locator("[data-actogram] svg")
    expect(svg.locator("title")).to_have_text(re.compile(r"^Actogram, 23 Jan 1918 to 05 Feb 1918$"))
    expect(section.locator("[data-actogram-summary]")).to_contain_text("double plotted")
    rows = section.locator("[data-nights] tbody tr")
    expect(rows).to_have_count(10)
    expect(section.locator("[data-card='interdaily_stability'] [data-card-value]")).to_have_text("0.5277")
    expect(section.locator("[data-card='interdaily_stability'] .health-card-explain")).to_contain_text(
        "How alike the days are"
    )
    expect(section.locator("[data-health-uploads] [data-upload-status='completed']")).to_have_count(1)

    # The numbers on the page are the API's, and IS/IV are pyActigraphy's to 1e-9.
    analysis_id = section.locator("[data-analysis]").get_attribute("data-analysis")
    body = api_analysis(app, clinician, analysis_id)
    assert body["status"] == "completed" and body["patient_id"] == patient_id
    result = body["analysis"]
    rhythm = result["circadian_rhythm"]
    assert abs(rhythm["interdaily_stability"] - IS_BINARISED) < 1e-9
    assert abs(rhythm["intradaily_variability"] - IV_BINARISED) < 1e-9
    cards = {
        "interdaily_stability": f"{rhythm['interdaily_stability']:.4f}",
        "intradaily_variability": f"{rhythm['intradaily_variability']:.4f}",
        "relative_amplitude": f"{rhythm['relative_amplitude']:.3f}",
        "l5": f"{rhythm['l5']:.3f} from {rhythm['l5_onset']}",
        "m10": f"{rhythm['m10']:.3f} from {rhythm['m10_onset']}",
    }
    for key, text in cards.items():
        expect(section.locator(f"[data-card='{key}'] [data-card-value]")).to_have_text(text)
    raw = rhythm["counts"]
    expect(section.locator("[data-card='interdaily_stability'] [data-card-raw]")).to_have_text(
        f"On raw counts: {raw['interdaily_stability']:.4f}"
    )
    nights = result["sleep_metrics"]["nights"]
    assert len(nights) == 10
    for index, night in enumerate(nights):
        row = rows.nth(index)
        expect(row.locator("[data-field='total_sleep_minutes']")).to_have_text(duration(night["total_sleep_minutes"]))
        expect(row.locator("[data-field='waso_minutes']")).to_have_text(duration(night["waso_minutes"]))
        expect(row.locator("[data-field='awakenings']")).to_have_text(str(night["awakenings"]))
        expect(row.locator("[data-field='sleep_efficiency']")).to_have_text(f"{night['sleep_efficiency'] * 100:.1f} %")
    wear = result["confidence_scores"]["valid_wear_fraction"]
    expect(section.locator("[data-wear-fraction]")).to_have_text(f"worn {wear * 100:.0f} % of the time")
    # Insights: drafted from the analysis, with their numbers, marked as drafts for clinicians.
    expect(section.locator("[data-insights-note]")).to_contain_text("drafts for clinicians")
    page.click("[data-generate-insights]")
    expect(section.locator("[data-statement]").first).to_be_visible()
    expect(section.locator("[data-statement='rhythm_regular']")).to_contain_text("value 0.528")
    expect(section.locator("[data-narrative]")).not_to_be_empty()
    expect(section.locator("[data-health-notice]")).to_contain_text("Insights drafted")
    assert page.console_errors == []

    # axe-core on the patient page with the section filled, wide and at phone width.
    for viewport in ({"width": 1280, "height": 800}, {"width": 390, "height": 844}):
        checker = new_page(viewport=viewport, bypass_csp=True)  # the checker is injected as an inline script
        browser_sign_in(checker, base, clinician.email)
        checker.goto(f"{base}/patients/{patient_id}")
        checker.locator("[data-actogram] svg").wait_for()
        assert describe(axe_violations(checker)) == ""
        assert checker.console_errors == []


def test_without_javascript_the_upload_form_still_works(live_server, new_page, example_01):
    app = live_server.app
    with app.app_context():
        tenants = build_tenants()
    patient_id = register_patient(app, tenants.a)
    page = new_page(java_script_enabled=False)
    browser_sign_in(page, live_server.url, tenants.user("clinician").email)
    page.goto(f"{live_server.url}/patients/{patient_id}")
    page.set_input_files("#health-file", str(EXAMPLE_01))
    page.select_option("#health-file-format", "awd")
    page.click("[data-health-upload]")
    page.wait_for_url(re.compile(rf"/patients/{patient_id}#patient-health$"))
    expect(page.locator("#alerts")).to_contain_text("being imported")
    for _ in range(40):  # no polling without JavaScript: reload until the worker thread has finished
        if page.locator("[data-actogram] svg").count():
            break
        time.sleep(0.25)
        page.reload()
    expect(page.locator("[data-actogram] svg[role='img']")).to_be_visible()
    expect(page.locator("[data-nights] tbody tr")).to_have_count(10)
