"""Verifying the audit chain incrementally: checkpoints, the ``audit.verify`` job, the panel on the
audit page (which never reads the chain), the JSON endpoints, and ``flask audit-verify
--since-checkpoint``."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from clinic_app.audit import verification
from clinic_app.audit.verification import VERIFY_KIND, AuditVerification
from clinic_app.core import audit, jobs
from clinic_app.core.audit import GENESIS, START, AuditEvent, Checkpoint, verify_chain, verify_chains
from clinic_app.extensions import db
from tests.audit.test_audit_trail import add_events, chain_of, tamper
from tests.factories import access_token_for, page_csrf


@pytest.fixture
def admin(login_as):
    return login_as("admin")


def checkpoint_at(app, organization_id, position=-1):
    """A checkpoint at one of the chain's events (the last by default)."""
    event = chain_of(app, organization_id)[position]
    return Checkpoint(event.seq, event.hash)


def verify_job(app, tenants, role="admin"):
    """Start the verification as ``role`` of A and let the (eager) job run; the job's id."""
    with app.app_context():
        job, started = verification.start_verification(tenants.a.id, actor=audit.Actor(user_id=tenants.user(role).id))
        assert started
        db.session.commit()  # dispatches the job, which the eager backend runs before returning
        return job.id


def stored_checkpoint(app, organization_id):
    with app.app_context():
        row = db.session.scalar(select(AuditVerification).where(AuditVerification.chain == organization_id))
        if row is not None:
            db.session.expunge(row)
        return row


def events_named(app, organization_id, action):
    with app.app_context():
        return db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.chain == organization_id, AuditEvent.action == action)
            .order_by(AuditEvent.seq)
        ).all()


def job_rows(app):
    with app.app_context():
        rows = db.session.scalars(select(jobs.Job).where(jobs.Job.kind == VERIFY_KIND)).all()
        db.session.expunge_all()
        return rows


class RowCounter:
    """Counts the event rows the verifier reads, and the largest single read."""

    def __init__(self):
        self.rows, self.largest, self.real = 0, 0, audit._read_events

    def __call__(self, *args, **kwargs):
        events = self.real(*args, **kwargs)
        self.rows += len(events)
        self.largest = max(self.largest, len(events))
        return events


# --- verifying from a checkpoint ----------------------------------------------------------------


def test_from_a_checkpoint_only_the_events_after_it_are_read(app, tenants):
    add_events(app, tenants.a.id, 12)
    checkpoint = checkpoint_at(app, tenants.a.id)
    add_events(app, tenants.a.id, 3)
    newest = checkpoint_at(app, tenants.a.id)
    counter = RowCounter()
    with app.app_context(), mock.patch.object(audit, "_read_events", counter):
        report = verify_chain(tenants.a.id, since=checkpoint)
    assert (report.checked, report.problems, report.verified_to) == (3, [], newest)
    assert counter.rows == 1 + 3  # the checkpoint's own event, then the three after it


def test_events_are_read_in_batches_in_sequence_order(app, tenants):
    add_events(app, tenants.a.id, 7)
    total = len(chain_of(app, tenants.a.id))
    counter, seen = RowCounter(), []
    with app.app_context(), mock.patch.object(audit, "_read_events", counter):
        report = verify_chain(tenants.a.id, batch_size=3, on_batch=seen.append)
    assert report.checked == total and report.problems == []
    assert counter.largest == 3
    assert seen == [min(n, total) for n in range(3, total + 3, 3)]


def test_a_tampered_event_after_the_checkpoint_is_found(app, tenants):
    add_events(app, tenants.a.id, 3)
    checkpoint = checkpoint_at(app, tenants.a.id)
    add_events(app, tenants.a.id, 3)
    victim = chain_of(app, tenants.a.id)[-2]
    tamper(app, "UPDATE audit_events SET outcome = 'failure' WHERE id = :id", id=victim.id)
    with app.app_context():
        report = verify_chain(tenants.a.id, since=checkpoint)
        assert [(p.seq, p.event_id, p.problem) for p in report.problems] == [
            (victim.seq, victim.id, "content does not match its hash")
        ]
        assert report.verified_to == checkpoint  # nothing after a break counts as verified
        assert verify_chains(chain=tenants.a.id, since=checkpoint)[1] == report.problems


