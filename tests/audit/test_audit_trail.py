"""The audit trail: events are hash-chained per organization, ``flask audit-verify`` notices any
change made behind the application's back, PostgreSQL refuses changes outright, and the admin page
shows an organization its own events only — filtered and paged (its chain's verification is in
test_verification.py)."""

from __future__ import annotations

import contextlib
import html
import re
from datetime import UTC, datetime
from itertools import pairwise
from unittest import mock

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from clinic_app.auth.models import ApiToken
from clinic_app.core import audit
from clinic_app.core.audit import GENESIS, AuditEvent, verify_chains
from clinic_app.extensions import db
from tests.factories import api_token_for

ROW = re.compile(r'<tr id="event-([^"]+)" data-seq="(\d+)">')


def add_events(app, organization_id, count=1, *, action="test.event", at=None, **fields):
    """Record ``count`` events through the real append path; ``at`` fixes their timestamp."""
    clock = mock.patch.object(audit, "utcnow", lambda: at) if at else contextlib.nullcontext()
    with app.app_context(), clock:
        fields.setdefault("target_type", "test")
        ids = [audit.record(action, organization_id=organization_id, **fields).id for _ in range(count)]
        db.session.commit()
        return ids


def chain_of(app, chain):
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)).all()
        db.session.expunge_all()
        return events


def tamper(app, statement, **params):
    """Change audit rows with SQL, as someone with direct database access could."""
    with app.app_context(), db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # A superuser can skip ordinary triggers, the append-only one included, for this transaction.
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text(statement), params)


def verify_cli(app):
    return app.test_cli_runner().invoke(args=["audit-verify"])


def shown(response):
    """(event id, seq) of each row on the page or fragment, top to bottom."""
    return [(event_id, int(seq)) for event_id, seq in ROW.findall(response.get_data(as_text=True))]


def link(response, which):
    match = re.search(rf'data-page="{which}" href="([^"]+)"', response.get_data(as_text=True))
    return html.unescape(match.group(1)) if match else None


@pytest.fixture
def admin(login_as):
    return login_as("admin")


# --- the chain --------------------------------------------------------------------------------


def test_events_are_hash_chained_per_organization(app, tenants):
    add_events(app, tenants.a.id, 4)
    add_events(app, tenants.b.id, 2)
    for organization in (tenants.a, tenants.b):
        events = chain_of(app, organization.id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert events[0].prev_hash == GENESIS
        for earlier, later in pairwise(events):
            assert later.prev_hash == earlier.hash
        assert all(e.hash == e.compute_hash() for e in events)
        assert {e.organization_id for e in events} == {organization.id}


def test_events_are_chained_at_commit_in_the_order_they_were_recorded(app, tenants):
    with app.app_context():
        first = audit.record("test.first", organization_id=tenants.a.id)
        second = audit.record("test.second", organization_id=tenants.a.id)
        # Not chained yet: the chain's lock is taken only when the transaction commits.
        assert first.seq is None and second.seq is None
        db.session.commit()
        assert second.seq == first.seq + 1
        assert second.prev_hash == first.hash


def test_reading_the_trail_in_the_same_transaction_sees_events_not_yet_committed(app, tenants):
    with app.app_context():
        event = audit.record("test.pending", organization_id=tenants.a.id)
        found = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "test.pending"))
        assert found is not None and found.id == event.id and found.seq is not None
        db.session.commit()


def test_events_of_a_rolled_back_transaction_are_never_written(app, tenants):
    with app.app_context():
        audit.record("test.rolled_back", organization_id=tenants.a.id)
        db.session.rollback()
        audit.record("test.kept", organization_id=tenants.a.id)
        db.session.commit()
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert "test.kept" in actions and "test.rolled_back" not in actions


def test_audit_verify_passes_on_a_fresh_trail(app, tenants):
    add_events(app, tenants.a.id, 3)
    add_events(app, None, action="auth.login_failed")  # the system chain is checked too
    with app.app_context():
        total = len(db.session.scalars(select(AuditEvent.id)).all())
    result = verify_cli(app)
    assert result.exit_code == 0, result.output
    assert f"Audit trail intact: {total} events checked." in result.output


def test_audit_verify_names_an_event_altered_in_the_database(app, tenants):
    add_events(app, tenants.a.id, 3)
    victim = chain_of(app, tenants.a.id)[2]
    tamper(app, "UPDATE audit_events SET outcome = 'failure' WHERE id = :id", id=victim.id)

    result = verify_cli(app)
    assert result.exit_code == 1
    assert f"chain={tenants.a.id} seq={victim.seq} event={victim.id}: content does not match its hash" in result.output
    assert result.output.count("BROKEN") == 1


