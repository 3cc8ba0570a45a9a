"""After a sandbox Cliniko sync the dashboard says what an independent recount of the synced
tables says, and the sync shows in the activity feed and the sync figures."""

import random

import pytest

from clinic_app.core import audit
from clinic_app.core.time import utcnow
from clinic_app.dashboard import service as dashboard
from clinic_app.extensions import db
from clinic_app.sync import service
from clinic_app.sync.models import SyncRun
from tests.dashboard.dataset import assert_matches, recount


class NoJitter(random.Random):
    def uniform(self, a, b):
        return a


FAST = {
    "requests_per_minute": 100_000,
    "backoff_base": 0.01,
    "backoff_cap": 0.05,
    "timeout": 5.0,
    "max_retries": 10,
    "rng": NoJitter(),
}


@pytest.fixture
def app(make_app):
    return make_app(SYNC_CLIENT_OPTIONS=FAST)


def test_dashboard_equals_the_recount_after_a_sandbox_sync(app_context, tenants, cliniko_sandbox):
    owner = audit.Actor(user_id=tenants.user("owner").id)
    before = dashboard.figures_for(tenants.a.id)  # a snapshot exists: the sync must invalidate it
    assert before["summary"]["total_patients"] == 0
    service.connect(
        tenants.a.id, cliniko_sandbox.clinic.api_key, base_url_template=cliniko_sandbox.base_url_template, actor=owner
    )
    db.session.commit()
    run, started = service.start_sync(tenants.a.id, "comprehensive", actor=owner)
    assert started
    db.session.commit()  # the eager worker runs the sync here
    run = db.session.get(SyncRun, run.id, populate_existing=True)
    assert run.status == "completed", run.error_detail

    now = utcnow()
    payload = dashboard.figures_for(tenants.a.id, now=now)
    expected = recount(tenants.a.id, now, "Australia/Sydney")
    assert_matches(payload, expected)
    summary = payload["summary"]
    assert summary["total_patients"] > 0 and summary["active_patients"] > 0
    assert summary["synced_patients"] == summary["total_patients"] and summary["sync_percentage"] == 100.0
    assert summary["integration_status"] == "Connected" and summary["last_sync_time"] is not None
    assert payload["activity"][0]["id"] == run.id or any(item["id"] == run.id for item in payload["activity"])
