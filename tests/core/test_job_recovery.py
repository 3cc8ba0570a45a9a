"""The clock's ``jobs.recover``: a running job whose worker died is failed; a queued job whose RQ
message Redis lost is handed to RQ again (only when lost, only after a while); the embedded clock,
as it starts, queues again what an earlier process left queued, and nothing of its own."""

from datetime import timedelta

import pytest

from clinic_app.core import jobs
from clinic_app.core.job_recovery import LOST_AFTER, recover_jobs, requeue_left_behind
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


def test_a_stale_running_job_is_failed_and_a_waiting_one_left_to_the_in_process_worker(make_app):
    app = make_app()
    with app.app_context():
        waiting = _waiting_row(1, LOST_AFTER * 3)  # this process's worker holds it, in line
        stale = jobs.Job(
            kind="test.recoverable",
            status=jobs.RUNNING,
            params={"value": 3},
            heartbeat_at=utcnow() - timedelta(minutes=30),
        )
        db.session.add(stale)
        db.session.commit()
        assert recover_jobs(utcnow()) == {"failed_stale": 1, "requeued": 0}
        assert ran == []
        assert db.session.get(jobs.Job, waiting, populate_existing=True).status == jobs.QUEUED
        assert db.session.get(jobs.Job, stale.id, populate_existing=True).status == jobs.FAILED
        assert recover_jobs(utcnow()) == {"failed_stale": 0, "requeued": 0}  # nothing twice


def test_the_embedded_clock_start_queues_again_what_an_earlier_process_left(make_app):
    app = make_app()
    with app.app_context():
        left = _waiting_row(1, timedelta(minutes=1))  # queued before this process started
        started = utcnow()
        mine = _waiting_row(2, timedelta(0))
        db.session.get(jobs.Job, mine).created_at = started + timedelta(seconds=1)
        db.session.commit()
        assert requeue_left_behind(started) == 1
        assert ran == [1]
        assert db.session.get(jobs.Job, left, populate_existing=True).status == jobs.SUCCEEDED
        assert db.session.get(jobs.Job, mine, populate_existing=True).status == jobs.QUEUED
        assert recover_jobs.periodic_spec.on_embedded_start is requeue_left_behind


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
