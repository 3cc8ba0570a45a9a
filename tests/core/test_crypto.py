"""Field encryption: AES-GCM with a key id in each value, bound to organization and field;
failures are 'unreadable' plus an alarm, never an exception; master keys rotate."""

import base64
import os

import pytest
from sqlalchemy import select

from clinic_app.core import crypto
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from tests.factories import make_org


def key_string(kid: str) -> str:
    return f"{kid}:" + base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture
def org_ids(app_context):
    a, b = make_org("Harbour Physiotherapy"), make_org("Northside Mind Health")
    db.session.commit()
    return a.id, b.id


def test_round_trip_with_key_id_in_the_ciphertext(org_ids):
    vault = crypto.vault_for(org_ids[0])
    stored = vault.encrypt("patients.email", "jane@example.com")
    assert stored.startswith(f"v1:{vault.current.id}:")
    assert "jane" not in stored
    assert vault.decrypt("patients.email", stored) == "jane@example.com"
    assert vault.encrypt("patients.email", "same") != vault.encrypt("patients.email", "same")  # random nonce
    assert vault.decrypt("patients.email", None) is None


def test_ciphertext_is_bound_to_its_organization_and_field(org_ids):
    first, second = crypto.vault_for(org_ids[0]), crypto.vault_for(org_ids[1])
    stored = first.encrypt("patients.email", "jane@example.com")
    assert first.decrypt("patients.phone", stored) is crypto.UNREADABLE
    assert second.decrypt("patients.email", stored) is crypto.UNREADABLE


def test_tampered_value_is_unreadable_with_an_alarm_not_an_exception(app, org_ids):
    vault = crypto.vault_for(org_ids[0])
    stored = vault.encrypt("patients.notes", "private")
    tampered = stored[:-4] + ("AAAA" if not stored.endswith("AAAA") else "BBBB")
    with app.test_request_context("/"):
        assert vault.decrypt("patients.notes", tampered, target_id="pat_x") is crypto.UNREADABLE
        assert vault.decrypt("patients.notes", "garbage") is crypto.UNREADABLE
        assert str(crypto.UNREADABLE) == "unreadable"
        from clinic_app.core.http import _run_after_transaction

        _run_after_transaction()
    db.session.commit()  # end this session's read snapshot
    alarms = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "crypto.decryption_failed")).all()
    assert len(alarms) == 2
    assert alarms[0].outcome == "alarm" and "private" not in str(alarms[0].details)


def test_blind_index_is_stable_per_organization_and_differs_between_them(org_ids):
    first, second = crypto.vault_for(org_ids[0]), crypto.vault_for(org_ids[1])
    assert first.blind_index("patients.email", "jane@example.com") == first.blind_index(
        "patients.email", "jane@example.com"
    )
    assert first.blind_index("patients.email", "jane@example.com") != second.blind_index(
        "patients.email", "jane@example.com"
    )
    assert first.blind_index("patients.email", "") is None


def test_keys_are_stored_wrapped_never_raw(org_ids):
    vault = crypto.vault_for(org_ids[0])
    row = db.session.get(crypto.OrganizationKey, vault.current.id)
    raw = crypto._raw(row)
    assert raw not in row.wrapped_key and len(row.wrapped_key) == 12 + 32 + 16


def test_master_key_rotation_rewraps_so_the_old_master_key_can_be_retired(app, org_ids):
    vault = crypto.vault_for(org_ids[0])
    stored = vault.encrypt("patients.email", "jane@example.com")
    db.session.commit()
    old = app.config["FIELD_ENCRYPTION_KEYS"]
    new_kid, new_key = key_string("k2").split(":", 1)
    app.config["FIELD_ENCRYPTION_KEYS"] = {new_kid: base64.urlsafe_b64decode(new_key), **old}
    assert crypto.rewrap_all() == 4  # data + index key of two organizations
    db.session.commit()
    app.config["FIELD_ENCRYPTION_KEYS"] = {new_kid: base64.urlsafe_b64decode(new_key)}
    crypto.forget_unwrapped_keys()
    assert crypto.vault_for(org_ids[0]).decrypt("patients.email", stored) == "jane@example.com"


