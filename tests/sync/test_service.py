"""The sync service: connecting (and refusing bad keys), starting one run at a time, cancelling,
resuming, tenancy, stale runs, the schedule and the operator commands."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from clinic_app.core import audit, jobs
from clinic_app.core.audit import AuditEvent
from clinic_app.core.errors import Conflict, Invalid, NotFound, Unavailable
from clinic_app.core.jobs import queueing
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs.models import Organization
from clinic_app.sync import service
from clinic_app.sync.cliniko import mask_key
from clinic_app.sync.models import ClinikoConnection, SyncRun

FAST = {"requests_per_minute": 100_000, "backoff_base": 0.001, "backoff_cap": 0.01, "timeout": 5.0, "max_retries": 2}


@pytest.fixture
def app(make_app):
    return make_app(SYNC_CLIENT_OPTIONS=FAST)


def owner(tenants):
    return audit.Actor(user_id=tenants.user("owner").id)


def connect(tenants, server, organization=None):
    organization = organization or tenants.a
    connection = service.connect(
        organization.id, server.clinic.api_key, base_url_template=server.base_url_template, actor=owner(tenants)
    )
    db.session.commit()
    return connection


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


# --- connecting -------------------------------------------------------------------------------


def test_connect_stores_the_key_encrypted_and_shows_only_a_hint(app_context, tenants, cliniko_sandbox, caplog):
    key = cliniko_sandbox.clinic.api_key
    connection = connect(tenants, cliniko_sandbox)
    assert connection.shard == "au1" and connection.key_hint == mask_key(key) and key not in connection.key_hint
    assert connection.businesses == [
        {"id": b["id"], "name": b["display_name"], "time_zone": b["time_zone_identifier"]}
        for b in cliniko_sandbox.clinic.records("businesses")
    ]
    assert connection.time_zone == "Australia/Sydney" and connection.last_test_ok is True

    stored = db.session.execute(text("SELECT api_key_enc, key_hint FROM cliniko_connections")).one()
    assert stored.api_key_enc.startswith("v1:") and key not in stored.api_key_enc

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "cliniko.connected"))
    assert event.details["shard"] == "au1" and event.details["key_hint"] == connection.key_hint
    assert event.actor_user_id == tenants.user("owner").id
    everything = json.dumps(
        [e.details for e in db.session.scalars(select(AuditEvent))]
        + [service.connection_status(tenants.a.id), service.test_connection(tenants.a.id)],
        default=str,
    )
    assert key not in everything and key not in caplog.text
    with service.client_for(tenants.a.id) as client:
        assert client.test_connection()["shard"] == "au1"


def test_a_key_for_another_account_forgets_the_incremental_cursor(app_context, tenants, make_cliniko_sandbox):
    first = make_cliniko_sandbox(seed=1)
    connection = connect(tenants, first)
    connection.last_incremental_cursor = utcnow()
    db.session.commit()
    connect(tenants, first)  # the same account again (a new key for it, say): the cursor stays
    assert service.get_connection(tenants.a.id).last_incremental_cursor is not None
    connect(tenants, make_cliniko_sandbox(seed=2))  # other businesses: another account
    assert service.get_connection(tenants.a.id).last_incremental_cursor is None


def test_a_wrong_key_is_refused_in_words_and_nothing_is_stored(app_context, tenants, cliniko_sandbox):
    with pytest.raises(Invalid) as refused:
        service.connect(
            tenants.a.id,
            "not-the-right-key-au1",
            base_url_template=cliniko_sandbox.base_url_template,
            actor=owner(tenants),
        )
    assert refused.value.errors[0].field == "api_key"
    assert "the API key was refused" in refused.value.errors[0].message
    db.session.rollback()
    assert count(ClinikoConnection) == 0
    assert count(AuditEvent, AuditEvent.action == "cliniko.connected") == 0


def test_a_key_for_another_shard_is_explained(app_context, tenants, cliniko_sandbox):
    key = cliniko_sandbox.clinic.api_key.rsplit("-", 1)[0] + "-uk2"
    with pytest.raises(Invalid) as refused:
        service.connect(tenants.a.id, key, base_url_template=cliniko_sandbox.base_url_template, actor=owner(tenants))
    assert "this key is for uk2" in refused.value.errors[0].message


@pytest.mark.parametrize(
    ("key", "template", "field"),
    [
        ("", None, "api_key"),
        ("has spaces in it-au1", None, "api_key"),
        ("abc-au1", "ftp://127.0.0.1/{shard}/v1", "base_url"),
        ("abc-au1", "not a url", "base_url"),
    ],
)
def test_connect_checks_its_input_before_calling_cliniko(app_context, tenants, key, template, field):
    with pytest.raises(Invalid) as refused:
        service.connect(tenants.a.id, key, base_url_template=template, actor=owner(tenants))
    assert refused.value.errors[0].field == field


def test_an_unreachable_cliniko_is_unavailable(app_context, tenants):
    with pytest.raises(Unavailable, match="Could not reach Cliniko at that address"):
        service.connect(
            tenants.a.id, "some-key-au1", base_url_template="http://127.0.0.1:9/{shard}/v1", actor=owner(tenants)
        )


def test_test_connection_records_a_failure_instead_of_raising(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    assert service.test_connection(tenants.a.id)["ok"] is True
    cliniko_sandbox.clinic.api_key = "revoked-key-au1"
    result = service.test_connection(tenants.a.id, actor=owner(tenants))
    db.session.commit()
    assert result["ok"] is False and "refused" in result["error"]
    status = service.connection_status(tenants.a.id)
    assert status["credentials_valid"] is False and status["last_tested_at"] is not None


def test_disconnect_forgets_the_key(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    service.disconnect(tenants.a.id, actor=owner(tenants))
    db.session.commit()
    assert service.connection_status(tenants.a.id) == {
        "organization_id": tenants.a.id,
        "cliniko_connected": False,
        "running_sync_id": None,
    }
    assert count(AuditEvent, AuditEvent.action == "cliniko.disconnected") == 1
    with pytest.raises(Conflict):
        service.disconnect(tenants.a.id, actor=owner(tenants))
    with pytest.raises(Conflict):
        service.client_for(tenants.a.id)


def test_schedule_settings_are_checked(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    connection = service.configure_schedule(tenants.a.id, enabled=True, interval_minutes=30, actor=owner(tenants))
    assert connection.scheduled_sync_enabled and connection.sync_interval_minutes == 30
    with pytest.raises(Invalid):
        service.configure_schedule(tenants.a.id, enabled=True, interval_minutes=5, actor=owner(tenants))


# --- starting, one at a time ------------------------------------------------------------------


def test_start_checks_mode_and_connection(app_context, tenants, cliniko_sandbox):
    with pytest.raises(Conflict, match="not connected"):
        service.start_sync(tenants.a.id, "comprehensive", actor=owner(tenants))
    connect(tenants, cliniko_sandbox)
    with pytest.raises(Invalid):
        service.start_sync(tenants.a.id, "everything", actor=owner(tenants))
    with pytest.raises(Invalid):
        service.start_sync(tenants.a.id, "basic", actor=owner(tenants), trigger="whenever")


def test_a_second_start_returns_the_running_sync(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    first, started = service.start_sync(tenants.a.id, "comprehensive", actor=owner(tenants))
    second, again = service.start_sync(tenants.a.id, "incremental", actor=owner(tenants))
    assert started and not again and second.id == first.id
    assert count(SyncRun) == 1 and count(jobs.Job) == 1


def test_a_start_that_loses_a_race_gets_the_winner(app_context, tenants, cliniko_sandbox, monkeypatch):
    connect(tenants, cliniko_sandbox)
    winner, _ = service.start_sync(tenants.a.id, "comprehensive", actor=owner(tenants))
    real = service.running_run
    calls = []

    def not_yet(organization_id):  # the loser checked before the winner's row existed
        calls.append(organization_id)
        return None if len(calls) == 1 else real(organization_id)

    monkeypatch.setattr(service, "running_run", not_yet)
    loser, started = service.start_sync(tenants.a.id, "basic", actor=owner(tenants))
    assert not started and loser.id == winner.id
    assert count(SyncRun) == 1 and count(jobs.Job) == 1
    db.session.commit()  # the session is still usable: the refused insert raised nothing


def test_two_starts_at_the_same_moment_make_one_run(make_app, tenants, cliniko_sandbox, monkeypatch):
    """A real race: the second start's insert waits on the first's uncommitted row (the partial
    unique index), then inserts nothing and answers with the first run."""
    threaded = make_app(JOBS_BACKEND="thread", SYNC_CLIENT_OPTIONS=FAST)
    real = service.running_run
    answers = {}
    # The first run's job is held until the race is decided: run at once, it could end the run
    # (failed or finished) before the racer's insert gets its turn, and then a second run is right.
    held: list[str] = []
    real_dispatch = queueing.dispatch
    monkeypatch.setattr(queueing, "dispatch", lambda app, job_id: held.append(job_id))

    def second_start():
        with threaded.app_context():
            answers["run"], answers["started"] = service.start_sync(tenants.a.id, "basic", actor=owner(tenants))
            answers["run_id"] = answers["run"].id
            db.session.commit()

    with threaded.app_context():
        connect(tenants, cliniko_sandbox)
        first, started = service.start_sync(tenants.a.id, "comprehensive", actor=owner(tenants))
        assert started
        # The second caller checked before the first committed, so it goes on to insert.
        monkeypatch.setattr(service, "running_run", lambda org: None if "run" not in answers else real(org))
        racer = threading.Thread(target=second_start)
        racer.start()
        time.sleep(0.5)  # the racer is now waiting on the first run's row
        monkeypatch.setattr(service, "running_run", real)
        db.session.commit()
        racer.join(timeout=30)
        assert not racer.is_alive()
        assert answers["started"] is False and answers["run_id"] == first.id
        assert count(SyncRun) == 1
        for job_id in held:
            real_dispatch(threaded, job_id)
        jobs.wait_for_local_jobs(threaded)


def test_with_the_queue_down_nothing_is_written(make_app, tenants, cliniko_sandbox):
    down = make_app(JOBS_BACKEND="rq", REDIS_URL="redis://127.0.0.1:9/0", SYNC_CLIENT_OPTIONS=FAST)
    with down.app_context():
        connect(tenants, cliniko_sandbox)
        with pytest.raises(Unavailable):
            service.start_sync(tenants.a.id, "comprehensive", actor=owner(tenants))
        assert count(SyncRun) == 0 and count(jobs.Job) == 0
        db.session.commit()
        assert service.running_run(tenants.a.id) is None


def test_cancelling_a_queued_sync_stops_it_before_it_starts(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    run, _ = service.start_sync(tenants.a.id, "comprehensive", actor=owner(tenants))
    service.cancel_sync(tenants.a.id, run.id, actor=owner(tenants))
    db.session.commit()  # the job is dispatched, sees it was cancelled, and does nothing
    run = db.session.get(SyncRun, run.id, populate_existing=True)
    assert run.status == "cancelled" and run.started_at is None
    assert db.session.get(jobs.Job, run.job_id).status == jobs.CANCELLED
    assert count(ClinikoConnection) == 1 and service.running_run(tenants.a.id) is None
    with pytest.raises(Conflict, match="already finished"):
        service.cancel_sync(tenants.a.id, run.id, actor=owner(tenants))


def test_only_failed_or_cancelled_runs_resume(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    run, _ = service.start_sync(tenants.a.id, "patients-only", actor=owner(tenants))
    db.session.commit()
    assert db.session.get(SyncRun, run.id, populate_existing=True).status == "completed"
    with pytest.raises(Conflict, match="failed or cancelled"):
        service.resume_sync(tenants.a.id, run.id, actor=owner(tenants))


def test_another_organizations_sync_is_not_found(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    run, _ = service.start_sync(tenants.a.id, "comprehensive", actor=owner(tenants))
    db.session.commit()
    outsider = audit.Actor(user_id=tenants.outsider.id)
    for attempt in (
        lambda: service.get_run(tenants.b.id, run.id),
        lambda: service.cancel_sync(tenants.b.id, run.id, actor=outsider),
        lambda: service.resume_sync(tenants.b.id, run.id, actor=outsider),
        lambda: service.get_run(tenants.a.id, "sync_doesnotexist"),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert service.history(tenants.b.id) == []
    assert service.get_run(tenants.a.id, run.id).id == run.id


def test_history_and_progress(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    ids = []
    for mode in ("comprehensive", "incremental"):
        run, _ = service.start_sync(tenants.a.id, mode, actor=owner(tenants))
        db.session.commit()
        ids.append(run.id)
    summary = service.history_summary(tenants.a.id, limit=5)
    assert (summary["total_syncs"], summary["successful_syncs"], summary["failed_syncs"]) == (2, 2, 0)
    assert [run.id for run in summary["recent_syncs"]] == ids[::-1]
    assert summary["average_sync_duration_seconds"] is not None
    progress = service.progress_of(service.get_run(tenants.a.id, ids[0]))
    assert progress["status"] == "completed" and progress["progress_percentage"] == 100.0
    assert progress["completed_steps"] == progress["total_steps"] == 6
    assert progress["counts"]["patients"]["created"] == 60


def test_basic_reads_recent_appointments_and_patients_only_reads_none(app_context, tenants, cliniko_sandbox):
    clinic = cliniko_sandbox.clinic
    connect(tenants, cliniko_sandbox)
    run, _ = service.start_sync(tenants.a.id, "basic", actor=owner(tenants))
    db.session.commit()
    run = db.session.get(SyncRun, run.id, populate_existing=True)
    window = utcnow() - timedelta(days=30)
    recent = [
        r
        for r in clinic.records("individual_appointments")
        if datetime.fromisoformat(r["starts_at"].replace("Z", "+00:00")) >= window
    ]
    assert run.status == "completed" and run.counts["appointments"]["created"] == len(recent) < 150
    only, _ = service.start_sync(tenants.a.id, "patients-only", actor=owner(tenants))
    db.session.commit()
    only = db.session.get(SyncRun, only.id, populate_existing=True)
    assert only.steps == ["businesses", "patients", "statistics"] and "appointments" not in only.counts
    # Neither covers everything, so neither moves the incremental cursor.
    assert service.get_connection(tenants.a.id).last_incremental_cursor is None


# --- stale runs -------------------------------------------------------------------------------


def test_stale_runs_fail_but_queued_ones_wait(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    queued, _ = service.start_sync(tenants.a.id, "comprehensive", actor=owner(tenants))  # not committed: queued
    db.session.flush()
    later = utcnow() + timedelta(minutes=20)
    assert service.fail_stale_runs(later) == 0
    queued.status, queued.heartbeat_at = "running", utcnow()
    db.session.get(jobs.Job, queued.job_id).status = jobs.RUNNING
    assert service.fail_stale_runs(utcnow() + timedelta(minutes=14)) == 0
    assert service.fail_stale_runs(later) == 1
    assert queued.status == "failed" and "stopped responding" in queued.error_detail
    assert db.session.get(jobs.Job, queued.job_id).status == jobs.FAILED
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sync.failed")).all()) == 1
    db.session.rollback()  # never dispatched


# --- the schedule -----------------------------------------------------------------------------

SYDNEY_NOON = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)  # 12:00 in Sydney (daylight time, UTC+11)
SYDNEY_2_30 = datetime(2026, 3, 9, 15, 30, tzinfo=UTC)  # 02:30 in Sydney


def _scheduled(tenants, server, interval=60):
    connect(tenants, server)
    service.configure_schedule(tenants.a.id, enabled=True, interval_minutes=interval, actor=owner(tenants))
    db.session.commit()


def _past_run(tenants, mode, created_at, finished_at=None, status="completed"):
    run = SyncRun(
        organization_id=tenants.a.id,
        mode=mode,
        status=status,
        steps=[],
        counts={},
        failures=[],
        warnings=[],
        created_at=created_at,
        started_at=created_at,
        finished_at=finished_at or (created_at + timedelta(minutes=2) if status != "running" else None),
    )
    db.session.add(run)
    db.session.commit()
    return run


def test_nothing_is_scheduled_unless_enabled(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    assert service.due_for_scheduled_sync(SYDNEY_NOON) == []


def test_incremental_every_interval(app_context, tenants, cliniko_sandbox):
    _scheduled(tenants, cliniko_sandbox)
    assert service.due_for_scheduled_sync(SYDNEY_NOON) == [(tenants.a.id, "incremental")]
    _past_run(tenants, "incremental", SYDNEY_NOON - timedelta(minutes=30))
    assert service.due_for_scheduled_sync(SYDNEY_NOON) == []
    assert service.due_for_scheduled_sync(SYDNEY_NOON + timedelta(minutes=31)) == [(tenants.a.id, "incremental")]


def test_nothing_while_one_runs_or_just_after_one_finished(app_context, tenants, cliniko_sandbox):
    _scheduled(tenants, cliniko_sandbox, interval=15)
    _past_run(tenants, "basic", SYDNEY_NOON - timedelta(minutes=40), SYDNEY_NOON - timedelta(minutes=5))
    assert service.due_for_scheduled_sync(SYDNEY_NOON) == []  # finished 5 minutes ago
    assert service.due_for_scheduled_sync(SYDNEY_NOON + timedelta(minutes=6)) == [(tenants.a.id, "incremental")]
    _past_run(tenants, "incremental", SYDNEY_NOON - timedelta(minutes=1), status="running")
    assert service.due_for_scheduled_sync(SYDNEY_NOON + timedelta(hours=3)) == []


def test_a_nightly_comprehensive_at_two_local(app_context, tenants, cliniko_sandbox):
    _scheduled(tenants, cliniko_sandbox)
    assert service.due_for_scheduled_sync(SYDNEY_2_30) == [(tenants.a.id, "comprehensive")]
    _past_run(tenants, "comprehensive", SYDNEY_2_30 - timedelta(minutes=25))  # ran at 02:05 tonight
    later = SYDNEY_2_30 + timedelta(hours=1)
    assert service.due_for_scheduled_sync(later) == [(tenants.a.id, "incremental")]
    # A 02:00 missed by more than six hours waits for the next night.
    assert service.due_for_scheduled_sync(SYDNEY_2_30 + timedelta(hours=7)) == [(tenants.a.id, "incremental")]


def test_the_nightly_run_follows_the_organizations_time_zone(app_context, tenants, cliniko_sandbox):
    _scheduled(tenants, cliniko_sandbox)
    # 02:30 in Sydney is 23:30 the evening before in Perth.
    db.session.get(Organization, tenants.a.id).time_zone = "Australia/Perth"
    db.session.commit()
    assert service.due_for_scheduled_sync(SYDNEY_2_30) == [(tenants.a.id, "incremental")]
    assert service.due_for_scheduled_sync(SYDNEY_2_30 + timedelta(hours=3)) == [(tenants.a.id, "comprehensive")]


def test_the_nightly_run_on_the_night_clocks_go_forward(app_context, tenants, cliniko_sandbox):
    _scheduled(tenants, cliniko_sandbox)
    # 4 October 2026, Sydney: 02:00 becomes 03:00, so there is no 02:00; the run is due from 03:00.
    before = datetime(2026, 10, 3, 15, 59, tzinfo=UTC)  # 01:59 standard time
    after = datetime(2026, 10, 3, 16, 1, tzinfo=UTC)  # 03:01 daylight time
    assert service.due_for_scheduled_sync(before) == [(tenants.a.id, "incremental")]
    assert service.due_for_scheduled_sync(after) == [(tenants.a.id, "comprehensive")]


# --- operator commands ------------------------------------------------------------------------


@pytest.fixture
def runner(app):
    return app.test_cli_runner()  # the app registers clinic_app.sync.cli's commands


def test_cliniko_connect_reads_the_key_from_standard_input(app, runner, tenants, cliniko_sandbox):
    key = cliniko_sandbox.clinic.api_key
    args = ["cliniko-connect", "--org", tenants.a.id, "--base-url", cliniko_sandbox.base_url_template]
    result = runner.invoke(args=args, input=key + "\n")
    assert result.exit_code == 0, result.output
    assert mask_key(key) in result.output and key not in result.output
    assert "Harbourside Health (Australia/Sydney)" in result.output
    refused = runner.invoke(args=args, input="wrong-key-au1\n")
    assert refused.exit_code == 2 and "the API key was refused" in refused.output
    empty = runner.invoke(args=args, input="\n")
    assert empty.exit_code == 2


def test_sync_run_waits_and_reports(app, runner, tenants, cliniko_sandbox):
    with app.app_context():
        connect(tenants, cliniko_sandbox)
    result = runner.invoke(args=["sync", "run", "--org", tenants.a.id, "--mode", "patients-only", "--wait"])
    assert result.exit_code == 0, result.output
    assert "completed: 60 created" in result.output
    with app.app_context():
        run = service.history(tenants.a.id)[0]
        assert run.trigger == "cli" and run.created_by_id is None
    not_connected = runner.invoke(args=["sync", "run", "--org", tenants.b.id])
    assert not_connected.exit_code == 2 and "not connected" in not_connected.output
    stale = runner.invoke(args=["sync", "fail-stale"])
    assert stale.exit_code == 0 and "0 stale" in stale.output
