"""The seed's /api/v1/sync and /api/v1/cliniko endpoints: documented fields for an authorised client,
401 without credentials, 404 for another organization, duplicate prevention, 422 for an unknown
mode, 503 problem+json with the queue down, and every one in the OpenAPI document."""

import pytest
from sqlalchemy import func, select

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.sync import service
from clinic_app.sync.models import SyncRun
from tests.factories import access_token_for, api_token_for

FAST = {"requests_per_minute": 100_000, "backoff_base": 0.01, "backoff_cap": 0.05, "timeout": 5.0, "max_retries": 3}
TINY = {"patients": 12, "appointments": 30}

# Every endpoint of this module: (method, path template).
ENDPOINTS = [
    ("POST", "/api/v1/sync/trigger"),
    ("GET", "/api/v1/sync/scheduler/status"),
    ("POST", "/api/v1/sync/scheduler/trigger"),
    ("GET", "/api/v1/sync/progress/{sync_id}"),
    ("GET", "/api/v1/sync/history/{organization_id}"),
    ("POST", "/api/v1/cliniko/sync/{organization_id}"),
    ("GET", "/api/v1/cliniko/status/{organization_id}"),
    ("GET", "/api/v1/cliniko/test-connection/{organization_id}"),
    ("POST", "/api/v1/cliniko/import-patients/{organization_id}"),
    ("GET", "/api/v1/cliniko/debug/{organization_id}"),
]


@pytest.fixture
def app(make_app):
    return make_app(SYNC_CLIENT_OPTIONS=FAST)


@pytest.fixture
def sandbox(make_cliniko_sandbox):
    return make_cliniko_sandbox(**TINY)


def connect(app, tenants, server, *, key=None, test=True):
    with app.app_context():
        service.connect(
            tenants.a.id,
            key or server.clinic.api_key,
            base_url_template=server.base_url_template,
            actor=audit.Actor(user_id=tenants.user("owner").id),
            test=test,
        )
        db.session.commit()


def bearer(app, user):
    return {"Authorization": f"Bearer {access_token_for(app, user)}"}


def run_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(SyncRun))


def add_running_run(app, tenants):
    with app.app_context():
        run = SyncRun(organization_id=tenants.a.id, mode="comprehensive", status="running", steps=["patients"])
        db.session.add(run)
        db.session.commit()
        return run.id


