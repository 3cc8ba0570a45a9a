"""System health for operators (seeds 001 and 003 in one superset) and for a practice admin,
limited to their organization's jobs and syncs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

from clinic_app.core import jobs
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.sync.models import SyncRun
from tests.factories import access_token_for
from tests.operators.conftest import operator_token
from tests.patients.conftest import register


def _runs(app: Flask, tenants: Any) -> None:
    now = utcnow()
    with app.app_context():
        db.session.add_all(
            [
                SyncRun(organization_id=tenants.a.id, mode="basic", status="completed", steps=[], created_at=now),
                SyncRun(organization_id=tenants.a.id, mode="basic", status="failed", steps=[], created_at=now),
                SyncRun(organization_id=tenants.b.id, mode="basic", status="failed", steps=[], created_at=now),
                SyncRun(
                    organization_id=tenants.b.id,
                    mode="basic",
                    status="running",
                    steps=[],
                    created_at=now,
                    heartbeat_at=now - timedelta(hours=1),
                ),
                SyncRun(  # older than a day: not counted
                    organization_id=tenants.a.id,
                    mode="basic",
                    status="failed",
                    steps=[],
                    created_at=now - timedelta(days=2),
                ),
                jobs.Job(kind="reports.generate", organization_id=tenants.b.id, status=jobs.QUEUED, queue="reports"),
                jobs.Job(kind="reports.generate", organization_id=tenants.a.id, status=jobs.QUEUED, queue="reports"),
            ]
        )
        db.session.commit()


def test_system_health_answers_both_seed_shapes(app: Flask, tenants: Any) -> None:
    register(app, tenants.a)
    _runs(app, tenants)
    answer = app.test_client().get(
        "/api/v1/admin/monitoring/system-health", headers={"Authorization": f"Bearer {operator_token(app)}"}
    )
    assert answer.status_code == 200
    body = answer.get_json()
    # seed 001
    assert body["database"] == body["database"] | {"status": "healthy", "connected": True}
    assert body["metrics"]["total_organizations"] == 2 and body["metrics"]["total_patients"] == 1
    assert body["metrics"]["configured_services"] == {"cliniko": 0}
    assert set(body["integrations"]["cliniko"]) == {"status", "total_connections", "healthy_connections"}
    assert body["timestamp"].endswith("Z")
    # seed 003
    assert body["overall_metrics"] == {"total_organizations": 2, "total_contacts": 1, "total_active_patients": 1}
    activity = body["sync_activity_24h"]
    assert (activity["total_syncs"], activity["successful_syncs"], activity["failed_syncs"]) == (4, 1, 2)
    assert activity["success_rate"] == 33.3 and activity["active_syncs"] == 1 and activity["stale_syncs"] == 1
    assert body["health_status"]["status"] == "degraded" and body["health_status"]["all_systems_operational"] is False
    assert "stale_syncs" in body["health_status"]["problems"]
    # the superset
    assert body["jobs"]["queued"]["reports"] == 2 and body["jobs"]["backend"] == "eager"
    assert body["migrations"]["up_to_date"] is True and body["migrations"]["current"] == body["migrations"]["head"]
    assert set(body["scheduler"]) == {"active", "backend", "last_tick_at"}
    assert body["process"]["disk_total_gb"] > 0 and body["redis"]["configured"] in (True, False)


def test_practice_admin_sees_their_organization_only(app: Flask, tenants: Any) -> None:
    _runs(app, tenants)
    url = "/api/v1/admin/monitoring/organization-health"
    admin = {"Authorization": f"Bearer {access_token_for(app, tenants.user('admin'))}"}
    body = app.test_client().get(url, headers=admin).get_json()
    assert body["organization_id"] == tenants.a.id
    assert body["sync_activity_24h"]["total_syncs"] == 2 and body["sync_activity_24h"]["stale_syncs"] == 0
    assert body["jobs"]["queued"]["reports"] == 1
    assert body["process"] is None and body["redis"] is None and body["migrations"] is None
    clinician = {"Authorization": f"Bearer {access_token_for(app, tenants.user('clinician'))}"}
    assert app.test_client().get(url, headers=clinician).status_code == 403
