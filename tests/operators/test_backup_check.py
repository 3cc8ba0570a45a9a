"""``flask backup-check`` against real backups (docs/operations.md).

A clinic's data is written through the services into a PostgreSQL database of its own, dumped
with ``pg_dump`` and restored with ``pg_restore`` into a fresh database; the check passes there
with the same master keys and fails, naming the organization and the key id, with a different
key under the same id or without the key id. The embedded default's SQLite file, copied with the
sqlite3 backup API, passes the same check. PostgreSQL at 127.0.0.1:5432 is always used (the
server of ``DATABASE_URL`` when that names one); missing client tools fail the test.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask_migrate import upgrade
from psycopg import sql
from sqlalchemy.engine import make_url

from clinic_app.core import audit, crypto
from clinic_app.core.sealed import SEALED_COLUMNS
from clinic_app.extensions import db
from clinic_app.figures import contacts
from clinic_app.health_data import analyses
from clinic_app.health_data import service as health_data
from clinic_app.health_data.insights import service as insights
from clinic_app.health_data.series import Series
from clinic_app.mfa import totp
from clinic_app.webhooks import endpoints
from devtools import create_app
from devtools.demo.appointments import seed_demo_appointments
from tests.conftest import DATABASE_URL
from tests.factories import build_tenants
from tests.patients.conftest import SENTINEL, leaked, register
from tests.reports.conftest import consultation, generate, register_with_intake, sign

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# What the populated installation must show as decrypted (more columns may hold rows too).
POPULATED = {
    "patients.date_of_birth_enc",
    "patients.email_enc",
    "patients.phones_enc",
    "patients.address_enc",
    "patients.notes_enc",
    "intake_records.presenting_problem_enc",
    "consultation_sessions.chief_complaint_enc",
    "consultation_sessions.notes_enc",
    "consultation_sessions.medication_plan_enc",
    "consultation_transcripts.segments_enc",
    "reports.current_sections_enc",
    "engagement_contacts.note_enc",
    "appointments.cancellation_reason_enc",
    "health_series_blocks.values_enc",
    "health_analyses.result_enc",
    "health_insights.content_enc",
    "webhook_endpoints.secret",
    "webhook_endpoints.previous_secret",
    "totp_factors.secret_sealed",
}


def _key(kid: str) -> str:
    return f"{kid}:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: install postgresql-client (Debian: apt-get install postgresql-client)")
    return path


def _server_url() -> Any:
    """The PostgreSQL server to make scratch databases on: DATABASE_URL's when it names one."""
    if DATABASE_URL and DATABASE_URL.startswith("postgresql"):
        return make_url(DATABASE_URL).set(database="postgres")
    return make_url(SERVER)


