"""Field encryption at its edges: the stored format piece by piece, which key rows a value may
name, the vault per request, key versions, and what an unreadable value looks like.

tests/core/test_crypto.py shows the main promises; these pin the details a slip would break
(each one a mutant that survived those tests: devtools/mutation, docs/testing.md).
"""

import base64
import hashlib
import hmac
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from clinic_app.core import crypto
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from tests.factories import make_org


@pytest.fixture
def org_ids(app_context):
    a, b = make_org("Harbour Physiotherapy"), make_org("Northside Mind Health")
    db.session.commit()
    return a.id, b.id


def _blob(stored: str) -> bytes:
    payload = stored.split(":", 2)[2]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))


def test_the_stored_value_is_prefix_key_id_and_nonce_with_sealed_text(org_ids):
    vault = crypto.vault_for(org_ids[0])
    for value in ("", "a", "ab", "abc", "jane@example.com", "ü" * 7):
        stored = vault.encrypt("patients.email", value)
        prefix, key_id, payload = stored.split(":", 2)
        assert (prefix, key_id) == ("v1", vault.current.id)
        assert "=" not in payload  # padding is left off and put back when reading
        assert len(_blob(stored)) == 12 + len(value.encode()) + 16  # nonce, text, tag
        assert vault.decrypt("patients.email", stored) == value
    assert vault.encrypt("patients.email", None) is None


def test_a_value_with_another_prefix_or_missing_parts_is_unreadable(org_ids):
    vault = crypto.vault_for(org_ids[0])
    stored = vault.encrypt("patients.email", "jane@example.com")
    assert vault.decrypt("patients.email", "v2" + stored[2:]) is crypto.UNREADABLE
    assert vault.decrypt("patients.email", stored.rsplit(":", 1)[0]) is crypto.UNREADABLE
    assert vault.decrypt("patients.email", "") is crypto.UNREADABLE


def test_a_value_names_only_a_data_key_of_its_own_organization(org_ids):
    first, second = crypto.vault_for(org_ids[0]), crypto.vault_for(org_ids[1])
    stored = first.encrypt("patients.email", "jane@example.com")
    _prefix, _key_id, payload = stored.split(":", 2)
    # the other organization's data key, and this organization's index key, are never used
    assert first.decrypt("patients.email", f"v1:{second.current.id}:{payload}") is crypto.UNREADABLE
    assert first.decrypt("patients.email", f"v1:{first.index_row.id}:{payload}") is crypto.UNREADABLE
    assert first.decrypt("patients.email", f"v1:key_nonexistent:{payload}") is crypto.UNREADABLE


def test_a_key_made_after_the_vault_is_loaded_from_the_database(org_ids):
    vault = crypto.vault_for(org_ids[0])
    newer = crypto.new_data_key(org_ids[0])
    stored = crypto.vault_for(org_ids[0]).encrypt("patients.email", "new@example.com")
    assert stored.startswith(f"v1:{newer.id}:")
    assert newer.id not in vault.keys
    assert vault.decrypt("patients.email", stored) == "new@example.com"  # read through _load_key


def test_key_versions_count_up_and_only_the_newest_is_current(org_ids):
    versions = [crypto.new_data_key(org_ids[0]).version for _ in range(3)]
    assert versions == [2, 3, 4]
    rows = db.session.scalars(
        select(crypto.OrganizationKey).where(
            crypto.OrganizationKey.organization_id == org_ids[0], crypto.OrganizationKey.purpose == crypto.DATA
        )
    ).all()
    assert sorted((row.version, row.is_current) for row in rows) == [(1, False), (2, False), (3, False), (4, True)]
    assert crypto.vault_for(org_ids[0]).current.version == 4
    assert crypto.new_data_key(org_ids[1]).version == 2  # each organization counts its own