def test_a_sync_through_the_api_answers_in_the_documented_shapes(app, tenants, sandbox):
    connect(app, tenants, sandbox)
    client, org, headers = app.test_client(), tenants.a.id, bearer(app, tenants.user("admin"))

    started = client.post(f"/api/v1/cliniko/sync/{org}?mode=comprehensive", headers=headers)
    body = started.get_json()
    assert started.status_code == 200, body
    assert {"success", "message", "organization_id", "sync_mode", "timestamp"} <= body.keys()
    assert body["success"] is True and body["sync_started"] is True and body["sync_mode"] == "comprehensive"
    assert body["message"] == "Comprehensive Cliniko sync started successfully" and body["organization_id"] == org
    sync_id = body["sync_id"]

    progress = client.get(f"/api/v1/sync/progress/{sync_id}", headers=headers).get_json()
    documented = {"sync_id", "organization_id", "status", "progress_percentage", "current_step", "total_steps"}
    documented |= {"completed_steps", "started_at", "estimated_completion", "records_processed", "records_total"}
    assert documented <= progress.keys()
    assert progress["status"] == "completed" and progress["progress_percentage"] == 100.0
    assert progress["completed_steps"] == progress["total_steps"] == 6
    assert progress["counts"]["patients"]["created"] == sandbox.clinic.counts()["patients"]["total"]
    assert progress["started_at"].endswith("Z")

    history = client.get(f"/api/v1/sync/history/{org}?limit=5", headers=headers).get_json()
    assert {"organization_id", "total_syncs", "successful_syncs", "failed_syncs", "last_sync_at"} <= history.keys()
    assert {"last_successful_sync_at", "average_sync_duration_seconds", "recent_syncs"} <= history.keys()
    assert (history["total_syncs"], history["successful_syncs"], history["failed_syncs"]) == (1, 1, 0)
    recent = history["recent_syncs"][0]
    assert {"started_at", "completed_at", "status", "records_processed", "records_success", "records_failed"} <= set(
        recent
    )
    assert recent["metadata"]["sync_type"] == "comprehensive"
    assert recent["metadata"]["patients_processed"] == sandbox.clinic.counts()["patients"]["total"]

    status = client.get(f"/api/v1/cliniko/status/{org}", headers=headers).get_json()
    assert {"organization_id", "cliniko_connected", "api_region", "last_sync", "total_patients"} <= status.keys()
    assert {"sync_enabled", "credentials_valid"} <= status.keys()
    assert status["cliniko_connected"] is True and status["api_region"] == "au1"
    assert status["total_patients"] == sandbox.clinic.counts()["patients"]["total"]

    tested = client.get(f"/api/v1/cliniko/test-connection/{org}", headers=headers).get_json()
    assert tested["success"] is True and tested["businesses"][0]["name"] == "Harbourside Health"

    debug = client.get(f"/api/v1/cliniko/debug/{org}", headers=headers)
    text = debug.get_data(as_text=True)
    assert debug.status_code == 200 and sandbox.clinic.api_key not in text
    facts = debug.get_json()
    assert facts["record_counts"]["patients_linked"] == sandbox.clinic.counts()["patients"]["total"]
    assert facts["recent_syncs"][0]["sync_id"] == sync_id and facts["connection"]["key_hint"].startswith("••")
    first_name = sandbox.clinic.records("patients")[0]["first_name"]
    assert first_name not in text  # counts, not patients

    scheduler = client.get("/api/v1/sync/scheduler/status", headers=headers).get_json()
    assert {"organization_id", "sync_running", "last_sync_time", "scheduler_active", "message"} <= scheduler.keys()
    assert scheduler["sync_running"] is False and scheduler["scheduler_active"] is False  # nothing ticks in tests
    assert scheduler["last_sync_time"] == progress["finished_at"]


def test_triggers_pick_everything_first_then_the_changes(app, tenants, sandbox):
    connect(app, tenants, sandbox)
    client, headers = app.test_client(), bearer(app, tenants.user("admin"))
    first = client.post("/api/v1/sync/trigger", headers=headers).get_json()
    assert {"message", "sync_started", "organization_id", "timestamp"} <= first.keys()
    assert first["sync_started"] is True and first["sync_mode"] == "comprehensive"
    assert first["message"] == "Comprehensive sync started successfully"
    second = client.post("/api/v1/sync/scheduler/trigger", headers=headers).get_json()
    assert second["sync_mode"] == "incremental" and second["sync_started"] is True
    patients = client.post(f"/api/v1/cliniko/import-patients/{tenants.a.id}", headers=headers).get_json()
    assert patients["sync_mode"] == "patients-only" and patients["success"] is True
    with app.app_context():
        triggers = [run.trigger for run in db.session.scalars(select(SyncRun).order_by(SyncRun.created_at))]
        statuses = {run.status for run in db.session.scalars(select(SyncRun))}
    assert triggers == ["api", "scheduled", "api"] and statuses == {"completed"}


def test_triggering_while_a_sync_runs_returns_the_running_one(app, tenants, sandbox):
    connect(app, tenants, sandbox)
    running_id = add_running_run(app, tenants)
    client, org = app.test_client(), tenants.a.id
    headers = {"Authorization": f"Bearer {api_token_for(app, org, ['sync:run'], creator=tenants.user('owner'))}"}
    for path in ("/api/v1/sync/trigger", "/api/v1/sync/scheduler/trigger", f"/api/v1/cliniko/sync/{org}"):
        answer = client.post(path, headers=headers)
        body = answer.get_json()
        assert answer.status_code == 200, body
        assert body["sync_started"] is False and body["sync_id"] == running_id
        assert "already running" in body["message"]
    assert run_count(app) == 1


def test_an_unknown_mode_is_a_422_problem(app, tenants, sandbox):
    connect(app, tenants, sandbox)
    answer = app.test_client().post(
        f"/api/v1/cliniko/sync/{tenants.a.id}?mode=everything", headers=bearer(app, tenants.user("admin"))
    )
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
    assert answer.get_json()["errors"][0]["field"] == "mode"
    assert run_count(app) == 0


