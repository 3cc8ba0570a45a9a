"""The sync scheduler: what a tick starts at explicit moments (hourly incremental, nightly 02:00 in
the organization's time zone, nothing while one runs or just after one), that one organization's
failure spares the others, stale and orphaned runs; and the app's clock that runs it (core's): the
embedded thread, and the RQ chain with its Redis locks (one tick per interval however many
workers)."""

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from clinic_app.core import audit, jobs, periodic
from clinic_app.core.errors import Unavailable
from clinic_app.core.jobs import queueing, redis_queue
from clinic_app.extensions import db
from clinic_app.orgs.models import Organization
from clinic_app.sync import lifecycle, scheduler, service
from clinic_app.sync.models import SyncRun
from clinic_app.worker import CLOCK_TICK
from tests.conftest import REDIS_URL

SYDNEY = ZoneInfo("Australia/Sydney")
# 14:00 in Sydney: not nightly time there.
AFTERNOON = datetime(2026, 3, 10, 14, 0, tzinfo=SYDNEY).astimezone(UTC)


@pytest.fixture
def held_jobs(monkeypatch):
    """Started syncs stay queued (nothing contacts Cliniko): these tests are about what starts."""
    monkeypatch.setattr(queueing, "dispatch", lambda app, job_id: None)


def schedule(organization_id, *, interval=60, enabled=True):
    actor = audit.Actor()
    service.connect(organization_id, f"test-key-{organization_id[-12:]}-au1", actor=actor, test=False)
    service.configure_schedule(organization_id, enabled=enabled, interval_minutes=interval, actor=actor)
    db.session.commit()


def past_run(organization_id, *, finished, mode="incremental", status="completed"):
    run = SyncRun(
        organization_id=organization_id,
        mode=mode,
        status=status,
        steps=[],
        created_at=finished - timedelta(minutes=2),
        started_at=finished - timedelta(minutes=2),
        finished_at=finished,
    )
    db.session.add(run)
    db.session.commit()
    return run


def started(summary):
    return sorted((entry["organization_id"], entry["mode"]) for entry in summary["started"])


def scheduled_runs():
    return db.session.scalars(select(SyncRun).where(SyncRun.trigger == "scheduled")).all()


# --- what a tick starts ----------------------------------------------------------------------


def test_an_incremental_starts_once_the_interval_has_passed(app_context, tenants, held_jobs):
    schedule(tenants.a.id, interval=60)
    past_run(tenants.a.id, finished=AFTERNOON - timedelta(minutes=50))
    assert started(scheduler.tick(AFTERNOON)) == []  # 52 minutes since it began: not yet

    summary = scheduler.tick(AFTERNOON + timedelta(minutes=15))
    assert started(summary) == [(tenants.a.id, "incremental")] and summary["errors"] == []
    run = scheduled_runs()[0]
    assert run.status == "starting" and run.created_by_id is None  # started by the system

    # While it runs, the next tick leaves it alone.
    later = scheduler.tick(AFTERNOON + timedelta(minutes=75))
    assert started(later) == [] and len(scheduled_runs()) == 1


def test_the_nightly_comprehensive_follows_each_organization_s_time_zone(app_context, tenants, held_jobs):
    london = db.session.get(Organization, tenants.b.id)
    london.time_zone = "Europe/London"
    db.session.commit()
    schedule(tenants.a.id)
    schedule(tenants.b.id)
    night = datetime(2026, 3, 11, 2, 5, tzinfo=SYDNEY).astimezone(UTC)  # 02:05 Sydney, 15:05 London
    for organization_id in (tenants.a.id, tenants.b.id):
        past_run(organization_id, finished=night - timedelta(hours=3))
    assert started(scheduler.tick(night)) == sorted([(tenants.a.id, "comprehensive"), (tenants.b.id, "incremental")])

    # 02:05 in London: now it is B's turn for everything.
    db.session.query(SyncRun).delete()
    past_run(tenants.a.id, finished=night - timedelta(hours=1))
    past_run(tenants.b.id, finished=night - timedelta(hours=1))
    london_night = datetime(2026, 3, 11, 2, 5, tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)
    assert (tenants.b.id, "comprehensive") in started(scheduler.tick(london_night))


