"""The app's clock and its registries: tasks and job kinds are what create_app registers (a
decorator only declares), tasks run in the order registered, one task's failure spares the others,
and the embedded clock runs each task's start-up hook once before its first tick."""

import time
from datetime import UTC, datetime

import pytest

from clinic_app.core import jobs, periodic
from clinic_app.worker import CLOCK_TICK, RUN_JOB

MOMENT = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
ran: list[tuple[str, datetime]] = []


@periodic.every_tick("test.first")
def first(now):
    ran.append(("first", now))
    return "one"


@periodic.every_tick("test.broken")
def broken(now):
    raise RuntimeError("boom")


@periodic.every_tick("test.last", on_embedded_start=lambda started_at: ran.append(("start-up", started_at)))
def last(now):
    ran.append(("last", now))
    return {"done": True}


@jobs.job_function("test.declared_only")
def declared_only(ctx):
    return None


@pytest.fixture(autouse=True)
def _reset():
    ran.clear()


def test_the_app_registers_its_jobs_and_tasks_explicitly(app):
    with app.app_context():
        assert jobs.registered_kinds() == [
            "audit.verify",
            "health_data.analyze",
            "health_data.import_file",
            "keys.reencrypt",
            "reports.generate",
            "sync.cliniko",
            "sync.cliniko_outbox",
            "webhooks.deliver",
        ]
        assert "test.declared_only" not in jobs.registered_kinds()  # declaring registers nothing
    names = [task.name for task in app.extensions[periodic.EXTENSION].tasks]
    assert names == [
        "sync.scheduled_syncs",
        "sync.cliniko_outbox",
        "figures.refresh_stale",
        "audit.nightly_verification",
        "staff_invitations.purge",
        "health_data.reconcile_imports",
        "mfa.purge_challenges",
        "retention.nightly",
        "erasure.due",
        "webhooks.deliver",
        "jobs.recover",
    ]
    assert names == [name for name in names if not name.startswith("test.")]


def test_tasks_run_in_order_and_a_failure_spares_the_others(make_app):
    app = make_app()
    app.extensions.pop(periodic.EXTENSION)
    periodic.register_tasks(app, [first, broken, last], rq_entry=CLOCK_TICK)
    with app.app_context():
        results = periodic.tick(MOMENT)
    assert results == {"test.first": "one", "test.broken": {"error": "RuntimeError"}, "test.last": {"done": True}}
    assert ran == [("first", MOMENT), ("last", MOMENT)]


def test_a_task_or_job_is_registered_once_and_only_when_declared(make_app):
    app = make_app()
    with pytest.raises(ValueError, match="twice"):
        periodic.register_tasks(app, [first, first], rq_entry=CLOCK_TICK)
    with pytest.raises(TypeError, match="every_tick"):
        periodic.register_tasks(app, [lambda now: None], rq_entry=CLOCK_TICK)
    with pytest.raises(TypeError, match="job_function"):
        jobs.register_jobs(app, [lambda ctx: None], rq_entry=RUN_JOB)
    jobs.register_jobs(app, [declared_only], rq_entry=RUN_JOB)
    with app.app_context():
        assert "test.declared_only" in jobs.registered_kinds()


def test_the_embedded_clock_runs_start_up_hooks_once_then_ticks(make_app, monkeypatch):
    monkeypatch.setattr(periodic, "_embedded", None)
    app = make_app(JOBS_BACKEND="thread", SYNC_SCHEDULER_INTERVAL=0.05)
    app.extensions.pop(periodic.EXTENSION)
    periodic.register_tasks(app, [first, last], rq_entry=CLOCK_TICK)
    clock = periodic.start_embedded(app)
    try:
        deadline = time.monotonic() + 5
        while sum(1 for name, _ in ran if name == "last") < 2:
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)
    finally:
        clock.stop()
    names = [name for name, _ in ran]
    assert names[:3] == ["start-up", "first", "last"] and names.count("start-up") == 1
    assert ran[0][1] == clock.started_at
