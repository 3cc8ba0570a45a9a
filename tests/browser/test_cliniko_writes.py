"""Issue 18, done-when 1: at a clinic connected to the sandbox Cliniko, a receptionist in Chromium
completes intake for a new patient, books them into a free slot of a synced practitioner, moves
the booking and cancels it. After each step the sandbox holds exactly that state (read through its
API), and a comprehensive read-sync afterwards creates no duplicate patient or appointment."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.core import audit, jobs
from clinic_app.extensions import db
from clinic_app.patients.models import Patient
from clinic_app.sync import service
from clinic_app.sync.models import SyncRun
from devtools.sandbox import SandboxClinic
from devtools.sandbox.server import SandboxServer
from tests.browser.helpers import browser_sign_in
from tests.factories import build_tenants
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser

FAST = {"requests_per_minute": 100_000, "backoff_base": 0.01, "backoff_cap": 0.05, "timeout": 5.0, "max_retries": 3}
SYDNEY = ZoneInfo("Australia/Sydney")


@pytest.fixture
def sandbox():
    with SandboxServer(SandboxClinic(seed=11, patients=30, appointments=60)) as server:
        yield server


@pytest.fixture
def server(make_app):
    with LiveServer(make_app(JOBS_BACKEND="thread", SYNC_CLIENT_OPTIONS=FAST)) as live:
        yield live


def api(sandbox):
    return httpx.Client(
        base_url=sandbox.base_url, auth=(sandbox.clinic.api_key, ""), headers={"User-Agent": "tests"}, timeout=10
    )


def eventually(read, wanted, seconds=20.0):
    """The sandbox's answer once it matches (the outbox sends after the page's request commits)."""
    deadline, seen = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        seen = read()
        if wanted(seen):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"the sandbox never reached the expected state; last answer: {seen}")


def comprehensive_sync(app, organization_id, actor):
    with app.app_context():
        run, started = service.start_sync(organization_id, "comprehensive", actor=actor)
        db.session.commit()
        assert started
        jobs.wait_for_local_jobs(app)
        return db.session.get(SyncRun, run.id, populate_existing=True).status


def free_times(sandbox, practitioner, kind, day):
    with api(sandbox) as client:
        business = client.get("/businesses").json()["businesses"][0]["id"]
        path = f"/businesses/{business}/practitioners/{practitioner}/appointment_types/{kind}/available_times"
        found = client.get(path, params={"from": day, "to": day}).json()["available_times"]
    starts = [datetime.fromisoformat(item["appointment_start"].replace("Z", "+00:00")) for item in found]
    return [start.astimezone(SYDNEY).strftime("%H:%M") for start in starts]


def test_intake_book_move_cancel_reach_cliniko_and_a_sync_duplicates_nothing(server, page, sandbox):
    app = server.app
    with app.app_context():
        tenants = build_tenants()
        owner = audit.Actor(user_id=tenants.user("owner").id)
        service.connect(tenants.a.id, sandbox.clinic.api_key, base_url_template=sandbox.base_url_template, actor=owner)
        db.session.commit()
    assert comprehensive_sync(app, tenants.a.id, owner) == "completed"
    with app.app_context():
        practitioner = db.session.scalars(
            select(Practitioner).where(Practitioner.active.is_(True), Practitioner.cliniko_id.is_not(None))
        ).first()
        kind = db.session.scalars(
            select(AppointmentType).where(
                AppointmentType.archived_at.is_(None), AppointmentType.duration_minutes.in_((30, 60))
            )
        ).first()
        practitioner_id, practitioner_cid = practitioner.id, practitioner.cliniko_id
        kind_id, kind_cid, length = kind.id, kind.cliniko_id, kind.duration_minutes
    today = datetime.now(SYDNEY).date()
    day = (today + timedelta(days=7 - today.weekday() + 1)).isoformat()  # next week's Tuesday
    free = [t for t in free_times(sandbox, practitioner_cid, kind_cid, day) if t.endswith((":00", ":30"))]
    first, later = free[0], free[-1]
    before = sandbox.clinic.counts()

    def totals():
        counts = sandbox.clinic.counts()
        return counts["patients"]["total"], counts["appointments"]["total"]

    # 1. Intake: the new patient is created in Cliniko, once, carrying our id.
    base = server.url
    browser_sign_in(page, base, tenants.user("receptionist").email)
    page.click("[data-nav='intake']")
    page.click("[data-start-intake]")
    page.wait_for_url(re.compile(r"/intake/itk_\w+/demographics$"))
    page.fill("#f-first_name", "Noa")
    page.fill("#f-last_name", "Writeback")
    page.fill("#f-date_of_birth", "1990-04-02")
    page.fill("#f-mobile_phone", "0412 987 654")
    page.fill("#f-email", "noa.writeback@example.com")
    page.click("[data-go='next']")
    page.wait_for_url(re.compile(r"/presenting-problem$"))
    page.fill("#f-presenting_problem", "Sore shoulder")
    page.click("[data-go='next']")
    page.wait_for_url(re.compile(r"/symptoms$"))
    page.click("[data-go='next']")
    page.wait_for_url(re.compile(r"/review$"))
    page.click("[data-submit-intake]")
    page.wait_for_url(re.compile(r"/patients/pat_\w+$"))
    patient_id = page.url.rsplit("/", 1)[-1]
    with api(sandbox) as client:
        found = eventually(
            lambda: client.get("/patients", params={"q[]": f"old_reference_id:={patient_id}"}).json()["patients"],
            lambda items: len(items) == 1,
        )
    cliniko_patient = found[0]
    assert (cliniko_patient["first_name"], cliniko_patient["last_name"]) == ("Noa", "Writeback")
    assert cliniko_patient["email"] == "noa.writeback@example.com"
    assert cliniko_patient["date_of_birth"] == "1990-04-02"
    phones = [(phone["phone_type"], re.sub(r"\D", "", phone["number"])) for phone in
              cliniko_patient["patient_phone_numbers"]]  # fmt: skip
    assert phones == [("Mobile", "61412987654")]  # as stored here: +61 412 987 654
    # Exactly one new patient and no appointment: nothing else was written.
    assert totals() == (before["patients"]["total"] + 1, before["appointments"]["total"])
    expect(page.locator("[data-cliniko-status='in_cliniko']")).to_be_visible(timeout=15_000)

    # 2. Book them into a free slot of the synced practitioner, from the calendar.
    page.goto(f"{base}/appointments?practitioner={practitioner_id}&date={day}&view=week")
    page.locator(f".cal-day[data-day='{day}'] a[data-slot='{day}T{first}']").click()
    expect(page.locator("#booking-form")).to_be_visible()
    page.fill("#patient_q", "writeback")
    option = page.locator(f"[data-patient-option='{patient_id}'] input")
    option.wait_for()
    option.check()
    page.select_option("#appointment_type_id", kind_id)
    page.fill("#notes", "Shoulder review")
    page.click("[data-book-submit]")
    expect(page.locator("#alerts")).to_contain_text("Booked Noa Writeback")

    def appointments_of_patient(client):
        params = [("q[]", f"patient_id:={cliniko_patient['id']}"), ("q[]", "cancelled_at:*")]
        return client.get("/individual_appointments", params=params).json()["individual_appointments"]

    def starts_local(item):
        moment = datetime.fromisoformat(item["starts_at"].replace("Z", "+00:00")).astimezone(SYDNEY)
        return moment.strftime("%Y-%m-%dT%H:%M")

    with api(sandbox) as client:
        booked = eventually(lambda: appointments_of_patient(client), lambda items: len(items) == 1)
    assert starts_local(booked[0]) == f"{day}T{first}" and booked[0]["notes"] == "Shoulder review"
    assert booked[0]["practitioner"]["links"]["self"].endswith(f"/practitioners/{practitioner_cid}")
    assert booked[0]["cancelled_at"] is None
    assert booked[0]["appointment_type"]["links"]["self"].endswith(f"/appointment_types/{kind_cid}")
    assert booked[0]["patient"]["links"]["self"].endswith(f"/patients/{cliniko_patient['id']}")
    assert totals() == (before["patients"]["total"] + 1, before["appointments"]["total"] + 1)

    # 3. Move it to a later free time the same day.
    page.locator(f".cal-day[data-day='{day}'] a.cal-apt[data-starts='{day}T{first}']").click()
    expect(page.locator("[data-cliniko-status='in_cliniko']")).to_be_visible(timeout=15_000)
    page.click("[data-reschedule]")
    page.fill("#time", later)
    page.click("[data-reschedule-submit]")
    expect(page.locator("#alerts")).to_contain_text("Moved to")
    with api(sandbox) as client:
        moved = eventually(
            lambda: appointments_of_patient(client), lambda items: starts_local(items[0]) == f"{day}T{later}"
        )
    assert len(moved) == 1 and moved[0]["cancelled_at"] is None and moved[0]["id"] == booked[0]["id"]
    assert totals() == (before["patients"]["total"] + 1, before["appointments"]["total"] + 1)  # moved, not re-booked
    assert int((datetime.fromisoformat(moved[0]["ends_at"][:-1]) - datetime.fromisoformat(moved[0]["starts_at"][:-1]))
               .total_seconds()) == length * 60  # fmt: skip

    # 4. Cancel it with Cliniko's reason.
    page.locator(f".cal-day[data-day='{day}'] a.cal-apt[data-starts='{day}T{later}']").click()
    page.fill("#reason", "Sick")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-cancel-submit]")
    expect(page.locator("#alerts")).to_contain_text("Cancelled: Noa Writeback")
    with api(sandbox) as client:
        cancelled = eventually(lambda: appointments_of_patient(client), lambda items: items[0]["cancelled_at"])
    assert len(cancelled) == 1 and cancelled[0]["cancellation_reason"] == 30 and cancelled[0]["id"] == booked[0]["id"]
    assert totals() == (before["patients"]["total"] + 1, before["appointments"]["total"] + 1)

    # 5. A comprehensive read-sync afterwards: nothing twice.
    assert comprehensive_sync(app, tenants.a.id, owner) == "completed"
    counts = sandbox.clinic.counts()
    with app.app_context():
        patients_here = db.session.scalar(
            select(func.count()).select_from(Patient).where(Patient.organization_id == tenants.a.id)
        )
        appointments_here = db.session.scalar(
            select(func.count()).select_from(Appointment).where(Appointment.organization_id == tenants.a.id)
        )
    assert patients_here == counts["patients"]["total"]
    assert appointments_here == counts["appointments"]["total"]