def test_a_checkpoint_vouches_for_the_events_before_it_only_as_they_were(app, tenants):
    add_events(app, tenants.a.id, 3)
    checkpoint = checkpoint_at(app, tenants.a.id)
    victim = chain_of(app, tenants.a.id)[1]
    tamper(app, "UPDATE audit_events SET outcome = 'failure' WHERE id = :id", id=victim.id)
    with app.app_context():
        assert verify_chain(tenants.a.id, since=checkpoint).problems == []  # not read again
        assert [p.seq for p in verify_chain(tenants.a.id).problems] == [victim.seq]  # the full check finds it


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("UPDATE audit_events SET target_id = 'changed' WHERE id = :id", "the checkpoint's event was changed"),
        ("DELETE FROM audit_events WHERE id = :id", "the checkpoint's event is missing"),
    ],
)
def test_the_checkpoints_own_event_is_checked_again(app, tenants, statement, problem):
    add_events(app, tenants.a.id, 3)
    checkpoint = checkpoint_at(app, tenants.a.id, -2)
    anchor = chain_of(app, tenants.a.id)[-2]
    tamper(app, statement, id=anchor.id)
    with app.app_context():
        report = verify_chain(tenants.a.id, since=checkpoint)
    assert [(p.seq, p.problem) for p in report.problems][:1] == [(checkpoint.seq, problem)]
    assert report.verified_to == checkpoint


def test_a_checkpoint_needs_its_chain(app):
    with app.app_context(), pytest.raises(ValueError, match="one chain"):
        verify_chains(since=START)


# --- the job ------------------------------------------------------------------------------------


def test_the_job_stores_a_checkpoint_and_the_next_run_starts_there(app, tenants):
    add_events(app, tenants.a.id, 5)
    first = verify_job(app, tenants)
    newest = checkpoint_at(app, tenants.a.id)  # the run's own "verification started" event included
    row = stored_checkpoint(app, tenants.a.id)
    assert (row.verified_seq, row.verified_hash) == (newest.seq, newest.hash)
    assert row.events_checked == newest.seq and row.problem_seq is None
    assert row.verified_by_id == row.checked_by_id == tenants.user("admin").id
    assert row.job_id == first and row.verified_at is not None

    add_events(app, tenants.a.id, 2)
    counter = RowCounter()
    with mock.patch.object(audit, "_read_events", counter):
        second = verify_job(app, tenants)
    row = stored_checkpoint(app, tenants.a.id)
    assert row.events_checked == 3  # two events and the second run's own start
    assert counter.rows == 1 + 3
    assert row.verified_seq == newest.seq + 3 and row.job_id == second
    [job] = [j for j in job_rows(app) if j.id == second]
    assert job.status == jobs.SUCCEEDED and job.progress == 100
    assert job.result == {
        "intact": True,
        "events_checked": 3,
        "verified_seq": row.verified_seq,
        "problem_seq": None,
        "problem": None,
    }


def test_a_broken_chain_keeps_the_old_checkpoint_and_raises_the_alarm(app, tenants, admin):
    add_events(app, tenants.a.id, 3)
    verify_job(app, tenants)
    before = stored_checkpoint(app, tenants.a.id)
    add_events(app, tenants.a.id, 3)
    victim = chain_of(app, tenants.a.id)[-2]
    tamper(app, "UPDATE audit_events SET target_id = 'changed' WHERE id = :id", id=victim.id)

    job_id = verify_job(app, tenants)
    row = stored_checkpoint(app, tenants.a.id)
    assert (row.verified_seq, row.verified_hash, row.verified_at) == (
        before.verified_seq,
        before.verified_hash,
        before.verified_at,
    )
    assert (row.problem_seq, row.problem_event_id, row.problem) == (
        victim.seq,
        victim.id,
        "content does not match its hash",
    )
    [alarm] = events_named(app, tenants.a.id, "audit.chain_broken")
    assert alarm.outcome == audit.ALARM and alarm.target_id == victim.id
    assert alarm.details == {
        "seq": victim.seq,
        "problem": "content does not match its hash",
        "problems": 1,
        "job_id": job_id,
    }

    page = admin.get("/audit").get_data(as_text=True)
    assert 'data-chain="broken"' in page and 'role="alert" data-chain-broken' in page
    assert f"Chain broken at event #{victim.seq}</strong> (content does not match its hash)" in page
    assert f"verified intact up to event #{before.verified_seq}" in page
    api = admin.get("/api/v1/audit/verification").get_json()
    assert api["state"] == "broken" and api["verified_seq"] == before.verified_seq
    assert api["problem"] == {"seq": victim.seq, "event_id": victim.id, "detail": "content does not match its hash"}


