"""The Integrations and Sync pages: who may open and use them, connecting with a wrong and a right
key, starting a sync and watching it complete, duplicate starts, cancel and resume, the history,
and a queue outage said in words while the page still works."""

import re

import pytest
from sqlalchemy import func, select

from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.core.jobs import queueing
from clinic_app.extensions import db
from clinic_app.sync import service
from clinic_app.sync.models import ClinikoConnection, SyncRun
from tests.factories import page_csrf, sign_in

# Quick retries and no client-side pacing: the sandbox answers at once.
FAST = {"requests_per_minute": 100_000, "backoff_base": 0.01, "backoff_cap": 0.05, "timeout": 5.0, "max_retries": 3}
TINY = {"patients": 12, "appointments": 30}
HTMX = {"HX-Request": "true"}


@pytest.fixture
def app(make_app):
    return make_app(SYNC_CLIENT_OPTIONS=FAST)


@pytest.fixture
def sandbox(make_cliniko_sandbox):
    return make_cliniko_sandbox(**TINY)


def connect(app, tenants, server):
    with app.app_context():
        service.connect(
            tenants.a.id,
            server.clinic.api_key,
            base_url_template=server.base_url_template,
            actor=audit.Actor(user_id=tenants.user("owner").id),
        )
        db.session.commit()


def runs(app):
    with app.app_context():
        return db.session.scalars(select(SyncRun).order_by(SyncRun.created_at)).all()


def post(client, path, data=None, *, htmx=True, page="/sync"):
    token = page_csrf(client, page)
    return client.post(path, data={"csrf_token": token, **(data or {})}, headers=HTMX if htmx else {})


def sync_id_in(html):
    return re.search(r'id="sync-run"[^>]*data-sync-id="(sync_\w+)"', html).group(1)


# --- who may open what -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "integrations", "sync"), [("owner", 200, 200), ("admin", 200, 200), ("clinician", 403, 200)]
)
def test_pages_open_for_the_roles_that_may_see_them(login_as, role, integrations, sync):
    client = login_as(role)
    assert client.get("/integrations").status_code == integrations
    page = client.get("/sync")
    assert page.status_code == sync
    html = page.get_data(as_text=True)
    assert "Not connected yet" in html and "Integrations page" in html
    assert ("data-start-sync" in html) is False  # nothing to start before Cliniko is connected


def test_receptionists_get_403_and_other_organizations_404(app, login_as, tenants, sandbox):
    receptionist = login_as("receptionist")
    for path in ("/integrations", "/sync", "/sync/history"):
        assert receptionist.get(path).status_code == 403
    connect(app, tenants, sandbox)
    admin = login_as("admin")
    started = post(admin, "/sync/start", {"mode": "patients-only"})
    run_id = sync_id_in(started.get_data(as_text=True))
    outsider = login_as("outsider")
    assert outsider.get(f"/sync/runs/{run_id}").status_code == 404
    token = page_csrf(outsider, "/account")
    assert outsider.post(f"/sync/runs/{run_id}/resume", data={"csrf_token": token}).status_code == 404
    assert "Harbour" not in outsider.get("/sync").get_data(as_text=True)


def test_a_clinician_reads_the_sync_page_but_cannot_start_or_cancel(app, login_as, tenants, sandbox):
    connect(app, tenants, sandbox)
    clinician = login_as("clinician")
    html = clinician.get("/sync").get_data(as_text=True)
    assert "No syncs yet" in html and "data-start-sync" not in html
    token = page_csrf(clinician, "/sync")
    assert clinician.post("/sync/start", data={"csrf_token": token, "mode": "basic"}).status_code == 403
    assert runs(app) == []


# --- Integrations ----------------------------------------------------------------------------


def test_a_wrong_key_is_explained_and_nothing_is_stored(app, login_as, sandbox):
    admin = login_as("admin")
    wrong = "sandbox-0123456789abcdef0123456789abcdef-au1"
    response = post(
        admin, "/integrations/connect", {"api_key": wrong, "base_url": sandbox.base_url_template}, page="/integrations"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "data-key-error" in html and "refused" in html.lower()
    assert wrong not in html and "<html" not in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ClinikoConnection)) == 0


