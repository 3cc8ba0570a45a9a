"""Done-when 1: a receiver on 127.0.0.1 gets ``patient.created`` after an intake and verifies it
with the ``standardwebhooks`` library; retries with backoff and their log; the outbox survives a
worker that dies between the commit and the delivery; two workers never send one attempt twice."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from clinic_app.core import periodic
from clinic_app.core.audit import Actor
from clinic_app.core.jobs import queueing
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.patients import service as patients
from clinic_app.webhooks import delivery, signing
from clinic_app.webhooks.models import WebhookEndpoint
from tests.factories import access_token_for
from tests.intake.conftest import catalogue, fill_draft, submit_draft  # noqa: F401  (catalogue is a fixture)
from tests.webhooks.conftest import add_endpoint, attempts, deliveries


def _register(app, organization, **values):
    with app.app_context():
        data = patients.validate_for(organization.id, {"first_name": "Wanda", "last_name": "Hook", **values})
        patient = patients.create_patient(organization.id, data, actor=Actor())
        db.session.commit()
        return patient.id


def test_an_intake_sends_patient_created_signed_so_the_standard_library_verifies_it(
    app,
    tenants,
    login_as,
    receiver,
    catalogue,  # noqa: F811
):
    _endpoint_id, secret = add_endpoint(app, tenants.a, receiver.url)
    client = login_as("receptionist")
    patient_id = submit_draft(client, fill_draft(client, app))

    [request] = receiver.requests
    payload = Webhook(secret).verify(request["body"], request["headers"])
    assert payload["type"] == "patient.created"
    assert payload["data"] == {"patient_id": patient_id}
    # Thin: ids, type and time only; nothing the intake typed travels.
    assert set(payload) == {"type", "timestamp", "data"}
    assert b"Ada" not in request["body"] and b"Intake" not in request["body"]
    assert request["headers"]["webhook-id"].startswith("msg_")

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request["body"].replace(patient_id.encode(), b"pat_tampered"), request["headers"])
    # A correctly signed message whose timestamp is older than five minutes is refused too.
    old = int(time.time()) - 6 * 60
    stale = signing.headers([secret], request["headers"]["webhook-id"], old, request["body"])
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(request["body"], stale)


def test_a_receiver_failing_three_times_gets_it_at_the_fourth_attempt_and_the_log_shows_all_four(
    app, tenants, receiver
):
    add_endpoint(app, tenants.a, receiver.url)
    receiver.statuses = [500, 500, 500]
    _register(app, tenants.a)  # attempt 1, at once, by the job queued after the commit
    assert len(receiver.requests) == 1
    [row] = deliveries(app)
    assert row.status == "pending" and row.attempts == 1
    first_retry = row.next_attempt_at

    with app.app_context():
        assert delivery.deliver_due(first_retry - timedelta(seconds=1))["attempted"] == 0  # not due yet
        moment = first_retry
        for _ in range(3):
            assert delivery.deliver_due(moment)["attempted"] == 1
            [row] = deliveries(app)
            moment = row.next_attempt_at or moment
    assert len(receiver.requests) == 4
    [row] = deliveries(app)
    assert row.status == "delivered" and row.attempts == 4
    # Backoff grows: 5 s, then 5 min, then 30 min after the attempts that failed.
    assert [a.status_code for a in attempts(app)] == [500, 500, 500, 200]
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert len(ids) == 1  # the same message each time: receivers de-duplicate on it

    token = access_token_for(app, tenants.user("admin"))
    logs = app.test_client().get(f"/api/v1/webhooks/{tenants.a.id}/logs", headers={"Authorization": f"Bearer {token}"})
    [entry] = logs.get_json()["logs"]
    assert [a["status_code"] for a in entry["attempt_log"]] == [500, 500, 500, 200]
    assert entry["status"] == "delivered" and entry["attempts"] == 4


def test_backoff_spreads_the_attempts_over_about_three_days():
    total = sum(delivery.SCHEDULE, timedelta())
    assert timedelta(days=3) <= total <= timedelta(days=3, hours=6)
    assert list(delivery.SCHEDULE) == sorted(delivery.SCHEDULE)


def test_a_worker_killed_between_the_commit_and_the_delivery_loses_nothing(app, tenants, receiver, monkeypatch):
    add_endpoint(app, tenants.a, receiver.url)
    # The job queued after the commit never runs: its worker died.
    monkeypatch.setattr(queueing, "dispatch", lambda *_args, **_kwargs: None)
    patient_id = _register(app, tenants.a)
    assert receiver.requests == []
    [row] = deliveries(app)
    assert row.status == "pending"

    with app.app_context():  # a worker starts again: the clock's sweep delivers what was left
        periodic.tick(utcnow())
    [request] = receiver.requests
    assert json.loads(request["body"])["data"] == {"patient_id": patient_id}


def test_a_worker_killed_while_it_held_a_delivery_leaves_a_claim_that_lapses(app, tenants, receiver, monkeypatch):
    add_endpoint(app, tenants.a, receiver.url)
    monkeypatch.setattr(queueing, "dispatch", lambda *_args, **_kwargs: None)
    _register(app, tenants.a)
    [row] = deliveries(app)
    now = utcnow()
    with app.app_context():
        assert delivery._claim(row.id, now)  # the worker claims it, then dies before sending
        assert delivery.deliver_due(now)["attempted"] == 0  # the claim holds off the others
        assert delivery.deliver_due(now + delivery.CLAIM + timedelta(seconds=1))["delivered"] == 1
    assert len(receiver.requests) == 1


def test_a_rolled_back_change_sends_nothing(app, tenants, receiver):
    add_endpoint(app, tenants.a, receiver.url)
    with app.app_context():
        data = patients.validate_for(tenants.a.id, {"first_name": "Never", "last_name": "Saved"})
        patients.create_patient(tenants.a.id, data, actor=Actor())
        db.session.rollback()
        assert delivery.deliver_due(utcnow() + timedelta(days=1)) == {"attempted": 0, "delivered": 0}
    assert receiver.requests == [] and deliveries(app) == []


def test_two_workers_sweeping_at_once_send_each_event_once(app, tenants, receiver, monkeypatch):
    add_endpoint(app, tenants.a, receiver.url)
    monkeypatch.setattr(queueing, "dispatch", lambda *_args, **_kwargs: None)
    for number in range(6):
        _register(app, tenants.a, first_name=f"Racer{number}")
    now, barrier = utcnow(), threading.Barrier(2)
    results: list[dict[str, int]] = []

    def sweep() -> None:
        with app.app_context():
            barrier.wait()
            results.append(delivery.deliver_due(now))
            db.session.remove()

    workers = [threading.Thread(target=sweep) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sum(r["delivered"] for r in results) == 6
    assert len(receiver.requests) == 6
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 6


def test_events_reach_one_endpoint_in_the_order_they_happened(app, tenants, receiver, monkeypatch):
    add_endpoint(app, tenants.a, receiver.url)
    monkeypatch.setattr(queueing, "dispatch", lambda *_args, **_kwargs: None)
    made = [_register(app, tenants.a, first_name=f"Order{n}") for n in range(4)]
    with app.app_context():
        delivery.deliver_due(utcnow())
    assert [json.loads(r["body"])["data"]["patient_id"] for r in receiver.requests] == made


def test_an_endpoint_gets_only_the_event_types_it_chose(app, tenants, receiver):
    add_endpoint(app, tenants.a, receiver.url, event_types=["patient.archived"])
    patient_id = _register(app, tenants.a)
    assert receiver.requests == []
    with app.app_context():
        patients.archive_patient(tenants.a.id, patient_id, actor=Actor())
        db.session.commit()
    [request] = receiver.requests
    assert json.loads(request["body"])["type"] == "patient.archived"


def test_another_organizations_change_never_reaches_this_endpoint(app, tenants, receiver):
    add_endpoint(app, tenants.a, receiver.url)
    _register(app, tenants.b)
    assert receiver.requests == []


def test_the_clock_forgets_the_log_after_thirty_days_but_keeps_what_is_pending(app, tenants, receiver, monkeypatch):
    add_endpoint(app, tenants.a, receiver.url)
    _register(app, tenants.a)  # delivered at once
    monkeypatch.setattr(queueing, "dispatch", lambda *_args, **_kwargs: None)
    _register(app, tenants.a, first_name="Later")  # waits for a worker...
    with app.app_context():
        db.session.execute(db.update(WebhookEndpoint).values(enabled=False))  # ...and its endpoint is disabled
        db.session.commit()
    assert sorted(d.status for d in deliveries(app)) == ["delivered", "pending"]
    with app.app_context():
        assert periodic.tick(utcnow() + timedelta(days=29))["webhooks.deliver"]["purged"] == 0
        assert periodic.tick(utcnow() + timedelta(days=31))["webhooks.deliver"]["purged"] == 1
    assert [d.status for d in deliveries(app)] == ["pending"]
    assert attempts(app) == []
