"""The audit trail's mechanics at their edges: what the hash covers, how each chain starts and
grows, which facts an event takes from the request, and which rollbacks drop pending events.

tests/audit/ shows the trail's promises through its pages and commands; these pin the details a
slip in clinic_app/core/audit.py would break (the mutation gate's survivors; docs/testing.md).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from clinic_app.core import audit
from clinic_app.core.audit import GENESIS, SYSTEM_CHAIN, Actor, AuditEvent
from clinic_app.core.time import isoformat
from clinic_app.extensions import db

CANONICAL_FIELDS = (
    "id",
    "chain",
    "seq",
    "organization_id",
    "actor_user_id",
    "actor_token_id",
    "action",
    "target_type",
    "target_id",
    "patient_id",
    "outcome",
    "request_id",
    "ip_address",
    "details",
    "created_at",
    "prev_hash",
)


@pytest.fixture
def org_id(app_context):
    """A chain of its own (audit events name an organization id; no organization row is needed)."""
    return f"org_edges{secrets.token_hex(6)}"


def _stored(chain: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)))


def _full_event(org_id: str) -> AuditEvent:
    audit.record(
        "patient.viewed",
        organization_id=org_id,
        actor=Actor(user_id="usr_1", token_id="tok_1"),
        target_type="patient",
        target_id="pat_1",
        patient_id="pat_1",
        outcome=audit.DENIED,
        details={"b": 2, "a": [1, "x"]},
    )
    db.session.commit()
    return _stored(org_id)[-1]


def test_the_hash_is_sha256_of_sorted_compact_json_of_every_field(org_id):
    event = _full_event(org_id)
    content = {name: getattr(event, name) for name in CANONICAL_FIELDS}
    content["created_at"] = isoformat(event.created_at)  # the app's one timestamp format
    written = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    assert event.canonical() == written
    assert event.hash == hashlib.sha256(written).hexdigest() == event.compute_hash()


@pytest.mark.parametrize("field", CANONICAL_FIELDS)
def test_changing_any_one_field_changes_the_hash(org_id, field):
    event = _full_event(org_id)
    copy = AuditEvent(**{name: getattr(event, name) for name in (*CANONICAL_FIELDS, "hash")})
    assert copy.compute_hash() == event.hash
    changed = {
        "seq": event.seq + 1,
        "details": {"b": 3, "a": [1, "x"]},
        "created_at": datetime(2001, 1, 1, tzinfo=UTC),
    }.get(field, f"{getattr(event, field)}-changed")
    setattr(copy, field, changed)
    assert copy.compute_hash() != event.hash


def test_no_details_hash_as_empty_details(org_id):
    event = _full_event(org_id)
    copy = AuditEvent(**{name: getattr(event, name) for name in CANONICAL_FIELDS})
    copy.details = None
    empty = AuditEvent(**{name: getattr(event, name) for name in CANONICAL_FIELDS})
    empty.details = {}
    assert copy.compute_hash() == empty.compute_hash() != event.hash


def test_a_chain_starts_at_seq_1_from_the_genesis_hash_and_links_each_event(org_id):
    for number in range(3):
        audit.record("test.event", organization_id=org_id, details={"n": number})
    db.session.commit()
    events = _stored(org_id)
    assert [event.seq for event in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS == "0" * 64
    assert [event.prev_hash for event in events[1:]] == [event.hash for event in events[:-1]]
    assert [event.details for event in events] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_an_event_without_an_organization_joins_the_system_chain_with_defaults(org_id):
    before = len(_stored(SYSTEM_CHAIN))
    audit.record("login.failed", organization_id=None, target_id=org_id)
    db.session.commit()
    event = _stored(SYSTEM_CHAIN)[-1]
    assert (event.chain, event.organization_id, event.seq, event.target_id) == ("system", None, before + 1, org_id)
    assert (event.actor_user_id, event.actor_token_id) == (None, None)
    assert (event.outcome, event.details, event.target_type) == ("success", {}, None)
    assert (event.request_id, event.ip_address) == (None, None)  # no request: no request facts
    assert _stored(org_id) == []


def test_an_event_takes_the_request_id_and_address_of_its_request(app, org_id):
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.7"}):
        from flask import g

        g.request_id = "req-edge-1"
        audit.record("test.event", organization_id=org_id)
        db.session.commit()
    (event,) = _stored(org_id)
    assert (event.request_id, event.ip_address) == ("req-edge-1", "198.51.100.7")


def test_an_independent_event_outside_a_request_is_written_at_once(org_id):
    audit.record("test.alarm", organization_id=org_id, outcome=audit.ALARM, independent=True)
    db.session.rollback()  # the caller's work failing does not take it away
    (event,) = _stored(org_id)
    assert (event.action, event.outcome, event.seq) == ("test.alarm", "alarm", 1)


def test_an_independent_event_in_a_request_survives_the_requests_rollback(app, org_id):
    from clinic_app.core.http import _run_after_transaction

    with app.test_request_context("/"):
        audit.record("test.kept", organization_id=org_id, outcome=audit.DENIED, independent=True)
        audit.record("test.dropped", organization_id=org_id)
        db.session.rollback()
        _run_after_transaction()
    assert [(event.action, event.outcome) for event in _stored(org_id)] == [("test.kept", "denied")]


def test_rolling_back_a_savepoint_keeps_the_events_pending_in_the_outer_transaction(org_id):
    audit.record("test.before", organization_id=org_id)
    savepoint = db.session.begin_nested()
    audit.record("test.inside", organization_id=org_id)
    savepoint.rollback()
    db.session.commit()
    assert [event.action for event in _stored(org_id)] == ["test.before", "test.inside"]


def test_a_full_rollback_drops_every_pending_event(org_id):
    audit.record("test.dropped", organization_id=org_id)
    db.session.rollback()
    audit.record("test.kept", organization_id=org_id)
    db.session.commit()
    assert [(event.action, event.seq) for event in _stored(org_id)] == [("test.kept", 1)]


def test_recording_with_no_transaction_open_starts_one_that_a_rollback_ends(org_id):
    db.session.commit()
    assert not db.session().in_transaction()
    audit.record("test.dropped", organization_id=org_id)
    assert db.session().in_transaction()
    db.session.rollback()
    db.session.commit()
    assert _stored(org_id) == []


def test_reading_other_tables_does_not_chain_pending_events(org_id):
    from clinic_app.orgs.models import Organization

    audit.record("test.event", organization_id=org_id)
    db.session.scalars(select(Organization)).all()
    assert db.session.info.get("audit_pending")  # still waiting for the commit
    db.session.scalars(select(AuditEvent)).all()
    assert not db.session.info.get("audit_pending")
    db.session.commit()
    assert len(_stored(org_id)) == 1


def test_verify_chains_counts_every_event_of_every_chain(org_id):
    before, _problems = audit.verify_chains()
    for _ in range(3):
        audit.record("test.event", organization_id=org_id)
    audit.record("test.event", organization_id=None)
    db.session.commit()
    assert audit.verify_chains() == (before + 4, [])
    assert audit.verify_chains(chain=org_id) == (3, [])
    assert audit.verify_chains(chain=org_id, batch_size=2) == (3, [])
    with pytest.raises(ValueError, match="one chain"):
        audit.verify_chains(since=audit.START)


def test_a_lost_independent_event_is_logged_whole_without_its_chain_fields(org_id, monkeypatch, caplog):
    def refuse(session, event):
        raise RuntimeError("the database refused")

    monkeypatch.setattr(audit, "_append", refuse)
    with caplog.at_level("ERROR", logger="clinic_app"):
        event = audit.record("test.lost", organization_id=org_id, target_id="pat_9", independent=True)
    (lost,) = [record.lost for record in caplog.records if hasattr(record, "lost")]
    columns = {column.key for column in AuditEvent.__table__.columns}
    assert set(lost) == columns - {"seq", "prev_hash", "hash"}  # what was known before chaining
    assert (lost["id"], lost["action"], lost["target_id"]) == (event.id, "test.lost", "pat_9")
    assert lost["created_at"] == isoformat(event.created_at)  # as text, so the log line can carry it


def test_each_event_is_counted_for_the_metrics_by_outcome(org_id):
    from clinic_app.core import metrics

    def count(outcome: str) -> float:
        return metrics.AUDIT_APPENDS.labels(outcome)._value.get()

    def failures() -> float:
        return metrics.DECRYPTION_FAILURES._value.get()

    before = (count("denied"), count("success"), failures())
    audit.record("test.event", organization_id=org_id, outcome=audit.DENIED)
    audit.record("crypto.decryption_failed", organization_id=org_id, outcome=audit.ALARM)
    assert (count("denied"), count("success"), failures()) == (before[0] + 1, before[1], before[2] + 1)
    db.session.rollback()


def test_a_checkpoint_at_the_first_event_still_checks_that_event(app, org_id):
    from sqlalchemy import text

    for _ in range(2):
        audit.record("test.event", organization_id=org_id)
    db.session.commit()
    first = _stored(org_id)[0]
    since = audit.Checkpoint(first.seq, first.hash)
    assert audit.verify_chain(org_id, since=since).problems == []
    with db.engine.begin() as connection:  # behind the app's back, as someone with database access could
        if connection.dialect.name == "postgresql":  # a superuser can skip the append-only trigger
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(
            text("UPDATE audit_events SET action = 'test.changed' WHERE chain = :chain AND seq = 1"), {"chain": org_id}
        )
    report = audit.verify_chain(org_id, since=since)
    assert [(problem.seq, problem.problem) for problem in report.problems] == [
        (1, "the checkpoint's event was changed")
    ]


def test_verifying_up_to_a_seq_includes_that_event(org_id):
    for _ in range(4):
        audit.record("test.event", organization_id=org_id)
    db.session.commit()
    report = audit.verify_chain(org_id, until_seq=3)
    assert (report.checked, report.problems, report.verified_to.seq) == (3, [], 3)
    report = audit.verify_chain(org_id, since=report.verified_to, until_seq=4, batch_size=1)
    assert (report.checked, report.verified_to.seq) == (1, 4)