def test_the_sandbox_key_connects_and_shows_the_businesses(app, login_as, tenants, sandbox):
    admin = login_as("admin")
    key = sandbox.clinic.api_key
    response = post(
        admin, "/integrations/connect", {"api_key": key, "base_url": sandbox.base_url_template}, page="/integrations"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert 'data-connection="connected"' in html and "Harbourside Health" in html
    assert key not in html and "••••••••" in html  # only the hint is ever shown
    with app.app_context():
        connection = db.session.scalar(select(ClinikoConnection))
        assert connection.organization_id == tenants.a.id and key not in connection.api_key_enc
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "cliniko.connected")) is not None

    tested = post(admin, "/integrations/test", page="/integrations")
    assert "The key works" in tested.get_data(as_text=True) and "Harbourside Health" in tested.get_data(as_text=True)
    page = admin.get("/integrations").get_data(as_text=True)
    assert key not in page and "the key worked" in page


def test_the_shard_is_detected_from_the_key(login_as):
    admin = login_as("admin")
    shown = post(admin, "/integrations/shard", {"api_key": "abcdef-au4"}, page="/integrations")
    assert "au4" in shown.get_data(as_text=True) and "api.au4.cliniko.com" in shown.get_data(as_text=True)
    empty = post(admin, "/integrations/shard", {"api_key": ""}, page="/integrations").get_data(as_text=True)
    assert "data-detected-shard" not in empty


def test_the_schedule_is_saved_or_the_interval_explained(app, login_as, tenants, sandbox):
    connect(app, tenants, sandbox)
    admin = login_as("admin")
    bad = post(admin, "/integrations/schedule", {"enabled": "y", "interval_minutes": "5"}, page="/integrations")
    assert bad.status_code == 422 and "data-interval-error" in bad.get_data(as_text=True)
    good = post(admin, "/integrations/schedule", {"enabled": "y", "interval_minutes": "30"}, page="/integrations")
    assert good.status_code == 200 and "every 30 minutes" in good.get_data(as_text=True)
    with app.app_context():
        status = service.connection_status(tenants.a.id)
        assert status["sync_enabled"] is True and status["sync_interval_minutes"] == 30


def test_disconnecting_asks_first_then_forgets_the_key(app, login_as, tenants, sandbox):
    connect(app, tenants, sandbox)
    admin = login_as("admin")
    asked = post(admin, "/integrations/disconnect", htmx=False, page="/integrations")
    assert asked.status_code == 200 and "Disconnect Cliniko" in asked.get_data(as_text=True)
    with app.app_context():
        assert service.connection_status(tenants.a.id)["cliniko_connected"] is True
    done = post(admin, "/integrations/disconnect", {"confirmed": "yes"}, page="/integrations")
    assert done.status_code == 200 and 'data-connection="none"' in done.get_data(as_text=True)
    with app.app_context():
        assert service.connection_status(tenants.a.id)["cliniko_connected"] is False


# --- Sync ------------------------------------------------------------------------------------


def test_start_then_poll_until_complete_with_the_sandbox_counts(app, login_as, tenants, sandbox):
    connect(app, tenants, sandbox)
    admin = login_as("admin")
    page = admin.get("/sync").get_data(as_text=True)
    assert "data-start-sync" in page and "No syncs yet" in page

    started = post(admin, "/sync/start", {"mode": "comprehensive"})
    html = started.get_data(as_text=True)
    assert started.status_code == 200 and "<html" not in html
    assert "Sync started: comprehensive" in html and 'hx-trigger="every 1s"' in html  # polls while it runs
    assert "sync-changed" in started.headers["HX-Trigger"]
    run_id = sync_id_in(html)

    # The eager worker ran the job when the start committed: the next poll sees the end.
    polled = admin.get(f"/sync/runs/{run_id}", headers=HTMX)
    html = polled.get_data(as_text=True)
    assert 'data-status="completed"' in html and "hx-trigger" not in html  # polling stops
    assert "sync-changed" in polled.headers["HX-Trigger"]
    counts = sandbox.clinic.counts()
    with app.app_context():
        run = db.session.get(SyncRun, run_id)
        assert run.counts["patients"]["created"] == counts["patients"]["total"]
        assert run.counts["appointments"]["created"] == counts["appointments"]["total"]
    assert f'data-count="created">{run.created}<' in html
    assert f"{run.phones_normalised} of {run.phones_total}" in html

    history = admin.get("/sync/history", headers=HTMX).get_data(as_text=True)
    assert f'data-sync-id="{run_id}" data-status="completed"' in history and "<html" not in history