def test_a_refused_key_tests_as_failed_in_words(app, tenants, sandbox):
    connect(app, tenants, sandbox, key="sandbox-00000000000000000000000000000000-au1", test=False)
    answer = app.test_client().get(
        f"/api/v1/cliniko/test-connection/{tenants.a.id}", headers=bearer(app, tenants.user("owner"))
    )
    body = answer.get_json()
    assert answer.status_code == 200 and body["success"] is False
    assert "refused" in body["error"].lower() and body["message"] == "Connection failed"
    with app.app_context():
        assert service.connection_status(tenants.a.id)["credentials_valid"] is False


def test_without_credentials_401_and_for_another_organization_404(app, tenants, sandbox):
    connect(app, tenants, sandbox)
    sync_id = add_running_run(app, tenants)
    client = app.test_client()
    outsider = bearer(app, tenants.outsider)
    for method, template in ENDPOINTS:
        path = template.format(sync_id=sync_id, organization_id=tenants.a.id)
        anonymous = client.open(path, method=method)
        assert anonymous.status_code == 401 and anonymous.mimetype == "application/problem+json", path
        if "{" in template:
            other = client.open(path, method=method, headers=outsider)
            assert other.status_code == 404, (path, other.get_json())
            assert tenants.a.name not in other.get_data(as_text=True)
    # Naming organization A in the header does not help organization B's owner either.
    header = {**outsider, "X-Organization-ID": tenants.a.id}
    assert client.post("/api/v1/sync/trigger", headers=header).status_code == 404
    assert run_count(app) == 1


def test_a_clinician_reads_but_cannot_start_and_a_receptionist_cannot_read(app, tenants, sandbox):
    connect(app, tenants, sandbox)
    client, org = app.test_client(), tenants.a.id
    clinician, receptionist = bearer(app, tenants.user("clinician")), bearer(app, tenants.user("receptionist"))
    assert client.get(f"/api/v1/cliniko/status/{org}", headers=clinician).status_code == 200
    assert client.post(f"/api/v1/cliniko/sync/{org}", headers=clinician).status_code == 403
    assert client.get(f"/api/v1/cliniko/debug/{org}", headers=clinician).status_code == 403
    assert client.get(f"/api/v1/sync/history/{org}", headers=receptionist).status_code == 403
    assert run_count(app) == 0


def test_with_the_queue_down_a_trigger_is_a_503_problem(make_app, tenants, sandbox):
    app = make_app(SYNC_CLIENT_OPTIONS=FAST, REDIS_URL="redis://127.0.0.1:1/0", JOBS_BACKEND="rq")
    connect(app, tenants, sandbox)
    client, headers = app.test_client(), bearer(app, tenants.user("admin"))
    for path in ("/api/v1/sync/trigger", f"/api/v1/cliniko/sync/{tenants.a.id}"):
        answer = client.post(path, headers=headers)
        assert answer.status_code == 503 and answer.mimetype == "application/problem+json"
        assert "unavailable" in answer.get_json()["detail"]
    status = client.get("/api/v1/sync/scheduler/status", headers=headers).get_json()
    assert status["scheduler_active"] is False and status["scheduler_backend"] == "rq"
    assert run_count(app) == 0


def test_every_endpoint_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for method, template in ENDPOINTS:
        operation = spec["paths"][template][method.lower()]
        assert operation["security"] == [{"bearerAuth": []}] and "401" in operation["responses"]
        reference = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert reference.split("/")[-1] in schemas
    progress = schemas["SyncProgressOut"]["properties"]
    assert {"progress_percentage", "estimated_completion", "records_total"} <= progress.keys()
    mode = next(
        p for p in spec["paths"]["/api/v1/cliniko/sync/{organization_id}"]["post"]["parameters"] if p["in"] == "query"
    )
    assert mode["name"] == "mode" and "patients-only" in mode["schema"]["enum"]
    assert "503" in spec["paths"]["/api/v1/sync/trigger"]["post"]["responses"]
