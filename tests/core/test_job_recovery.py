"""The clock's ``jobs.recover``: a queued job whose message the backend lost is handed to it again
(only when lost, only after a while), and a running job whose worker died is failed."""

from datetime import timedelta

import pytest

from clinic_app.core import jobs
from clinic_app.core.job_recovery import LOST_AFTER, recover_jobs
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.worker import RUN_JOB
from tests.conftest import REDIS_URL

ran: list[int] = []


@jobs.job_function("test.recoverable")
def recoverable(ctx, value: int):
    ran.append(value)
    return {"value": value}


@pytest.fixture
def make_app(make_app):
    def build(**overrides):
        app = make_app(**overrides)
        jobs.register_jobs(app, [recoverable], rq_entry=RUN_JOB)
        return app

    ran.clear()
    return build


def _waiting_row(value: int, age: timedelta) -> str:
    """A queued row as a lost message leaves it: in the table, in no backend."""
    row = jobs.Job(
        kind="test.recoverable", status=jobs.QUEUED, params={"value": value}, created_at=utcnow() - age, queue="default"
    )
    db.session.add(row)
    db.session.commit()
    return row.id


def test_a_lost_queued_job_runs_again_and_a_recent_one_is_left_alone(make_app):
    app = make_app()
    with app.app_context():
        lost = _waiting_row(1, LOST_AFTER + timedelta(minutes=1))
        recent = _waiting_row(2, LOST_AFTER - timedelta(minutes=1))
        stale = jobs.Job(
            kind="test.recoverable",
            status=jobs.RUNNING,
            params={"value": 3},
            heartbeat_at=utcnow() - timedelta(minutes=30),
        )
        db.session.add(stale)
        db.session.commit()
        assert recover_jobs(utcnow()) == {"failed_stale": 1, "requeued": 1}
        assert ran == [1]
        assert db.session.get(jobs.Job, lost, populate_existing=True).status == jobs.SUCCEEDED
        assert db.session.get(jobs.Job, recent, populate_existing=True).status == jobs.QUEUED
        assert db.session.get(jobs.Job, stale.id, populate_existing=True).status == jobs.FAILED
        assert recover_jobs(utcnow()) == {"failed_stale": 0, "requeued": 0}  # nothing twice
        assert ran == [1]


def test_a_job_the_in_process_worker_still_holds_is_not_queued_twice(make_app):
    app = make_app()
    with app.app_context():
        held = _waiting_row(4, LOST_AFTER * 2)
        worker = jobs.LocalWorker(app)
        worker._held.add(held)  # submitted to this process's worker, not run yet
        app.extensions["clinic_local_worker"] = worker
        assert recover_jobs(utcnow())["requeued"] == 0
        assert ran == []


@pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL (CI always sets it)")
def test_rq_requeues_only_what_redis_lost(make_app):
    app = make_app(JOBS_BACKEND="rq")
    with app.app_context():
        queue = jobs.rq_queue(app, "default")
        queue.empty()
        kept, lost = (jobs.enqueue("test.recoverable", value=value) for value in (5, 6))
        db.session.commit()
        old = utcnow() - LOST_AFTER * 2
        for row in (kept, lost):
            db.session.get(jobs.Job, row.id).created_at = old
        db.session.commit()
        queue.connection.delete(f"rq:job:{lost.id}")  # Redis lost this one's message
        queue.remove(lost.id)
        assert recover_jobs(utcnow()) == {"failed_stale": 0, "requeued": 1}
        assert sorted(job.id for job in queue.jobs) == sorted([kept.id, lost.id])
        queue.empty()