def test_nothing_starts_just_after_a_sync_or_when_the_schedule_is_off(app_context, tenants, held_jobs):
    schedule(tenants.a.id, interval=15)
    schedule(tenants.b.id, enabled=False)
    past_run(tenants.a.id, finished=AFTERNOON - timedelta(minutes=5))  # finished 5 minutes ago
    past_run(tenants.b.id, finished=AFTERNOON - timedelta(days=2))
    assert started(scheduler.tick(AFTERNOON)) == []
    assert started(scheduler.tick(AFTERNOON + timedelta(minutes=11))) == [(tenants.a.id, "incremental")]


def test_one_organization_s_failure_does_not_stop_the_others(app_context, tenants, held_jobs, monkeypatch):
    schedule(tenants.a.id)
    schedule(tenants.b.id)
    real_start = lifecycle.start_sync

    def start_sync(organization_id, mode, **options):
        if organization_id == tenants.a.id:
            raise Unavailable("The job queue is unavailable right now.")
        return real_start(organization_id, mode, **options)

    monkeypatch.setattr(lifecycle, "start_sync", start_sync)
    summary = scheduler.tick(AFTERNOON)
    assert started(summary) == [(tenants.b.id, "incremental")]
    assert summary["errors"] == [{"organization_id": tenants.a.id, "error": "Unavailable"}]
    assert [run.organization_id for run in scheduled_runs()] == [tenants.b.id]


def test_a_tick_marks_stale_runs_failed(app_context, tenants, held_jobs):
    schedule(tenants.a.id)
    stale = SyncRun(
        organization_id=tenants.a.id,
        mode="comprehensive",
        status="running",
        steps=[],
        created_at=AFTERNOON - timedelta(hours=1),
        started_at=AFTERNOON - timedelta(hours=1),
        heartbeat_at=AFTERNOON - timedelta(minutes=20),
    )
    db.session.add(stale)
    db.session.commit()
    summary = scheduler.tick(AFTERNOON)
    assert summary["stale_marked"] == 1
    db.session.refresh(stale)
    assert stale.status == "failed" and "stopped responding" in stale.error_detail


def test_runs_orphaned_by_a_restart_are_failed_so_they_can_be_resumed(app_context, tenants, held_jobs):
    schedule(tenants.a.id)
    run, _ = service.start_sync(tenants.a.id, "comprehensive", actor=audit.Actor())
    db.session.commit()
    assert scheduler.recover_orphaned_runs(run.created_at - timedelta(seconds=1)) == 0  # newer than the process
    assert scheduler.recover_orphaned_runs(run.created_at + timedelta(seconds=1)) == 1
    db.session.refresh(run)
    job = db.session.get(jobs.Job, run.job_id)
    assert run.status == "failed" and "restarted" in run.error_detail and job.status == jobs.FAILED
    assert service.resume_sync(tenants.a.id, run.id, actor=audit.Actor())[1] is True


# --- the embedded thread ---------------------------------------------------------------------


def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_embedded_thread_ticks_until_stopped(make_app, tenants, monkeypatch):
    monkeypatch.setattr(periodic, "_embedded", None)
    app = make_app(JOBS_BACKEND="thread", SYNC_SCHEDULER_INTERVAL=0.05)
    with app.app_context():
        orphan = SyncRun(organization_id=tenants.a.id, mode="basic", status="starting", steps=[])
        db.session.add(orphan)
        db.session.commit()
        orphan_id = orphan.id
    assert periodic.status(app) == {"active": False, "backend": "thread", "last_tick_at": None}
    running = periodic.start_embedded(app)
    try:
        assert periodic.start_embedded(app) is running  # one per process
        wait_for(lambda: running.last_tick_at is not None)
        state = periodic.status(app)
        assert state["active"] is True and state["last_tick_at"] == running.last_tick_at
        with app.app_context():
            assert db.session.get(SyncRun, orphan_id).status == "failed"
    finally:
        running.stop()
    assert periodic.status(app)["active"] is False