def _libpq(url: Any) -> str:
    """The same address in libpq's spelling (pg_dump, pg_restore)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Databases:
    """Scratch PostgreSQL databases, each named uniquely and dropped at the end."""

    def __init__(self) -> None:
        self.server = _server_url()
        self.names: list[str] = []

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(_libpq(self.server), autocommit=True)

    def create(self, label: str) -> str:
        name = f"clinic_backup_{label}_{secrets.token_hex(4)}"
        with self._admin() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.names.append(name)
        return self.server.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self._admin() as connection:
            for name in self.names:
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _config(database_url: str, keys: str, instance: Path) -> dict[str, Any]:
    return {
        "APP_ENV": "test",
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": secrets.token_urlsafe(32),
        "FIELD_ENCRYPTION_KEYS": keys,
        "DATABASE_URL": database_url,
        "JOBS_BACKEND": "eager",
        "RATELIMIT_STORAGE_URI": "memory://",
        "PASSWORD_HASH_COST": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
        "SYNC_SCHEDULER_ENABLED": "false",
    }


def _minute_counts(days: int) -> list[float | None]:
    """Two made-up days of wrist activity: quiet nights, busy days."""
    return [float(5 if (minute % 1440) < 420 else 300 + minute % 97) for minute in range(days * 1440)]


def populate(app: Flask) -> dict[str, Any]:
    """A clinic's working data written through the services: a patient with every demographic
    field, intake with symptoms, a consultation with transcript, a signed report, a contact note,
    bookings (one cancelled with a reason), analysed wearable data, a webhook endpoint whose secret
    was rotated, and an authenticator-app key."""
    with app.app_context():
        upgrade(revision="heads")
        tenants = build_tenants()
    organization, clinician = tenants.a, tenants.user("clinician")
    patient_id = register(app, organization, **SENTINEL)
    intake_patient = register_with_intake(app, organization)
    session_id = consultation(app, organization, clinician, intake_patient)
    sign(app, organization, clinician, generate(app, organization, clinician, session_id))
    with app.app_context():
        actor = audit.Actor(user_id=clinician.id)
        contacts.record_contact(organization.id, patient_id, outcome="left_message", note="Left a message", actor=actor)
        seed_demo_appointments()  # organization B: practitioners, patients, bookings, cancellations
        start = datetime(2026, 11, 1)
        series = Series(start, timedelta(minutes=1), _minute_counts(2))
        upload = health_data.record_series(
            organization.id, patient_id, series, channel="activity_counts", actor=actor, upload_source="api"
        )
        analysis = analyses.create_analysis(upload, channel="activity_counts", algorithm="cole_kripke", actor=actor)
        analyses.run_analysis(organization.id, analysis.id)
        insights.generate(organization.id, analysis.id, actor=actor)
        data = endpoints.validate_input("https://hooks.example.com/clinic", "Practice CRM", [])
        endpoint, _secret = endpoints.create_endpoint(organization.id, data, actor=actor)
        endpoints.rotate_secret(organization.id, endpoint.id, actor=actor)
        totp.start_enrolment(tenants.user("owner"))
        db.session.commit()
        return {"organizations": [tenants.a.id, tenants.b.id]}


def backup_check(database_url: str, keys: str, instance: Path, *args: str) -> tuple[int, str, str]:
    """Run ``flask backup-check`` against ``database_url`` with ``keys``: (exit code, stdout, stderr)."""
    app = create_app(_config(database_url, keys, instance))
    try:
        result = app.test_cli_runner().invoke(args=["backup-check", *args])
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def postgres_backup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A populated PostgreSQL database, its pg_dump (custom format) and a fresh database restored
    from it; every database dropped afterwards."""
    pg_dump, pg_restore = _tool("pg_dump"), _tool("pg_restore")
    folder = tmp_path_factory.mktemp("backup")
    keys = _key("t1")
    databases = Databases()
    try:
        source = databases.create("source")
        app = create_app(_config(source, keys, folder))
        facts = populate(app)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        dump = folder / "clinic.dump"
        subprocess.run([pg_dump, "--format=custom", "--file", str(dump), _libpq(make_url(source))], check=True)
        restored = databases.create("restored")
        subprocess.run(
            [pg_restore, "--no-owner", "--exit-on-error", "-d", _libpq(make_url(restored)), str(dump)], check=True
        )
        yield {"url": restored, "keys": keys, "dump": dump, "folder": folder, "databases": databases, **facts}
    finally:
        databases.drop_all()


def _report(stdout: str) -> dict[str, Any]:
    return json.loads(stdout)


def test_restored_dump_passes_with_the_same_keys(postgres_backup: dict[str, Any]) -> None:
    code, stdout, stderr = backup_check(
        postgres_backup["url"], postgres_backup["keys"], postgres_backup["folder"], "--json"
    )
    report = _report(stdout)
    assert code == 0, report["problems"]
    assert report["ok"] is True and report["problems"] == []
    assert report["organizations"] >= 2 and report["keys"]["unwrapped"] == report["keys"]["total"] >= 4
    by_column = {column["column"]: column for column in report["columns"]}
    registered = {
        f"{c.model.__tablename__}.{getattr(c.model, c.attribute).expression.name}" for c in crypto.ENCRYPTED_COLUMNS
    }
    assert registered | {c.name for c in SEALED_COLUMNS} == set(by_column)  # every encrypted column, once
    for name in POPULATED:
        column = by_column[name]
        assert column["status"] == "ok" and column["checked"] == column["ok"] >= 1 and column["failed"] == 0, column
    assert {c["status"] for c in by_column.values()} <= {"ok", "no rows"}
    assert not leaked(stdout + stderr)  # no decrypted value is printed


def test_the_command_in_its_own_process_prints_only_the_json(postgres_backup: dict[str, Any]) -> None:
    """As a script runs it: ``flask --app wsgi backup-check --json`` with the environment, stdout
    parsed as JSON (the app's log lines must not land in it)."""
    environment = {
        **os.environ,
        "APP_ENV": "test",
        "INSTANCE_PATH": str(postgres_backup["folder"]),
        "SECRET_KEY": secrets.token_urlsafe(32),
        "FIELD_ENCRYPTION_KEYS": postgres_backup["keys"],
        "DATABASE_URL": postgres_backup["url"],
        "JOBS_BACKEND": "thread",
        "SYNC_SCHEDULER_ENABLED": "false",
    }
    environment.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "backup-check", "--json", "--sample", "3"],
        cwd=Path(__file__).resolve().parents[2],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["values_checked"] >= len(POPULATED)
    assert not leaked(done.stdout + done.stderr)


