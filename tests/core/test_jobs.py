"""The job pipeline: recorded, dispatched after commit, run once, progress visible, failures kept."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from clinic_app.core import jobs
from clinic_app.core.errors import Unavailable
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.worker import RUN_JOB
from tests.conftest import REDIS_URL

calls: list[dict] = []


@jobs.job_function("test.record")
def record(ctx, value: int, fail: bool = False, cancel_at: int | None = None):
    for step in range(1, 4):
        if cancel_at == step:
            db.session.get(jobs.Job, ctx.job_id).cancel_requested = True
        ctx.progress(step * 33, step=f"step {step}")
    if fail:
        raise ValueError("the input was bad")
    calls.append({"value": value})
    return {"doubled": value * 2}


@pytest.fixture
def make_app(make_app):
    """Apps that also run this module's job (job kinds are registered per app, as create_app does)."""

    def build(**overrides):
        app = make_app(**overrides)
        jobs.register_jobs(app, [record], rq_entry=RUN_JOB)
        return app

    return build


@pytest.fixture(autouse=True)
def _reset_calls():
    calls.clear()


def test_eager_job_runs_after_commit_and_records_result(app_context):
    job = jobs.enqueue("test.record", value=21)
    assert job.status == jobs.QUEUED and calls == []  # nothing runs before the transaction commits
    db.session.commit()
    job = db.session.get(jobs.Job, job.id, populate_existing=True)
    assert job.status == jobs.SUCCEEDED
    assert job.progress == 100
    assert job.result == {"doubled": 42}
    assert job.started_at <= job.finished_at
    assert calls == [{"value": 21}]


def test_rolled_back_enqueue_never_runs(app_context):
    jobs.enqueue("test.record", value=1)
    db.session.rollback()
    db.session.commit()
    assert calls == []
    assert db.session.scalars(select(jobs.Job)).all() == []


def test_a_savepoint_neither_dispatches_nor_drops_the_outer_transactions_jobs(app_context):
    outer = jobs.enqueue("test.record", value=5)
    with db.session.begin_nested():
        jobs.enqueue("test.record", value=6)
    assert calls == []  # released SAVEPOINT: the outer transaction has not committed yet
    savepoint = db.session.begin_nested()
    db.session.add(jobs.Job(kind="test.record", params={"value": 7}))
    savepoint.rollback()
    db.session.commit()
    assert sorted(call["value"] for call in calls) == [5, 6]
    assert db.session.get(jobs.Job, outer.id, populate_existing=True).status == jobs.SUCCEEDED


def test_failed_job_keeps_the_error(app_context):
    job = jobs.enqueue("test.record", value=1, fail=True)
    db.session.commit()
    job = db.session.get(jobs.Job, job.id, populate_existing=True)
    assert job.status == jobs.FAILED
    assert "ValueError: the input was bad" in job.error
    assert job.progress == 99  # the last checkpoint before the failure


def test_running_job_stops_when_cancel_is_requested(app_context):
    job = jobs.enqueue("test.record", value=1, cancel_at=2)
    db.session.commit()
    job = db.session.get(jobs.Job, job.id, populate_existing=True)
    assert job.status == jobs.CANCELLED
    assert calls == []


def test_running_a_finished_job_again_changes_nothing(app_context):
    job = jobs.enqueue("test.record", value=5)
    db.session.commit()
    jobs.run_job(job.id)
    assert calls == [{"value": 5}]


def test_stale_running_job_is_marked_failed(app_context):
    job = jobs.Job(kind="test.record", status=jobs.RUNNING, params={}, heartbeat_at=utcnow() - timedelta(minutes=20))
    fresh = jobs.Job(kind="test.record", status=jobs.RUNNING, params={}, heartbeat_at=utcnow())
    db.session.add_all([job, fresh])
    db.session.flush()
    assert jobs.fail_stale_jobs() == 1
    assert job.status == jobs.FAILED and "stopped reporting" in job.error
    assert fresh.status == jobs.RUNNING


def test_unknown_job_kind_is_refused(app_context):
    with pytest.raises(Exception, match="no job called"):
        jobs.enqueue("test.nothing")


def test_rq_backend_with_redis_down_answers_unavailable(make_app, tenants):
    from tests.factories import api_token_for

    app = make_app(REDIS_URL="redis://127.0.0.1:1/0", JOBS_BACKEND="rq")
    with app.app_context(), pytest.raises(Unavailable):
        jobs.enqueue("test.record", value=1)
    token = api_token_for(app, tenants.a.id, ["admin:audit"], creator=tenants.user("owner"))
    response = app.test_client().post("/api/v1/audit/verify", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    with app.app_context():
        assert db.session.scalars(select(jobs.Job)).all() == []  # nothing half-written


@pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL (CI always sets it)")
def test_rq_backend_runs_jobs_on_a_real_worker(make_app):
    from rq import SimpleWorker

    app = make_app(JOBS_BACKEND="rq")
    with app.app_context():
        queue = jobs.rq_queue(app, "default")
        queue.empty()
        job = jobs.enqueue("test.record", value=7)
        db.session.commit()
        assert queue.count == 1
        rq_job = queue.jobs[0]
        assert rq_job.id == job.id
        assert rq_job.timeout == 600
        worker = SimpleWorker([queue], connection=queue.connection, serializer=queue.serializer)
        worker.work(burst=True)
        job = db.session.get(jobs.Job, job.id, populate_existing=True)
        assert job.status == jobs.SUCCEEDED
        assert job.result == {"doubled": 14}
