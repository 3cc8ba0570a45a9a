"""What the database itself guarantees about synced rows, runs and the key, and the run tally."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.core import crypto, jobs
from clinic_app.core.key_rotation import ROTATE_KIND, start_rotation
from clinic_app.extensions import db
from clinic_app.sync.models import API_KEY_FIELD, FAILURES_KEPT, ClinikoConnection, ClinikoLink, SyncRun, Tally

STARTS = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def run_row(organization_id, status):
    return SyncRun(
        organization_id=organization_id,
        mode="comprehensive",
        status=status,
        steps=[],
        counts={},
        failures=[],
        warnings=[],
    )


def refused(*rows):
    """True when the database refuses to store ``rows`` together (the session is rolled back)."""
    db.session.add_all(rows)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return True
    db.session.rollback()
    return False


def test_public_ids_have_their_prefixes(app_context, tenants):
    rows = [
        Practitioner(organization_id=tenants.a.id, cliniko_id="1"),
        AppointmentType(organization_id=tenants.a.id, cliniko_id="1"),
        Appointment(organization_id=tenants.a.id, cliniko_id="1", starts_at=STARTS),
        run_row(tenants.a.id, "completed"),
        ClinikoLink(organization_id=tenants.a.id, resource="patients", cliniko_id="1", local_id="pat_x"),
    ]
    assert [row.id.split("_")[0] for row in rows] == ["prc", "aty", "apt", "sync", "clk"]


@pytest.mark.parametrize(
    "make",
    [
        lambda org, cid: Practitioner(organization_id=org, cliniko_id=cid),
        lambda org, cid: AppointmentType(organization_id=org, cliniko_id=cid),
        lambda org, cid: Appointment(organization_id=org, cliniko_id=cid, starts_at=STARTS),
        lambda org, cid: ClinikoLink(organization_id=org, resource="patients", cliniko_id=cid, local_id="pat_x"),
    ],
)
def test_a_cliniko_id_is_stored_once_per_organization(app_context, tenants, make):
    assert refused(make(tenants.a.id, "42"), make(tenants.a.id, "42"))
    assert not refused(make(tenants.a.id, "42"), make(tenants.b.id, "42"))


@pytest.mark.parametrize("model", [Practitioner, AppointmentType, Appointment])
def test_rows_made_here_need_no_cliniko_id(app_context, tenants, model):
    def local():
        return model(organization_id=tenants.a.id, **({"starts_at": STARTS} if model is Appointment else {}))

    assert not refused(local(), local())


def test_one_active_sync_per_organization_is_enforced_by_the_database(app_context, tenants):
    org = tenants.a.id
    assert refused(run_row(org, "running"), run_row(org, "starting"))
    assert refused(run_row(org, "running"), run_row(org, "running"))
    assert not refused(run_row(org, "running"), run_row(org, "completed"), run_row(org, "failed"))
    assert not refused(run_row(org, "running"), run_row(tenants.b.id, "running"))
    first = run_row(org, "running")
    db.session.add(first)
    db.session.commit()
    first.status = "completed"
    db.session.commit()
    assert not refused(run_row(org, "starting"))  # once the first finished, another may start


def test_one_connection_per_organization(app_context, tenants):
    def connection():
        return ClinikoConnection(organization_id=tenants.a.id, api_key_enc="x", key_hint="h", shard="au1")

    assert refused(connection(), connection())


def test_key_rotation_covers_the_api_key_and_appointment_text(app_context, tenants):
    registered = {(column.model, column.attribute, column.field) for column in crypto.ENCRYPTED_COLUMNS}
    assert (ClinikoConnection, "api_key_enc", API_KEY_FIELD) in registered
    assert (Appointment, "notes_enc", "appointments.notes") in registered
    assert (Appointment, "cancellation_reason_enc", "appointments.cancellation_reason") in registered

    org = tenants.a.id
    vault = crypto.vault_for(org)
    connection = ClinikoConnection(
        organization_id=org, api_key_enc=vault.encrypt(API_KEY_FIELD, "secret-key-au1"), key_hint="h", shard="au1"
    )
    visit = Appointment(
        organization_id=org, cliniko_id="7", starts_at=STARTS, notes_enc=vault.encrypt("appointments.notes", "Knee")
    )
    db.session.add_all([connection, visit])
    db.session.commit()
    old_key = vault.key_id_of(connection.api_key_enc)
    start_rotation()
    jobs.enqueue(ROTATE_KIND)
    db.session.commit()  # the eager worker re-encrypts
    stored = db.session.scalar(select(ClinikoConnection).execution_options(populate_existing=True))
    fresh = crypto.vault_for(org)
    assert fresh.key_id_of(stored.api_key_enc) != old_key
    assert fresh.decrypt(API_KEY_FIELD, stored.api_key_enc) == "secret-key-au1"
    note = db.session.get(Appointment, visit.id, populate_existing=True).notes_enc
    assert fresh.decrypt("appointments.notes", note) == "Knee"


def test_the_tally_adds_up_and_keeps_the_first_failures(app_context, tenants):
    run = run_row(tenants.a.id, "running")
    tally = Tally(run)
    tally.count("patients", "created", 3)
    tally.count("patients", "unchanged")
    for number in range(FAILURES_KEPT + 10):
        tally.fail("appointments", str(number), "no start time")
    tally.warn("short list")
    tally.warn("short list")
    tally.phones(3, 2, True)
    tally.write(run)
    assert (run.created, run.unchanged, run.failed, run.updated) == (3, 1, FAILURES_KEPT + 10, 0)
    assert run.counts["appointments"]["failed"] == FAILURES_KEPT + 10
    assert len(run.failures) == FAILURES_KEPT and run.failures[0]["cliniko_id"] == "0"
    assert run.warnings == ["short list"]
    assert (run.phones_total, run.phones_normalised, run.emails_dropped) == (3, 2, 1)