def test_text_report_lists_every_column_and_no_value(postgres_backup: dict[str, Any]) -> None:
    code, stdout, stderr = backup_check(postgres_backup["url"], postgres_backup["keys"], postgres_backup["folder"])
    assert code == 0, stdout
    assert "Backup check passed" in stdout
    assert "webhook_endpoints.secret" in stdout and "totp_factors.secret_sealed" in stdout
    assert not leaked(stdout + stderr)
    assert postgres_backup["keys"].split(":", 1)[1] not in stdout + stderr  # nor the key


def test_a_different_key_under_the_same_id_fails_clearly(postgres_backup: dict[str, Any]) -> None:
    code, stdout, _stderr = backup_check(postgres_backup["url"], _key("t1"), postgres_backup["folder"])
    assert code == 1
    assert "Backup check FAILED" in stdout
    for organization_id in postgres_backup["organizations"]:
        assert (
            f"organization {organization_id} keys do not unwrap with the configured FIELD_ENCRYPTION_KEYS "
            "(key id t1 is configured but is a different key" in stdout
        )
    assert "totp_factors.secret_sealed: 1 of 1 sampled values do not open with master key t1" in stdout
    assert not leaked(stdout)


def test_a_missing_key_id_fails_clearly(postgres_backup: dict[str, Any]) -> None:
    code, stdout, stderr = backup_check(
        postgres_backup["url"], _key("t9"), postgres_backup["folder"], "--json", "--sample", "1"
    )
    report = _report(stdout)
    assert code == 1 and report["ok"] is False
    assert "Backup check FAILED: organization org_" in stderr
    organization_id = postgres_backup["organizations"][0]
    unknown = f"organization {organization_id} keys do not unwrap with the configured FIELD_ENCRYPTION_KEYS"
    assert f"{unknown} (key id t1 unknown)" in report["problems"]
    failed = {c["column"] for c in report["columns"] if c["status"] == "failed"}
    assert failed >= POPULATED  # nothing decrypts without the key
    assert all(c["checked"] <= 1 for c in report["columns"])
    blocks = next(c for c in report["columns"] if c["column"] == "health_series_blocks.values_enc")
    assert blocks["rows"] >= 2 and blocks["checked"] == 1  # --sample bounds the work, not the count
    sealed = next(c for c in report["columns"] if c["column"] == "totp_factors.secret_sealed")
    assert "sealed under master key id t1, which is not configured" in sealed["problems"][0]


def test_the_old_key_kept_beside_a_new_current_one_still_reads(postgres_backup: dict[str, Any]) -> None:
    """After a new master key is made current, a backup wrapped under the old one needs the old key id kept."""
    keys = f"{_key('t2')},{postgres_backup['keys']}"
    code, stdout, _stderr = backup_check(postgres_backup["url"], keys, postgres_backup["folder"])
    assert code == 0, stdout


def test_a_truncated_restore_fails(postgres_backup: dict[str, Any]) -> None:
    """A restore that stopped part-way: tables missing, or a key table emptied."""
    databases, dump, keys, folder = (postgres_backup[k] for k in ("databases", "dump", "keys", "folder"))
    pg_restore = _tool("pg_restore")
    partial = databases.create("partial")
    listing = subprocess.run([pg_restore, "--list", str(dump)], check=True, capture_output=True, text=True).stdout
    kept = "\n".join(line for line in listing.splitlines() if "webhook_endpoints" not in line)
    (folder / "partial.list").write_text(kept)
    subprocess.run(
        [pg_restore, "--no-owner", "-L", str(folder / "partial.list"), "-d", _libpq(make_url(partial)), str(dump)],
        check=True,
    )
    code, stdout, _stderr = backup_check(partial, keys, folder)
    assert code == 1
    assert "table(s) missing although the revision is the head" in stdout and "webhook_endpoints" in stdout

    keyless = databases.create("keyless")
    subprocess.run([_tool("pg_restore"), "--no-owner", "-d", _libpq(make_url(keyless)), str(dump)], check=True)
    organization_id = postgres_backup["organizations"][0]
    with psycopg.connect(_libpq(make_url(keyless)), autocommit=True) as connection:
        connection.execute("DELETE FROM organization_keys WHERE organization_id = %s", (organization_id,))
    code, stdout, _stderr = backup_check(keyless, keys, folder, "--json")
    report = _report(stdout)
    assert code == 1
    assert any(
        f"which organization {organization_id} does not have (a truncated restore?)" in p for p in report["problems"]
    )