def test_first_keys_are_made_once_per_organization(org_ids):
    crypto.ensure_keys(org_ids[0])
    crypto.ensure_keys(org_ids[0])
    rows = db.session.scalars(
        select(crypto.OrganizationKey).where(crypto.OrganizationKey.organization_id == org_ids[0])
    ).all()
    assert sorted((row.purpose, row.version, row.is_current) for row in rows) == [
        ("data", 1, True),
        ("index", 1, True),
    ]
    assert all(len(row.wrapped_key) == 12 + 32 + 16 for row in rows)


def test_a_request_builds_each_vault_once_and_a_new_key_replaces_it(app, org_ids):
    with app.test_request_context("/"):
        first = crypto.vault_for(org_ids[0])
        assert crypto.vault_for(org_ids[0]) is first
        assert crypto.vault_for(org_ids[1]) is not first
        crypto.new_data_key(org_ids[0])
        again = crypto.vault_for(org_ids[0])
        assert again is not first and again.current.version == 2
    # Outside a request there is no request memo; the process keeps the vault while the
    # organization's keys version stays, and a new key replaces it.
    kept = crypto.vault_for(org_ids[0])
    assert crypto.vault_for(org_ids[0]) is kept
    crypto.new_data_key(org_ids[0])
    assert crypto.vault_for(org_ids[0]) is not kept and crypto.vault_for(org_ids[0]).current.version == 3


def test_rewrap_counts_only_keys_under_another_master_key(app, org_ids):
    crypto.vault_for(org_ids[0])
    crypto.vault_for(org_ids[1])
    assert crypto.rewrap_all() == 0  # all under the current master key already


def test_key_id_of(org_ids):
    vault = crypto.vault_for(org_ids[0])
    stored = vault.encrypt("patients.email", "jane@example.com")
    assert vault.key_id_of(stored) == vault.current.id
    assert vault.key_id_of("v1:key_abc:x:y") == "key_abc"
    assert vault.key_id_of("v1:key_abc") is None  # one colon is not a stored value
    assert vault.key_id_of("") is None
    assert vault.key_id_of(None) is None


def test_blind_index_is_a_keyed_hash_of_field_and_value(org_ids):
    vault = crypto.vault_for(org_ids[0])
    index = vault.blind_index("patients.email", "jane@example.com")
    assert len(index) == 64 and int(index, 16) >= 0
    assert index != vault.blind_index("patients.phone", "jane@example.com")
    assert index != vault.blind_index("patients.email", "jane@example.org")
    assert vault.blind_index("patients.email", None) is None
    # The stored indexes of every existing row depend on this exact construction.
    expected = hmac.new(vault.index_key, b"patients.email|jane@example.com", hashlib.sha256).hexdigest()
    assert index == expected


def test_blind_indexes_computed_at_once_in_many_threads_agree(org_ids):
    vault = crypto.vault_for(org_ids[0])
    values = [f"person{n}@example.com" for n in range(200)]
    expected = [hmac.new(vault.index_key, f"patients.email|{v}".encode(), hashlib.sha256).hexdigest() for v in values]
    start = threading.Barrier(8)

    def compute() -> list[str | None]:
        start.wait()
        return [vault.blind_index("patients.email", v) for v in values]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [future.result() for future in [pool.submit(compute) for _ in range(8)]]
    assert all(result == expected for result in results)


def test_unreadable_is_falsy_and_says_so():
    assert not crypto.UNREADABLE
    assert bool(crypto.UNREADABLE) is False
    assert str(crypto.UNREADABLE) == "unreadable"
    assert repr(crypto.UNREADABLE) == "UNREADABLE"


def test_the_alarm_names_the_record_kind_field_and_reason(app, org_ids):
    vault = crypto.vault_for(org_ids[0])
    with app.test_request_context("/"):
        assert vault.decrypt("patients.notes", "v9:x:y", target_id="pat_x") is crypto.UNREADABLE
        from clinic_app.core.http import _run_after_transaction

        _run_after_transaction()
    db.session.commit()
    alarm = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "crypto.decryption_failed")).one()
    assert (alarm.organization_id, alarm.target_type, alarm.target_id) == (org_ids[0], "patients", "pat_x")
    assert (alarm.outcome, alarm.details) == ("alarm", {"field": "patients.notes", "reason": "ValueError"})


