"""Done-when 1 of the reports issue, in Chromium: a clinician starts a consultation from Today,
pastes a transcript, stops the session, generates a draft (the progress is shown while it is
written), edits two sections (each autosaved), sees the diff against the generated draft, signs
with their password, and downloads the PDF, which shows the signature hash; the verification page
accepts that PDF and rejects a modified copy. A wrong password brings the page back with the
password field focused and in view (with and without JavaScript), not at the top of the report."""

import io
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from clinic_app.extensions import db
from clinic_app.figures import service as figures
from clinic_app.orgs.models import Organization
from clinic_app.reports.generation import llm
from tests.browser.clinic_day import build_clinic_day
from tests.browser.helpers import browser_sign_in
from tests.caseload.conftest import add_appointment, add_practitioner, add_type
from tests.factories import PASSWORD, build_tenants
from tests.reports.conftest import register_with_intake

pytestmark = pytest.mark.browser

TRANSCRIPT = """[00:00:05] Dr Raman: Good morning, what brings you in today?
[00:00:12] Patient: I have not been sleeping well, I wake at three and lie awake worrying about work.
[00:01:40] Patient: My mood has been low and I stopped seeing friends, I feel tired all day.
[00:03:05] Dr Raman: Any thoughts of harming yourself? Patient said no, her sister is a support.
[00:04:30] Dr Raman: We will start sertraline and book a follow-up review in two weeks with therapy homework."""


def midday_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about noon now, so today's appointment is still ahead."""
    offset = 12 - now.hour
    return f"Etc/GMT-{offset}" if offset >= 0 else f"Etc/GMT+{-offset}"


def slow_drafts(monkeypatch):
    """Drafts take a moment (the live server runs in this process), so the progress is seen."""
    real = llm.generate_draft

    def slower(*args, **kwargs):
        time.sleep(1.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(llm, "generate_draft", slower)


def pdf_text(content: bytes) -> str:
    return " ".join("".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages).split())