def test_audit_verify_notices_an_altered_event_whose_hash_was_recomputed(app, tenants):
    add_events(app, tenants.a.id, 3)
    events = chain_of(app, tenants.a.id)
    victim, following = events[2], events[3]
    victim.outcome = "failure"
    tamper(
        app,
        "UPDATE audit_events SET outcome = 'failure', hash = :hash WHERE id = :id",
        id=victim.id,
        hash=victim.compute_hash(),
    )

    result = verify_cli(app)
    assert result.exit_code == 1
    assert f"seq={following.seq} event={following.id}: previous-hash link is broken" in result.output


def test_deleting_an_event_from_the_middle_breaks_verification(app, tenants):
    add_events(app, tenants.a.id, 3)
    events = chain_of(app, tenants.a.id)
    victim, following = events[2], events[3]
    tamper(app, "DELETE FROM audit_events WHERE id = :id", id=victim.id)

    result = verify_cli(app)
    assert result.exit_code == 1
    assert f"seq={following.seq} event={following.id}: expected sequence {victim.seq}" in result.output
    assert f"seq={following.seq} event={following.id}: previous-hash link is broken" in result.output


def test_postgresql_refuses_to_update_or_delete_audit_events(app, tenants):
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            pytest.skip("The append-only trigger is PostgreSQL's; SQLite relies on the hash chain alone.")
    add_events(app, tenants.a.id)
    victim = chain_of(app, tenants.a.id)[0]
    with app.app_context():
        for statement in (
            "UPDATE audit_events SET outcome = 'failure' WHERE id = :id",
            "DELETE FROM audit_events WHERE id = :id",
        ):
            with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
                connection.execute(text(statement), {"id": victim.id})
    assert chain_of(app, tenants.a.id)[0].outcome == victim.outcome
    assert verify_cli(app).exit_code == 0


def test_verify_chains_can_check_one_organization(app, tenants):
    add_events(app, tenants.a.id, 2)
    add_events(app, tenants.b.id, 2)
    victim = chain_of(app, tenants.b.id)[1]
    tamper(app, "UPDATE audit_events SET target_id = 'changed' WHERE id = :id", id=victim.id)
    with app.app_context():
        checked, problems = verify_chains(chain=tenants.a.id)
        assert (checked, problems) == (len(chain_of(app, tenants.a.id)), [])
        checked, problems = verify_chains(chain=tenants.b.id)
        assert checked == len(chain_of(app, tenants.b.id))
        assert [(p.chain, p.seq, p.event_id) for p in problems] == [(tenants.b.id, victim.seq, victim.id)]
        assert verify_chains(chain="org_none") == (0, [])


# --- who may see the page ---------------------------------------------------------------------


def test_admin_sees_their_organizations_events_only(app, tenants, admin):
    add_events(app, tenants.a.id, target_id="marker-harbour")
    add_events(app, tenants.b.id, target_id="marker-northside")
    add_events(app, None, action="auth.login_failed", target_id="marker-system")
    theirs = {e.id for e in chain_of(app, tenants.a.id)}

    response = admin.get("/audit")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "marker-harbour" in page
    assert "marker-northside" not in page and "marker-system" not in page
    ids_shown = {event_id for event_id, _seq in shown(response)}
    assert ids_shown == theirs


def test_the_other_organizations_owner_sees_only_theirs(app, tenants, login_as):
    add_events(app, tenants.a.id, target_id="marker-harbour")
    add_events(app, tenants.b.id, target_id="marker-northside")
    page = login_as("outsider").get("/audit").get_data(as_text=True)
    assert "marker-northside" in page and "marker-harbour" not in page


@pytest.mark.parametrize("role", ["receptionist", "clinician"])
def test_roles_without_audit_permission_are_refused(login_as, role):
    response = login_as(role).get("/audit")
    assert response.status_code == 403
    assert 'id="audit-events"' not in response.get_data(as_text=True)


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/audit")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/audit"


# --- what the page shows ----------------------------------------------------------------------


def row_of(page, event_id):
    start = page.index(f'<tr id="event-{event_id}"')
    return page[start : page.index("</tr>", start)]