def test_a_database_behind_or_ahead_of_the_code_fails(postgres_backup: dict[str, Any]) -> None:
    databases, dump, keys, folder = (postgres_backup[k] for k in ("databases", "dump", "keys", "folder"))
    other = databases.create("revision")
    subprocess.run([_tool("pg_restore"), "--no-owner", "-d", _libpq(make_url(other)), str(dump)], check=True)
    with psycopg.connect(_libpq(make_url(other)), autocommit=True) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    code, stdout, _stderr = backup_check(other, keys, folder)
    assert code == 1 and "revision ffffffffffff, which this code does not know" in stdout

    empty = databases.create("empty")
    code, stdout, _stderr = backup_check(empty, keys, folder)
    assert code == 1 and "the database has no Alembic revision" in stdout


def test_sqlite_copy_passes_and_an_empty_database_is_reported(tmp_path: Path) -> None:
    """The embedded default: the SQLite file copied with the sqlite3 backup API passes the check."""
    keys = _key("dev1")
    original, copy = tmp_path / "clinic.db", tmp_path / "copy.db"
    app = create_app(_config(f"sqlite:///{original}", keys, tmp_path))
    with app.app_context():
        upgrade(revision="heads")
        db.engine.dispose()
    code, stdout, _stderr = backup_check(f"sqlite:///{original}", keys, tmp_path)
    assert code == 0, stdout
    assert "The database holds no organizations yet" in stdout and "no rows" in stdout

    populate_sqlite = create_app(_config(f"sqlite:///{original}", keys, tmp_path))
    with populate_sqlite.app_context():
        tenants = build_tenants()
        organization_id = tenants.a.id
        endpoints.create_endpoint(
            organization_id, endpoints.validate_input("https://hooks.example.com/a", "", []), actor=audit.Actor()
        )
        totp.start_enrolment(tenants.user("owner"))
        db.session.commit()
    register(populate_sqlite, tenants.a, **SENTINEL)
    with populate_sqlite.app_context():
        db.engine.dispose()
    with sqlite3.connect(original) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    code, stdout, stderr = backup_check(f"sqlite:///{copy}", keys, tmp_path, "--json")
    report = _report(stdout)
    assert code == 0, report["problems"]
    by_column = {c["column"]: c for c in report["columns"]}
    for name in ("patients.email_enc", "patients.notes_enc", "webhook_endpoints.secret", "totp_factors.secret_sealed"):
        assert by_column[name]["status"] == "ok", by_column[name]
    assert not leaked(stdout + stderr)

    code, stdout, _stderr = backup_check(f"sqlite:///{copy}", _key("dev1"), tmp_path)
    assert code == 1 and f"organization {organization_id} keys do not unwrap" in stdout


def test_a_column_that_looks_encrypted_but_is_not_registered_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = _key("dev1")
    app = create_app(_config(f"sqlite:///{tmp_path / 'clinic.db'}", keys, tmp_path))
    with app.app_context():
        upgrade(revision="heads")
        db.engine.dispose()
    unregistered = [c for c in crypto.ENCRYPTED_COLUMNS if c.field != "patients.email"]
    monkeypatch.setattr(crypto, "ENCRYPTED_COLUMNS", unregistered)
    code, stdout, _stderr = backup_check(f"sqlite:///{tmp_path / 'clinic.db'}", keys, tmp_path)
    assert code == 1
    assert "column patients.email_enc looks encrypted but is not registered" in stdout


def test_the_check_writes_nothing(postgres_backup: dict[str, Any]) -> None:
    """Failed decryptions are the report, not audit alarms written into the database under test."""
    url = postgres_backup["url"]
    with psycopg.connect(_libpq(make_url(url))) as connection:
        before = connection.execute("SELECT count(*) FROM audit_events").fetchone()
    code, _stdout, _stderr = backup_check(url, _key("t1"), postgres_backup["folder"])
    assert code == 1
    with psycopg.connect(_libpq(make_url(url))) as connection:
        after = connection.execute("SELECT count(*) FROM audit_events").fetchone()
    assert before == after


def test_the_operations_guide_gives_the_commands_these_tests_run() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    for command in ("pg_dump --format=custom", "pg_restore --no-owner", "flask db upgrade", "flask backup-check"):
        assert command in docs