def test_clinician_reviews_signs_exports_and_verifies_a_report(live_server, page, monkeypatch, tmp_path):
    now = datetime.now(UTC)
    app = live_server.app
    with app.app_context():
        tenants = build_tenants()
        db.session.get(Organization, tenants.a.id).time_zone = midday_zone(now)
        db.session.commit()
    patient_id = register_with_intake(app, tenants.a, first_name="Nora", last_name="Quill")
    with app.app_context():
        me = add_practitioner(tenants.a.id, "Priya", "Raman", title="Dr", user_id=tenants.user("clinician").id)
        kind = add_type(tenants.a.id, "Initial consultation")
        from clinic_app.patients import service as patients

        patient = patients.get_patient(tenants.a.id, patient_id)
        add_appointment(tenants.a.id, patient, now + timedelta(hours=1), kind=kind, practitioner=me)
        figures.recompute(tenants.a.id)
        db.session.commit()
    slow_drafts(monkeypatch)
    base = live_server.url
    browser_sign_in(page, base, tenants.user("clinician").email)

    # Today → start the consultation from the appointment's row.
    page.click("[data-nav='today']")
    row = page.locator("#today-day tbody tr", has_text="Nora Quill")
    row.locator("[data-start-consultation]").click()
    page.fill("#chief_complaint", "Poor sleep and low mood")
    page.click("[data-start-submit]")
    page.wait_for_url(re.compile(r"/consultations/con_\w+$"))
    expect(page.locator("[data-session-status]")).to_have_text(re.compile("In progress", re.I))

    # Paste the transcript, then stop the session with notes.
    page.fill("#transcript-text", TRANSCRIPT)
    page.click("[data-add-transcript]")
    expect(page.locator("[data-transcript-words]")).to_contain_text("words")
    page.fill("#stop-notes", "Review in two weeks.")
    page.click("[data-stop-session]")
    expect(page.locator("[data-session-status]")).to_have_text(re.compile("Completed", re.I))

    # Generate: the review page shows the progress, then the draft.
    page.click("[data-generate-report]")
    page.wait_for_url(re.compile(r"/reports/rep_\w+$"))
    report_url = page.url
    expect(page.locator("[data-report-progress] progress")).to_be_visible()
    expect(page.locator("[data-section-form]")).to_have_count(8, timeout=20_000)
    expect(page.locator("[data-report-status]")).to_have_text("Draft")
    # The transcript beside the draft, with timestamps, searchable.
    expect(page.locator("[data-transcript-segment]")).to_have_count(5)
    expect(page.locator("[data-transcript-segment]").nth(1)).to_contain_text("[00:12]")
    page.fill("#transcript-search", "sertraline")
    expect(page.locator("[data-transcript-segment]:visible")).to_have_count(1)
    expect(page.locator("[data-transcript-count]")).to_have_text("1 of 5 passages match")
    page.fill("#transcript-search", "")
    expect(page.locator("#text-presenting_complaint")).to_have_value(re.compile("Restructure at work in July"))

    # Edit two sections; each is autosaved ("Saved").
    page.fill("#text-mental_state", "Calm and cooperative; mood low, affect reactive.")
    expect(page.locator("#section-mental_state [data-save-state='saved']")).to_be_visible()
    page.locator("#text-plan").fill("Sertraline 50 mg daily. CBT weekly. Review in two weeks.")
    expect(page.locator("#section-plan [data-save-state='saved']")).to_be_visible()
    expect(page.locator("#report-revision")).to_have_value("2")

    # The diff against the generated draft shows both edits.
    diff = page.locator("#report-diff")
    expect(diff.locator("#diff-summary")).to_contain_text("2 of 8 sections edited")
    expect(diff.locator("[data-diff='mental_state'] ins")).to_contain_text("Calm and cooperative")
    expect(diff.locator("[data-diff='plan'] ins")).to_contain_text("CBT weekly")
    expect(diff.locator("[data-diff='plan'] del").first).to_be_visible()

    # Sign with the password: read-only, with signer, time and hash.
    page.fill("#password", PASSWORD)
    page.click("[data-sign]")
    expect(page.locator("[data-report-status]")).to_have_text("Signed")
    expect(page.locator("[data-section-form]")).to_have_count(0)
    expect(page.locator("[data-intact]")).to_be_visible()
    content_hash = page.locator("[data-content-hash]").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", content_hash)
    expect(page.locator("#preview-plan")).to_contain_text("CBT weekly")

    # Download the PDF: it shows the signature hash.
    with page.expect_download() as waiting:
        page.click("[data-download-pdf]")
    pdf_path = tmp_path / "report.pdf"
    waiting.value.save_as(pdf_path)
    content = pdf_path.read_bytes()
    assert content.startswith(b"%PDF")
    assert content_hash in pdf_text(content).replace(" ", "")

    # The verification page accepts that PDF and rejects a modified copy.
    page.goto(base + "/reports/verify")
    page.set_input_files("#file", str(pdf_path))
    page.click("[data-verify-panel] button[type=submit]")
    expect(page.locator("[data-verify-result='verified']")).to_be_visible()
    expect(page.locator("[data-verified-report]")).to_have_text(report_url.rsplit("/", 1)[1])
    tampered = tmp_path / "report-modified.pdf"
    tampered.write_bytes(
        content.replace(b"CBT weekly", b"CBT monthly") if b"CBT weekly" in content else content + b"\n%x"
    )
    page.set_input_files("#file", str(tampered))
    page.click("[data-verify-panel] button[type=submit]")
    rejected = page.locator("[data-verify-result='rejected']")
    expect(rejected).to_contain_text("Not verified")
    expect(rejected).to_contain_text(report_url.rsplit("/", 1)[1])  # it says which report the copy claims to be

    assert page.console_errors == []


IN_VIEW = """(element) => {
    const box = element.getBoundingClientRect();
    return box.top >= 0 && box.bottom <= window.innerHeight && box.left >= 0 && box.right <= window.innerWidth;
}"""


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_a_wrong_password_keeps_the_sign_form_in_view(live_server, new_page, javascript):
    day = build_clinic_day(live_server.app)
    page = new_page(viewport={"width": 1280, "height": 720}, java_script_enabled=javascript)
    browser_sign_in(page, live_server.url, day.user("clinician").email)
    page.goto(f"{live_server.url}/reports/{day.report_id}")
    assert page.evaluate("document.documentElement.scrollHeight") > 3 * 720  # the form is far down the page

    page.fill("#password", "not my password")
    page.click("[data-sign]")
    page.wait_for_load_state()
    password = page.locator("#password")
    expect(password).to_have_attribute("aria-invalid", "true")
    error = page.locator("#password-error")
    expect(error).to_have_text("That password is not correct.")
    expect(password).to_have_attribute("aria-describedby", "password-error")
    expect(page.locator("[data-report-status]")).to_have_text("Draft")
    # The person is where they were: on the password field, with its message, on the screen.
    assert page.evaluate("document.activeElement.id") == "password"
    assert password.evaluate(IN_VIEW)
    assert error.evaluate(IN_VIEW)
    assert [m for m in page.console_errors if "status of 422" not in m] == []  # the refused sign is a 422