def test_rows_show_local_time_actor_action_target_outcome_and_request_id(app, tenants, admin):
    clinician = tenants.user("clinician")
    api_token_for(app, tenants.a.id, ["patients:read"], creator=tenants.user("owner"))
    with app.app_context():
        token_id = db.session.scalars(select(ApiToken.id)).one()
    # 23:30 UTC on 15 January is 10:30 the next morning in Sydney (daylight saving time).
    [by_person] = add_events(
        app,
        tenants.a.id,
        action="patient.viewed",
        actor=audit.Actor(user_id=clinician.id),
        target_type="patient",
        target_id="pat_example",
        outcome=audit.DENIED,
        at=datetime(2026, 1, 15, 23, 30, tzinfo=UTC),
    )
    [by_token] = add_events(app, tenants.a.id, action="patient.exported", actor=audit.Actor(token_id=token_id))
    [by_system] = add_events(app, tenants.a.id, action="system.sweep")

    page = admin.get("/audit").get_data(as_text=True)
    row = row_of(page, by_person)
    assert '<time datetime="2026-01-15T23:30:00+00:00">16 Jan 2026, 10:30:00 AEDT</time>' in row
    assert f"<td>{clinician.display_name}</td>" in row
    assert "<code>patient.viewed</code>" in row and "patient <code>pat_example</code>" in row and "Denied" in row
    assert "API token “Test integration”" in row_of(page, by_token)
    assert "System" in row_of(page, by_system)
    assert "Times are shown in Australia/Sydney" in page


def test_request_id_of_the_event_is_shown(app, tenants, login_as):
    # A refused request records its denial with the request's id.
    login_as("receptionist").get("/audit", headers={"X-Request-ID": "req-denied-42"})
    with app.app_context():
        denial = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).one()
    row = row_of(login_as("admin").get("/audit").get_data(as_text=True), denial.id)
    assert "<code>access.denied</code>" in row and "req-denied-42" in row and "Denied" in row


def test_newest_events_come_first(app, tenants, admin):
    add_events(app, tenants.a.id, 3)
    newest = chain_of(app, tenants.a.id)[-1].seq
    seqs = [seq for _id, seq in shown(admin.get("/audit"))]
    assert seqs == sorted(seqs, reverse=True)
    assert seqs[0] == newest


def test_htmx_request_gets_the_fragment_without_the_page(app, tenants, admin):
    add_events(app, tenants.a.id, target_id="marker-harbour")
    response = admin.get("/audit", headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in fragment and 'id="audit-events"' in fragment and "marker-harbour" in fragment
    assert "data-chain" not in fragment  # the chain check runs for the full page only
    assert "HX-Request" in response.headers["Vary"]


def test_htmx_history_restore_gets_the_full_page(admin):
    response = admin.get("/audit", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in response.get_data(as_text=True)


def test_the_filter_form_works_with_and_without_htmx(admin):
    page = admin.get("/audit").get_data(as_text=True)
    form = page[page.index('<form class="audit-filter-form"') : page.index("</form>", page.index("audit-filter-form"))]
    assert 'method="get" action="/audit"' in form
    assert 'hx-get="/audit"' in form and 'hx-target="#audit-events"' in form and 'hx-push-url="true"' in form
    assert 'type="submit"' in form


# --- filters ----------------------------------------------------------------------------------


def ids_for(response):
    return {event_id for event_id, _seq in shown(response)}


def test_filter_by_action_lists_only_this_organizations_actions(app, tenants, admin):
    wanted = add_events(app, tenants.a.id, 2, action="patient.viewed")
    add_events(app, tenants.a.id, action="patient.exported")
    add_events(app, tenants.b.id, action="northside.only")

    page = admin.get("/audit").get_data(as_text=True)
    assert '<option value="patient.viewed">' in page and '<option value="patient.exported">' in page
    assert "northside.only" not in page
    assert ids_for(admin.get("/audit?action=patient.viewed")) == set(wanted)


def test_filter_by_outcome(app, tenants, admin):
    denied = add_events(app, tenants.a.id, 2, outcome=audit.DENIED)
    add_events(app, tenants.a.id, outcome=audit.SUCCESS)
    assert ids_for(admin.get("/audit?outcome=denied")) == set(denied)


def test_filter_by_actor(app, tenants, admin):
    clinician = tenants.user("clinician")
    theirs = add_events(app, tenants.a.id, 2, actor=audit.Actor(user_id=clinician.id))
    add_events(app, tenants.a.id, actor=audit.Actor(user_id=tenants.user("owner").id))
    page = admin.get("/audit").get_data(as_text=True)
    assert f'<option value="{clinician.id}">' in page
    assert tenants.outsider.id not in page  # only people of this organization are offered
    assert ids_for(admin.get(f"/audit?actor={clinician.id}")) == set(theirs)


def test_filter_by_dates_uses_the_organizations_time_zone(app, tenants, admin):
    # Sydney is UTC+11 in January.
    late_on_15th = add_events(app, tenants.a.id, at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))  # 23:00 on the 15th
    morning_16th = add_events(app, tenants.a.id, at=datetime(2026, 1, 15, 23, 30, tzinfo=UTC))  # 10:30 on the 16th
    early_17th = add_events(app, tenants.a.id, at=datetime(2026, 1, 16, 13, 30, tzinfo=UTC))  # 00:30 on the 17th

    assert ids_for(admin.get("/audit?date_from=2026-01-16&date_to=2026-01-16")) == set(morning_16th)
    assert ids_for(admin.get("/audit?date_from=2026-01-01&date_to=2026-01-15")) == set(late_on_15th)
    from_17th = ids_for(admin.get("/audit?date_from=2026-01-17"))
    assert set(early_17th) <= from_17th and not (set(late_on_15th) | set(morning_16th)) & from_17th


def test_filters_combine(app, tenants, admin):
    clinician = tenants.user("clinician")
    wanted = add_events(
        app, tenants.a.id, action="patient.viewed", outcome=audit.DENIED, actor=audit.Actor(user_id=clinician.id)
    )
    add_events(
        app, tenants.a.id, action="patient.viewed", outcome=audit.SUCCESS, actor=audit.Actor(user_id=clinician.id)
    )
    add_events(app, tenants.a.id, action="patient.viewed", outcome=audit.DENIED)
    response = admin.get(f"/audit?action=patient.viewed&outcome=denied&actor={clinician.id}")
    assert ids_for(response) == set(wanted)


def test_no_matching_events_shows_the_empty_state(admin):
    response = admin.get("/audit?date_from=2001-01-01&date_to=2001-01-31")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "data-audit-empty" in page and "No events match these filters." in page
    assert shown(response) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date_from=2026-02-01&date_to=2026-01-01", "The end date must be on or after the start date."),
        ("date_from=2026-13-45", "Not a valid date value."),
        ("action=not.an.action", "Not a valid choice."),
        ("outcome=maybe", "Not a valid choice."),
    ],
)
def test_invalid_filters_are_explained(admin, query, message):
    for headers in ({}, {"HX-Request": "true"}):
        response = admin.get(f"/audit?{query}", headers=headers)
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
        assert shown(response) == []