def test_missing_master_key_makes_values_unreadable_not_a_crash(app, org_ids):
    vault = crypto.vault_for(org_ids[0])
    stored = vault.encrypt("patients.email", "jane@example.com")
    db.session.commit()
    crypto.forget_unwrapped_keys()
    app.config["FIELD_ENCRYPTION_KEYS"] = {"other": os.urandom(32)}
    with app.test_request_context("/"):
        assert crypto.vault_for(org_ids[0]).decrypt("patients.email", stored) is crypto.UNREADABLE
    crypto.forget_unwrapped_keys()


def test_new_data_key_keeps_old_values_readable(org_ids):
    vault = crypto.vault_for(org_ids[0])
    old = vault.encrypt("patients.email", "old@example.com")
    crypto.new_data_key(org_ids[0])
    db.session.flush()
    rotated = crypto.vault_for(org_ids[0])
    assert rotated.current.id != vault.current.id
    assert rotated.decrypt("patients.email", old) == "old@example.com"
    assert rotated.encrypt("patients.email", "new").startswith(f"v1:{rotated.current.id}:")


def _statements_during(action) -> list[str]:
    from sqlalchemy import event

    seen: list[str] = []

    def before(_connection, _cursor, statement, *_):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        action()
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return seen


def test_a_vault_is_kept_across_requests_until_the_organizations_keys_change(app, org_ids):
    """Issue 21: a request does not read the organization's keys again while its keys version is
    unchanged; a key made in another process (the row and the version written behind this
    process's back) is seen by the next request."""
    from clinic_app.orgs.models import Organization

    with app.test_request_context("/"):
        first = crypto.vault_for(org_ids[0])
    db.session.commit()
    with app.test_request_context("/"):
        read = _statements_during(lambda: crypto.vault_for(org_ids[0]))
    assert not [s for s in read if "organization_keys" in s]
    db.session.commit()

    # Another process rotates: a new current data key and the version moved, nothing said here.
    raw_new = os.urandom(32)
    kid, wrapped = crypto._wrap(raw_new, org_ids[0], crypto.DATA, 2)
    db.session.execute(
        crypto.OrganizationKey.__table__.update()
        .where(crypto.OrganizationKey.organization_id == org_ids[0], crypto.OrganizationKey.purpose == crypto.DATA)
        .values(is_current=False)
    )
    db.session.execute(
        crypto.OrganizationKey.__table__.insert().values(
            id="key_elsewhere0000000000000",
            organization_id=org_ids[0],
            purpose=crypto.DATA,
            version=2,
            master_key_id=kid,
            wrapped_key=wrapped,
            is_current=True,
            created_at=first.current and crypto.utcnow(),
        )
    )
    db.session.execute(
        Organization.__table__.update()
        .where(Organization.id == org_ids[0])
        .values(keys_version=Organization.keys_version + 1)
    )
    db.session.commit()
    db.session.expire_all()
    with app.test_request_context("/"):
        rotated = crypto.vault_for(org_ids[0])
    assert rotated.current.id == "key_elsewhere0000000000000" != first.current.id
    assert rotated.decrypt("patients.email", first.encrypt("patients.email", "kept@example.com")) == "kept@example.com"


def test_making_or_rewrapping_keys_moves_the_organizations_keys_version(app, org_ids):
    from clinic_app.orgs.models import Organization

    def version() -> int:
        db.session.expire_all()
        return db.session.get(Organization, org_ids[0]).keys_version

    before = version()
    crypto.new_data_key(org_ids[0])
    db.session.commit()
    assert version() == before + 1
    old = app.config["FIELD_ENCRYPTION_KEYS"]
    new_kid, new_key = key_string("k9").split(":", 1)
    app.config["FIELD_ENCRYPTION_KEYS"] = {new_kid: base64.urlsafe_b64decode(new_key), **old}
    try:
        crypto.rewrap_all()
        db.session.commit()
        assert version() == before + 2
    finally:
        app.config["FIELD_ENCRYPTION_KEYS"] = old
        crypto.forget_unwrapped_keys()