def test_the_first_request_starts_the_thread_only_where_it_belongs(make_app, monkeypatch):
    monkeypatch.setattr(periodic, "_embedded", None)
    assert not periodic.embedded_wanted({"JOBS_BACKEND": "rq", "TESTING": False, "SYNC_SCHEDULER_ENABLED": True})
    assert not periodic.embedded_wanted({"JOBS_BACKEND": "thread", "TESTING": True, "SYNC_SCHEDULER_ENABLED": True})
    assert not periodic.embedded_wanted({"JOBS_BACKEND": "thread", "TESTING": False, "SYNC_SCHEDULER_ENABLED": False})

    testing = make_app(JOBS_BACKEND="thread")
    testing.test_client().get("/health")
    assert periodic.embedded_clock() is None

    app = make_app(APP_ENV="development", JOBS_BACKEND="thread", SYNC_SCHEDULER_INTERVAL=3600)
    assert periodic.embedded_clock() is None  # building the app (as a CLI command does) starts nothing
    app.test_client().get("/health")
    running = periodic.embedded_clock()
    try:
        assert running is not None and running.alive
        app.test_client().get("/health")
        assert periodic.embedded_clock() is running
    finally:
        running.stop()


# --- the RQ chain ----------------------------------------------------------------------------


class FakeRedis:
    """The four commands the chain uses, with SET NX/EX semantics (expiry is not simulated)."""

    def __init__(self):
        self.values = {}

    def get(self, name):
        return self.values.get(name)

    def set(self, name, value, nx=False, ex=None):
        if nx and name in self.values:
            return None
        self.values[name] = value.encode() if isinstance(value, str) else value
        return True

    def expire(self, name, seconds):
        return name in self.values

    def delete(self, *names):
        for name in names:
            self.values.pop(name, None)


class FakeQueue:
    def __init__(self):
        self.calls = []

    def enqueue(self, function, *args, **options):
        self.calls.append(("now", function, args))

    def enqueue_in(self, delay, function, *args, **options):
        self.calls.append((delay, function, args))


@pytest.fixture
def redis():
    if REDIS_URL:  # CI: the real thing
        from redis import Redis

        connection = Redis.from_url(REDIS_URL)
        connection.delete(periodic.CHAIN_KEY, periodic.TICK_LOCK_KEY, periodic.LAST_TICK_KEY)
        yield connection
        connection.delete(periodic.CHAIN_KEY, periodic.TICK_LOCK_KEY, periodic.LAST_TICK_KEY)
        connection.close()
    else:
        yield FakeRedis()


def test_the_rq_chain_ticks_once_per_interval_whatever_the_number_of_workers(make_app, redis, monkeypatch):
    app = make_app(REDIS_URL=REDIS_URL or "redis://127.0.0.1:1/0", JOBS_BACKEND="rq", SYNC_SCHEDULER_INTERVAL=60)
    queue, ticks = FakeQueue(), []
    monkeypatch.setattr(redis_queue, "redis_connection", lambda app=None: redis)
    monkeypatch.setattr(redis_queue, "rq_queue", lambda app, name: queue)
    monkeypatch.setattr(periodic, "tick", lambda now=None: ticks.append(now) or {"started": []})

    assert periodic.start_rq_chain(app) is True
    assert periodic.start_rq_chain(app) is False  # a second worker finds the chain alive
    assert len(queue.calls) == 1
    _, function, (chain,) = queue.calls[0]
    assert function == CLOCK_TICK

    with app.app_context():
        periodic.rq_tick(chain)
        assert len(ticks) == 1 and queue.calls[-1] == (timedelta(seconds=60), CLOCK_TICK, (chain,))
        periodic.rq_tick(chain)  # a duplicate within the interval: no second tick, the chain goes on
        assert len(ticks) == 1 and len(queue.calls) == 3
        assert periodic.rq_tick("another-chain") is None  # a stray chain ends itself
        assert len(ticks) == 1 and len(queue.calls) == 3
        redis.delete(periodic.TICK_LOCK_KEY)  # the interval has passed
        periodic.rq_tick(chain)
        assert len(ticks) == 2

    state = periodic.status(app)
    assert state["active"] is True and state["backend"] == "rq" and state["last_tick_at"] is not None


def test_scheduler_status_is_off_when_disabled(make_app):
    app = make_app(SYNC_SCHEDULER_ENABLED="false", JOBS_BACKEND="thread")
    assert periodic.status(app) == {"active": False, "backend": "off", "last_tick_at": None}
    assert periodic.start_rq_chain(app) is False