def test_starting_while_one_runs_shows_the_running_one(app, login_as, tenants, sandbox):
    connect(app, tenants, sandbox)
    with app.app_context():
        running = SyncRun(organization_id=tenants.a.id, mode="comprehensive", status="running", steps=["patients"])
        db.session.add(running)
        db.session.commit()
        running_id = running.id
    admin = login_as("admin")
    answer = post(admin, "/sync/start", {"mode": "basic"}).get_data(as_text=True)
    assert "already running" in answer and sync_id_in(answer) == running_id
    assert [run.id for run in runs(app)] == [running_id]


def test_cancel_asks_first_then_a_resume_finishes_the_work(app, login_as, tenants, sandbox, monkeypatch):
    connect(app, tenants, sandbox)
    admin = login_as("admin")
    with monkeypatch.context() as held:  # the job waits in the queue: the run is still "starting"
        held.setattr(queueing, "dispatch", lambda app, job_id: None)
        run_id = sync_id_in(post(admin, "/sync/start", {"mode": "comprehensive"}).get_data(as_text=True))

    asked = post(admin, f"/sync/runs/{run_id}/cancel", htmx=False)
    assert "Stop this sync?" in asked.get_data(as_text=True)
    assert runs(app)[0].status == "starting"

    cancelled = post(admin, f"/sync/runs/{run_id}/cancel", {"confirmed": "yes"}).get_data(as_text=True)
    assert 'data-status="cancelled"' in cancelled and "data-resume-sync" in cancelled

    resumed = post(admin, f"/sync/runs/{run_id}/resume").get_data(as_text=True)
    new_id = sync_id_in(resumed)
    assert new_id != run_id and "Resumed" in resumed
    with app.app_context():
        new = db.session.get(SyncRun, new_id)
        assert new.status == "completed" and new.resumed_from_id == run_id
        assert new.counts["patients"]["created"] == sandbox.clinic.counts()["patients"]["total"]
        actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("sync.%"))))
        assert {"sync.started", "sync.cancel_requested", "sync.cancelled", "sync.completed"} <= actions


def test_history_is_paged(app, login_as, tenants):
    with app.app_context():
        for number in range(12):
            db.session.add(
                SyncRun(
                    organization_id=tenants.a.id,
                    mode="incremental",
                    status="failed",
                    steps=[],
                    error_detail=f"e{number}",
                )
            )
        db.session.commit()
    admin = login_as("admin")
    first = admin.get("/sync").get_data(as_text=True)
    assert first.count('data-status="failed"') >= 10 and "Page 1 of 2" in first
    second = admin.get("/sync/history?page=2", headers=HTMX).get_data(as_text=True)
    assert second.count("<tr data-sync-id=") == 2 and "Page 2 of 2" in second and "<html" not in second
    assert "Error detail" in second


def test_with_the_queue_down_the_page_says_so_and_still_renders(make_app, tenants, sandbox):
    app = make_app(SYNC_CLIENT_OPTIONS=FAST, REDIS_URL="redis://127.0.0.1:1/0", JOBS_BACKEND="rq")
    connect(app, tenants, sandbox)
    client = app.test_client()
    assert sign_in(client, tenants.user("admin").email).status_code == 303
    answer = post(client, "/sync/start", {"mode": "comprehensive"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 503
    assert "could not be started" in html and "job queue is unavailable" in html
    plain = post(client, "/sync/start", {"mode": "comprehensive"}, htmx=False)
    assert plain.status_code == 503 and "<html" in plain.get_data(as_text=True)
    assert client.get("/sync").status_code == 200
    assert runs(app) == []  # nothing half-written


# --- make run's demo connection --------------------------------------------------------------


def test_seed_demo_connects_the_demo_clinic_to_the_sandbox_once(make_app, make_cliniko_sandbox):
    server = make_cliniko_sandbox(seed=42, **TINY)  # make run's sandbox seed: its key is known
    app = make_app(SYNC_CLIENT_OPTIONS=FAST, CLINIKO_SANDBOX_URL=server.url)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert f"Cliniko sandbox: {server.url}/au1/v1" in first.output and "is now connected" in first.output
    assert server.clinic.api_key not in first.output  # only the hint is printed
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0 and "Harbour Physiotherapy is connected" in again.output
    with app.app_context():
        connections = db.session.scalars(select(ClinikoConnection)).all()
        assert len(connections) == 1 and connections[0].base_url_template == f"{server.url}/{{shard}}/v1"
        assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 0  # the admin starts the first sync

    unset = make_app(SYNC_CLIENT_OPTIONS=FAST).test_cli_runner().invoke(args=["seed-demo"])
    assert "Cliniko sandbox: not configured" in unset.output