def test_encrypted_columns_are_registered_once():
    before = list(crypto.ENCRYPTED_COLUMNS)
    model = type("Model", (), {"__tablename__": "example_rows"})
    try:
        crypto.encrypted_column(model, "secret")
        crypto.encrypted_column(model, "secret")
        crypto.encrypted_column(model, "other", "example_rows.renamed")
        added = crypto.ENCRYPTED_COLUMNS[len(before) :]
        assert added == [
            crypto.EncryptedColumn(model, "secret", "example_rows.secret"),
            crypto.EncryptedColumn(model, "other", "example_rows.renamed"),
        ]
    finally:
        crypto.ENCRYPTED_COLUMNS[:] = before


def test_a_missing_master_key_refuses_to_encrypt_or_index_with_a_503(app, org_ids):
    from clinic_app.core.errors import Unavailable

    vault = crypto.vault_for(org_ids[0])
    db.session.commit()
    crypto.forget_unwrapped_keys()
    saved = app.config["FIELD_ENCRYPTION_KEYS"]
    app.config["FIELD_ENCRYPTION_KEYS"] = {"other": b"\0" * 32}
    try:
        with pytest.raises(Unavailable):
            vault.encrypt("patients.email", "jane@example.com")
        with pytest.raises(Unavailable):
            vault.blind_index("patients.email", "jane@example.com")
    finally:
        app.config["FIELD_ENCRYPTION_KEYS"] = saved
        crypto.forget_unwrapped_keys()


def test_every_payload_length_reads_back(org_ids):
    # base64 without its padding: each length of value leaves 0, 1 or 2 characters to put back
    vault = crypto.vault_for(org_ids[0])
    for length in range(24):
        stored = vault.encrypt("patients.notes", "x" * length)
        assert vault.decrypt("patients.notes", stored) == "x" * length, length


def test_the_alarm_is_kept_when_the_request_fails(app, org_ids):
    from clinic_app.core.http import _run_after_transaction

    vault = crypto.vault_for(org_ids[0])
    db.session.commit()
    with app.test_request_context("/"):
        assert vault.decrypt("patients.notes", "v1:key_x:AAAA") is crypto.UNREADABLE
        db.session.rollback()  # the request's own work fails after the unreadable value
        _run_after_transaction()
    alarms = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "crypto.decryption_failed")).all()
    assert [alarm.details["reason"] for alarm in alarms] == ["KeyError"]


@pytest.mark.parametrize("missing", ["data", "index", "both"])
def test_a_vault_makes_whichever_first_key_is_missing(org_ids, missing):
    purposes = {"data": [crypto.DATA], "index": [crypto.INDEX], "both": [crypto.DATA, crypto.INDEX]}[missing]
    crypto.vault_for(org_ids[0])
    db.session.execute(
        crypto.OrganizationKey.__table__.delete().where(
            crypto.OrganizationKey.organization_id == org_ids[0], crypto.OrganizationKey.purpose.in_(purposes)
        )
    )
    crypto.forget_unwrapped_keys()  # keys are never deleted: only a fresh process could meet this
    vault = crypto.vault_for(org_ids[0])
    assert (vault.current.purpose, vault.current.version, vault.index_row.purpose) == ("data", 1, "index")
    assert vault.decrypt("patients.email", vault.encrypt("patients.email", "jane@example.com")) == "jane@example.com"
    rows = db.session.scalars(
        select(crypto.OrganizationKey).where(crypto.OrganizationKey.organization_id == org_ids[0])
    ).all()
    assert sorted(row.purpose for row in rows) == ["data", "index"]


def test_the_first_data_key_made_by_rotation_is_version_one(org_ids):
    crypto.vault_for(org_ids[0])
    db.session.execute(
        crypto.OrganizationKey.__table__.delete().where(
            crypto.OrganizationKey.organization_id == org_ids[0], crypto.OrganizationKey.purpose == crypto.DATA
        )
    )
    assert crypto.new_data_key(org_ids[0]).version == 1