# --- the audit page -----------------------------------------------------------------------------


def refuse_to_read_the_chain(*_args, **_kwargs):
    raise AssertionError("the page read the chain's events")


def test_the_page_never_reads_the_chain(app, tenants, admin):
    add_events(app, tenants.a.id, 3)
    with (
        mock.patch.object(audit, "_read_events", refuse_to_read_the_chain),
        mock.patch.object(audit, "verify_chain", refuse_to_read_the_chain),
        mock.patch.object(verification, "verify_chain", refuse_to_read_the_chain),
    ):
        page = admin.get("/audit")
        panel = admin.get("/audit/verification", headers={"HX-Request": "true"})
    assert page.status_code == 200 and panel.status_code == 200
    assert "Not verified yet" in page.get_data(as_text=True)


def test_not_verified_yet_is_the_empty_state(app, tenants, admin):
    page = admin.get("/audit").get_data(as_text=True)
    assert 'data-chain="unverified"' in page and "Not verified yet." in page
    assert "data-verify-now" in page and 'hx-post="/audit/verify"' in page
    assert 'name="csrf_token"' in page[page.index('id="audit-verification"') :]


def test_the_button_starts_the_job_and_the_panel_polls_until_verified(app, tenants, admin):
    add_events(app, tenants.a.id, 4)
    token = page_csrf(admin, "/audit")
    response = admin.post("/audit/verify", headers={"HX-Request": "true", "X-CSRFToken": token})
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in fragment and 'id="audit-verification"' in fragment
    assert "Verification started" in fragment
    # Rendered as it was queued: the panel polls itself, and offers no second start.
    assert 'data-chain="running"' in fragment and 'hx-trigger="every 1s"' in fragment
    assert 'hx-get="/audit/verification"' in fragment and "<progress" in fragment
    assert "data-verify-now" not in fragment

    [job] = job_rows(app)
    assert job.status == jobs.SUCCEEDED and job.organization_id == tenants.a.id
    assert job.created_by_id == tenants.user("admin").id
    row = stored_checkpoint(app, tenants.a.id)
    polled = admin.get("/audit/verification", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in polled and 'data-chain="verified"' in polled
    assert f"Chain verified up to event #{row.verified_seq}" in polled
    assert f"by {tenants.user('admin').display_name};" in polled and "just now" in polled
    assert "every 1s" not in polled and "data-verify-now" in polled

    # Events recorded since (the page views, among others) are counted, not read.
    page = admin.get("/audit").get_data(as_text=True)
    with app.app_context():
        since = verification.latest_seq(tenants.a.id) - row.verified_seq
    assert since > 0 and f"<span data-events-since>{since - 1}</span> events since" in page  # its own view comes after


def test_the_panel_alone_is_a_page_too(admin):
    response = admin.get("/audit/verification")
    assert response.status_code == 200
    assert "<html" in response.get_data(as_text=True) and 'id="audit-verification"' in response.get_data(as_text=True)


def test_a_running_verification_is_shown_instead_of_starting_another(app, tenants, admin):
    with app.app_context():
        running = jobs.Job(kind=VERIFY_KIND, organization_id=tenants.a.id, status=jobs.RUNNING, progress=40, params={})
        db.session.add(running)
        db.session.commit()
        running_id = running.id
    page = admin.get("/audit").get_data(as_text=True)
    assert f'data-verification-job="{running_id}"' in page and 'value="40"' in page and "data-verify-now" not in page

    token = page_csrf(admin, "/audit")
    response = admin.post("/audit/verify", headers={"HX-Request": "true", "X-CSRFToken": token})
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200 and "already running" in fragment
    assert f'data-verification-job="{running_id}"' in fragment
    assert [j.id for j in job_rows(app)] == [running_id]
    assert events_named(app, tenants.a.id, "audit.verification_started") == []

    api = admin.post("/api/v1/audit/verify", headers={"X-CSRFToken": token})
    assert api.status_code == 202 and api.get_json()["job_id"] == running_id and api.get_json()["started"] is False
    assert [j.id for j in job_rows(app)] == [running_id]


def test_without_htmx_the_button_redirects_to_the_page(app, tenants, admin):
    token = page_csrf(admin, "/audit")
    response = admin.post("/audit/verify", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == "/audit"
    page = admin.get("/audit").get_data(as_text=True)
    assert "Verification started" in page and 'data-chain="verified"' in page


def test_the_button_needs_the_csrf_token(app, tenants, admin):
    assert admin.post("/audit/verify", headers={"HX-Request": "true"}).status_code == 400
    assert job_rows(app) == []


def test_a_failed_run_is_reported_and_the_button_offered_again(app, tenants, admin):
    with app.app_context():
        db.session.add(jobs.Job(kind=VERIFY_KIND, organization_id=tenants.a.id, status=jobs.FAILED, params={}))
        db.session.commit()
    page = admin.get("/audit").get_data(as_text=True)
    assert "data-verification-failed" in page and "did not finish" in page and "data-verify-now" in page


def test_the_job_queue_being_down_is_explained(app, tenants, admin):
    from clinic_app.core.errors import Unavailable

    token = page_csrf(admin, "/audit")
    with mock.patch.object(verification, "enqueue", side_effect=Unavailable("The job queue is unavailable.")):
        response = admin.post("/audit/verify", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 503
    assert "The verification could not be started." in response.get_data(as_text=True)
    assert job_rows(app) == [] and events_named(app, tenants.a.id, "audit.verification_started") == []


# --- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["receptionist", "clinician"])
def test_roles_without_audit_permission_are_refused(app, tenants, login_as, role):
    client = login_as(role)
    token = page_csrf(client, "/account")
    assert client.get("/audit/verification").status_code == 403
    assert client.post("/audit/verify", headers={"HX-Request": "true", "X-CSRFToken": token}).status_code == 403
    bearer = {"Authorization": f"Bearer {access_token_for(app, tenants.user(role))}"}
    assert client.post("/api/v1/audit/verify", headers=bearer).status_code == 403
    assert client.get("/api/v1/audit/verification", headers=bearer).status_code == 403
    assert job_rows(app) == []


def test_anonymous_is_sent_to_sign_in(client):
    assert client.get("/audit/verification").headers["Location"] == "/login?next=/audit/verification"
    assert client.post("/api/v1/audit/verify").status_code == 401


def test_another_organization_sees_and_starts_only_its_own(app, tenants, login_as):
    add_events(app, tenants.a.id, 2)
    verify_job(app, tenants)
    theirs = stored_checkpoint(app, tenants.a.id)
    outsider = login_as("outsider")

    panel = outsider.get("/audit/verification", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-chain="unverified"' in panel and f"event #{theirs.verified_seq}" not in panel
    token = page_csrf(outsider, "/audit")
    assert outsider.post("/audit/verify", headers={"HX-Request": "true", "X-CSRFToken": token}).status_code == 200
    assert {j.organization_id for j in job_rows(app)} == {tenants.a.id, tenants.b.id}
    assert stored_checkpoint(app, tenants.a.id).job_id == theirs.job_id  # A's checkpoint untouched

    # Naming A's organization explicitly: A does not exist for them.
    bearer = {"Authorization": f"Bearer {access_token_for(app, tenants.outsider)}", "X-Organization-ID": tenants.a.id}
    assert outsider.get("/api/v1/audit/verification", headers=bearer).status_code == 404
    assert outsider.post("/api/v1/audit/verify", headers=bearer).status_code == 404
    assert len(job_rows(app)) == 2


# --- auditing the auditors ----------------------------------------------------------------------


def test_each_full_page_load_is_recorded_once_without_fragments(app, tenants, admin):
    actor = tenants.user("admin").id
    admin.get("/audit")
    [viewed] = events_named(app, tenants.a.id, "audit.viewed")
    assert (viewed.actor_user_id, viewed.target_type, viewed.details) == (actor, "audit_trail", {})

    admin.get("/audit", headers={"HX-Request": "true"})
    admin.get("/audit?outcome=denied", headers={"HX-Request": "true"})
    admin.get("/audit/verification", headers={"HX-Request": "true"})
    assert len(events_named(app, tenants.a.id, "audit.viewed")) == 1

    admin.get(f"/audit?outcome=denied&actor={actor}&date_from=2026-01-01")
    latest = events_named(app, tenants.a.id, "audit.viewed")[-1]
    assert latest.details == {"outcome": "denied", "actor": actor, "date_from": "2026-01-01"}
    assert len(events_named(app, tenants.a.id, "audit.viewed")) == 2


def test_starting_a_verification_is_recorded(app, tenants, admin):
    token = page_csrf(admin, "/audit")
    admin.post("/audit/verify", headers={"HX-Request": "true", "X-CSRFToken": token})
    [job] = job_rows(app)
    [started] = events_named(app, tenants.a.id, "audit.verification_started")
    assert (started.actor_user_id, started.target_type, started.target_id) == (tenants.user("admin").id, "job", job.id)
    assert started.details == {"from_seq": 0}


# --- JSON ---------------------------------------------------------------------------------------


def test_api_starts_a_verification_and_reports_the_checkpoint(app, tenants):
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {access_token_for(app, tenants.user('admin'))}"}
    before = client.get("/api/v1/audit/verification", headers=bearer).get_json()
    assert before["state"] == "unverified" and before["verified_seq"] == 0 and before["verified_hash"] == GENESIS
    assert before["problem"] is None and before["running_job"] is None

    response = client.post("/api/v1/audit/verify", headers=bearer)
    body = response.get_json()
    [job] = job_rows(app)
    assert response.status_code == 202
    assert response.headers["Location"] == f"/api/v1/jobs/{job.id}"
    assert body == {
        "job_id": job.id,
        "started": True,
        "status": "queued",
        "job_url": f"/api/v1/jobs/{job.id}",
        "verification_url": "/api/v1/audit/verification",
    }
    after = client.get("/api/v1/audit/verification", headers=bearer).get_json()
    row = stored_checkpoint(app, tenants.a.id)
    assert after["state"] == "verified"
    assert (after["verified_seq"], after["verified_hash"]) == (row.verified_seq, row.verified_hash)
    assert after["verified_by_id"] == tenants.user("admin").id and after["verified_at"].endswith("Z")
    assert after["events_checked"] == row.events_checked and after["latest_seq"] >= row.verified_seq
    assert after["events_since"] == after["latest_seq"] - row.verified_seq


def test_api_endpoints_are_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    start = spec["paths"]["/api/v1/audit/verify"]["post"]
    assert start["x-permission"] == "admin:audit" and "202" in start["responses"]
    read = spec["paths"]["/api/v1/audit/verification"]["get"]
    assert read["x-permission"] == "admin:audit"
    assert read["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]


# --- the command and the schema -----------------------------------------------------------------


def test_audit_verify_since_checkpoint_reads_only_what_followed(app, tenants):
    add_events(app, tenants.a.id, 4)
    verify_job(app, tenants)
    early = chain_of(app, tenants.a.id)[1]
    tamper(app, "UPDATE audit_events SET outcome = 'failure' WHERE id = :id", id=early.id)
    runner = app.test_cli_runner()

    quick = runner.invoke(args=["audit-verify", "--since-checkpoint"])
    assert quick.exit_code == 0, quick.output
    assert re.search(r"Audit trail intact: \d+ events checked since the checkpoints of 1 chain\(s\)\.", quick.output)
    full = runner.invoke(args=["audit-verify"])
    assert full.exit_code == 1 and f"seq={early.seq} event={early.id}: content does not match its hash" in full.output

    add_events(app, tenants.a.id, 2)
    late = chain_of(app, tenants.a.id)[-1]
    tamper(app, "UPDATE audit_events SET outcome = 'failure' WHERE id = :id", id=late.id)
    quick = runner.invoke(args=["audit-verify", "--since-checkpoint"])
    assert quick.exit_code == 1 and f"seq={late.seq} event={late.id}: content does not match" in quick.output
    assert f"seq={early.seq} " not in quick.output


def test_the_model_matches_the_migrated_schema(app):
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), db.metadata)
        count = connection.scalar(select(func.count()).select_from(AuditVerification.__table__))
    assert [d for d in differences if "audit_verifications" in repr(d)] == []
    assert count == 0
