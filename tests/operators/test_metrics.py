"""Prometheus /metrics and seed 004's /api/v1/metrics/* (issue 20, Done-when 2)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from clinic_app.core import jobs
from clinic_app.core.jobs.run import finish
from clinic_app.extensions import db
from tests.factories import access_token_for
from tests.operators.conftest import operator_token
from tests.patients.conftest import register

# The app's ids: a short prefix and 22 random letters and digits (core.db.new_id), e.g.
# org_2xwHiNrj68eaRUlX10anlX; a label such as the retention kind "mfa_challenges" is not one.
ID_LIKE = re.compile(r"\b[a-z]{2,5}_[A-Za-z0-9]{22}\b")


def _scrape(app: Flask, token: str) -> dict[str, Any]:
    answer = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(answer.get_data(as_text=True))}


def test_metrics_parse_carry_the_histograms_and_no_identifying_label(app: Flask, tenants: Any) -> None:
    patient = register(app, tenants.a, first_name="Labelled", last_name="Nobody")
    clinician = tenants.user("clinician")
    bearer = {"Authorization": f"Bearer {access_token_for(app, clinician)}"}
    client = app.test_client()
    assert client.get(f"/api/v1/patients/{patient}", headers=bearer).status_code == 200
    assert client.get("/api/v1/patients/pat_doesnotexist000000", headers=bearer).status_code == 404
    with app.app_context():
        db.session.add(jobs.Job(kind="reports.generate", organization_id=tenants.a.id, status=jobs.QUEUED, params={}))
        db.session.commit()

    families = _scrape(app, operator_token(app))

    requests = families["clinic_http_requests"]
    routes = {(s.labels["route"], s.labels["status"]) for s in requests.samples if s.name.endswith("_total")}
    assert ("/api/v1/patients/<patient_id>", "200") in routes
    assert ("/api/v1/patients/<patient_id>", "404") in routes
    histogram = families["clinic_http_request_duration_seconds"]
    assert histogram.type == "histogram"
    assert any(
        s.name.endswith("_bucket") and s.labels["route"] == "/api/v1/patients/<patient_id>" for s in histogram.samples
    )
    assert families["clinic_job_duration_seconds"].type == "histogram"
    queued = [
        s for s in families["clinic_jobs"].samples if s.labels == {"kind": "reports.generate", "status": "queued"}
    ]
    assert queued and queued[0].value == 1
    assert any(s.value >= 1 for s in families["clinic_audit_appends"].samples)
    assert "clinic_decryption_failures" in families and "clinic_cliniko_requests" in families

    forbidden = {patient, tenants.a.id, tenants.a.name, clinician.email, clinician.id, "Labelled"}
    for family in families.values():
        for sample in family.samples:
            for value in sample.labels.values():
                assert value not in forbidden, (family.name, sample.labels)
                assert "@" not in value and not ID_LIKE.search(value), (family.name, sample.labels)


def test_request_methods_outside_http_s_usual_ones_share_one_label(app: Flask, tenants: Any) -> None:
    client = app.test_client()
    for method in ("BREW", "PROPFIND-X1", "PROPFIND-X2"):
        client.open("/health", method=method)
    client.get("/health")

    families = _scrape(app, operator_token(app))

    methods = {s.labels["method"] for s in families["clinic_http_requests"].samples}
    assert "GET" in methods and "OTHER" in methods
    assert not methods & {"BREW", "PROPFIND-X1", "PROPFIND-X2"}  # a client cannot mint label values


def test_job_durations_are_observed_by_kind_and_status(app: Flask, tenants: Any) -> None:
    before = _job_count(app, "audit.verify", "failed")
    with app.app_context():
        job = jobs.Job(kind="audit.verify", organization_id=tenants.a.id, status=jobs.RUNNING, params={})
        job.started_at = jobs.model.utcnow()
        db.session.add(job)
        db.session.commit()
        finish(job.id, jobs.FAILED, message="Failed", error="x")
    assert _job_count(app, "audit.verify", "failed") == before + 1


def _job_count(app: Flask, kind: str, status: str) -> float:
    families = _scrape(app, operator_token(app))
    return sum(
        s.value
        for s in families["clinic_job_duration_seconds"].samples
        if s.name.endswith("_count") and s.labels == {"kind": kind, "status": status}
    )


def test_seed_004_health_and_system_shapes(app: Flask, tenants: Any) -> None:
    headers = {"Authorization": f"Bearer {operator_token(app)}"}
    client = app.test_client()
    health = client.get("/api/v1/metrics/health", headers=headers).get_json()
    assert health["status"] in ("healthy", "degraded", "unhealthy")
    assert health["database"]["connected"] is True
    assert set(health) >= {"database", "redis", "scheduler", "migrations", "timestamp"}
    system = client.get("/api/v1/metrics/system", headers=headers).get_json()
    assert set(system) >= {"process", "jobs", "sync_activity_24h", "totals", "timestamp"}
    assert system["process"]["max_rss_mb"] > 0 and system["totals"]["total_organizations"] == 2


def test_user_metrics_for_the_member_and_their_admin_only(app: Flask, tenants: Any, login_as: Any) -> None:
    clinician = tenants.user("clinician")
    url = f"/api/v1/metrics/user/{clinician.id}"
    own = app.test_client().get(url, headers={"Authorization": f"Bearer {access_token_for(app, clinician)}"})
    assert own.status_code == 200, own.get_json()
    body = own.get_json()
    assert body["user_id"] == clinician.id and body["organization_id"] == tenants.a.id
    assert set(body) >= {"period_days", "total_actions", "by_area", "sign_ins", "last_active_at", "timestamp"}
    admin = tenants.user("admin")
    by_admin = app.test_client().get(url, headers={"Authorization": f"Bearer {access_token_for(app, admin)}"})
    assert by_admin.status_code == 200
    receptionist = tenants.user("receptionist")
    peer = app.test_client().get(url, headers={"Authorization": f"Bearer {access_token_for(app, receptionist)}"})
    assert peer.status_code == 404
    outsider = app.test_client().get(
        url, headers={"Authorization": f"Bearer {access_token_for(app, tenants.outsider)}"}
    )
    assert outsider.status_code == 404


MULTIPROCESS_SCRIPT = """
import sys, tempfile
from clinic_app import create_app
from clinic_app.core import metrics
from clinic_app.extensions import db

app = create_app({"APP_ENV": "test", "INSTANCE_PATH": tempfile.mkdtemp(), "DATABASE_URL": "sqlite://"})
with app.app_context():
    db.create_all()
if sys.argv[1] == "request":
    assert app.test_client().get("/health").status_code == 200
else:
    with app.app_context():
        sys.stdout.write(metrics.exposition()[0].decode())
"""


def test_multiprocess_mode_adds_up_every_process(tmp_path: Any) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, two worker processes' requests are one figure in a scrape
    from a third process (as gunicorn's workers are)."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", MULTIPROCESS_SCRIPT, "request"], env=env, check=True, timeout=120)
    scraped = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_SCRIPT, "scrape"], env=env, check=True, timeout=120, capture_output=True
    ).stdout.decode()
    families = {family.name: family for family in text_string_to_metric_families(scraped)}
    health = [
        s.value
        for s in families["clinic_http_requests"].samples
        if s.name.endswith("_total") and s.labels.get("route") == "/health"
    ]
    assert health == [2.0]
    assert "clinic_jobs" in families  # the database figures are read in the scraping process