def test_dates_at_the_ends_of_the_calendar_mean_no_bound(app, tenants, admin):
    add_events(app, tenants.a.id)
    expected = {e.id for e in chain_of(app, tenants.a.id)}
    response = admin.get("/audit?date_from=0001-01-01&date_to=9999-12-31")
    assert response.status_code == 200
    assert ids_for(response) == expected


# --- pages ------------------------------------------------------------------------------------


def test_pages_of_fifty_newest_first_with_next_and_previous(app, tenants, admin):
    add_events(app, tenants.a.id, 65, action="test.bulk")
    everything = [e.id for e in reversed(chain_of(app, tenants.a.id))]

    first = admin.get("/audit")
    assert [event_id for event_id, _ in shown(first)] == everything[:50]
    assert link(first, "newer") is None

    second = admin.get(link(first, "older"))
    assert [event_id for event_id, _ in shown(second)] == everything[50:100]
    back = admin.get(link(second, "newer"))
    assert [event_id for event_id, _ in shown(back)] == everything[:50]


def test_pages_keep_the_filters(app, tenants, admin):
    bulk = list(reversed(add_events(app, tenants.a.id, 65, action="test.bulk")))
    add_events(app, tenants.a.id, 5, action="test.other")

    first = admin.get("/audit?action=test.bulk", headers={"HX-Request": "true"})
    assert [event_id for event_id, _ in shown(first)] == bulk[:50]
    older = link(first, "older")
    assert "action=test.bulk" in older

    second = admin.get(older, headers={"HX-Request": "true"})
    assert "<html" not in second.get_data(as_text=True)
    assert [event_id for event_id, _ in shown(second)] == bulk[50:]
    assert link(second, "older") is None
    assert [event_id for event_id, _ in shown(admin.get(link(second, "newer")))] == bulk[:50]


def test_a_cursor_from_another_organization_is_ignored(app, tenants, admin):
    add_events(app, tenants.a.id, 3)
    theirs = add_events(app, tenants.b.id)[0]
    expected = {e.id for e in chain_of(app, tenants.a.id)}
    response = admin.get(f"/audit?before={theirs}")
    assert response.status_code == 200
    assert ids_for(response) == expected
