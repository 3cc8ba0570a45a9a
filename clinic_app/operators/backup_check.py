"""``flask backup-check``: does a restored database open with the configured keys?

A backup is only as good as the keys that read it. After a restore the check confirms, without
writing anything, that

1. the database answers and its schema is at the code's Alembic head, with every table present;
2. every organization's wrapped keys (``organization_keys``) unwrap with the configured
   ``FIELD_ENCRYPTION_KEYS``;
3. a sample of every encrypted column (each ``crypto.encrypted_column`` registration) and of every
   sealed secret (authenticator-app keys, ``core.sealed``) decrypts: the newest rows and random
   ones, up to ``sample`` values per column.

It never prints or returns a decrypted value or a key, only counts, key ids and row ids. Unlike
the app's own reads it writes no audit alarm for a value that does not open (the database under
test may be a scratch copy): the failure is the report. An empty table, or a database holding no
organizations yet, is reported as such and is not a failure.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from clinic_app.config import PROJECT_ROOT
from clinic_app.core import crypto, sealed
from clinic_app.extensions import db
from clinic_app.health import service as health
from clinic_app.operators.backup_report import DEFAULT_SAMPLE, BackupReport, ColumnResult
from clinic_app.orgs.models import Organization


def check_backup(sample: int = DEFAULT_SAMPLE) -> BackupReport:
    """Check the configured database against the configured master keys. Read-only (the session
    is rolled back); never raises for what it finds: every finding is in the report."""
    report = BackupReport(
        database=db.engine.url.render_as_string(hide_password=True),
        master_key_ids=list(current_app.config["FIELD_ENCRYPTION_KEYS"]),
        sample=sample,
    )
    try:
        if _schema_is_current(report):
            data_keys = _unwrap_keys(report)
            for column in crypto.ENCRYPTED_COLUMNS:
                report.columns.append(_check_column(column, data_keys, sample))
            for sealed_column in sealed.SEALED_COLUMNS:
                report.columns.append(_check_sealed(sealed_column, sample))
            report.problems.extend(_unregistered_columns())
    finally:
        db.session.rollback()
    return report


def _schema_is_current(report: BackupReport) -> bool:
    status = health.check_database()
    if not status.connected:
        report.problems.append(f"cannot connect to the database ({status.error}): check DATABASE_URL")
        return False
    with _quiet("alembic.runtime.migration"):  # its "Context impl" lines would land in --json output
        migrations = health.check_migrations()
    report.revision, report.head = migrations.current, migrations.head
    if migrations.error:
        report.problems.append(f"cannot read the database's Alembic revision ({migrations.error})")
    elif migrations.current is None:
        report.problems.append(
            "the database has no Alembic revision (alembic_version is missing or empty): nothing was restored "
            "into it, or it is not this app's database"
        )
    elif not migrations.up_to_date:
        report.problems.append(_revision_problem(migrations.current, migrations.head))
    if report.problems:
        return False
    present = set(inspect(db.engine).get_table_names())
    missing = sorted(name for name in db.metadata.tables if name not in present)
    if missing:
        report.problems.append(
            f"{len(missing)} table(s) missing although the revision is the head (a truncated or partial restore?): "
            + ", ".join(missing)
        )
        return False
    return True


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _revision_problem(current: str, head: str | None) -> str:
    script = ScriptDirectory(str(PROJECT_ROOT / "migrations"))
    unknown = []
    for revision in current.split(","):
        try:
            if script.get_revision(revision) is None:
                unknown.append(revision)
        except CommandError:
            unknown.append(revision)
    if unknown:
        return (
            f"the database is at revision {current}, which this code does not know (a backup from a newer "
            f"release, or another application's database); the code's head is {head}"
        )
    return (
        f"the database is at revision {current}, not the code's head {head}: run `flask db upgrade`, then check again"
    )


def _unwrap_keys(report: BackupReport) -> dict[tuple[str, str], bytes | None]:
    """Every data key by (organization id, key id): its raw key, or None when it does not unwrap
    (with a problem per organization whose keys do not)."""
    configured = current_app.config["FIELD_ENCRYPTION_KEYS"]
    report.organizations = db.session.scalar(select(func.count()).select_from(Organization)) or 0
    rows = db.session.scalars(
        select(crypto.OrganizationKey).order_by(crypto.OrganizationKey.organization_id, crypto.OrganizationKey.id)
    ).all()
    data_keys: dict[tuple[str, str], bytes | None] = {}
    unknown: dict[str, set[str]] = {}
    mismatched: dict[str, set[str]] = {}
    for row in rows:
        report.keys += 1
        report.wrapped_under[row.master_key_id] = report.wrapped_under.get(row.master_key_id, 0) + 1
        raw = None
        if row.master_key_id not in configured:
            unknown.setdefault(row.organization_id, set()).add(row.master_key_id)
        else:
            try:
                # The pure unwrap, not the per-process cache: a key unwrapped earlier in this process
                # from another database with the same row id must not answer for this one.
                raw = crypto._unwrap(row)
                report.keys_ok += 1
            except InvalidTag:
                mismatched.setdefault(row.organization_id, set()).add(row.master_key_id)
        if row.purpose == crypto.DATA:
            data_keys[(row.organization_id, row.id)] = raw
    for organization_id in sorted(unknown.keys() | mismatched.keys()):
        reasons = [f"key id {kid} unknown" for kid in sorted(unknown.get(organization_id, ()))]
        reasons += [
            f"key id {kid} is configured but is a different key: the wrong key under this id, or a backup of "
            "another installation"
            for kid in sorted(mismatched.get(organization_id, ()))
        ]
        report.problems.append(
            f"organization {organization_id} keys do not unwrap with the configured FIELD_ENCRYPTION_KEYS "
            f"({'; '.join(reasons)})"
        )
    return data_keys


def _sample_rows(model: Any, attribute: Any, extra: Any, sample: int) -> tuple[int, list[Any]]:
    """(rows holding a value, up to ``sample`` of them: the newest half, then random ones)."""
    holding = attribute.is_not(None)
    total = db.session.scalar(select(func.count()).select_from(model).where(holding)) or 0
    if not total:
        return 0, []
    columns = (model.id, extra, attribute)
    newest_first = getattr(model, "created_at", None)
    order = (newest_first.desc(), model.id) if newest_first is not None else (model.id.desc(),)
    chosen = {
        row[0]: row
        for row in db.session.execute(select(*columns).where(holding).order_by(*order).limit((sample + 1) // 2))
    }
    if len(chosen) < min(sample, total):
        for row in db.session.execute(select(*columns).where(holding).order_by(func.random()).limit(sample)):
            if len(chosen) >= sample:
                break
            chosen.setdefault(row[0], row)
    return total, list(chosen.values())


def _check_column(
    column: crypto.EncryptedColumn, data_keys: dict[tuple[str, str], bytes | None], sample: int
) -> ColumnResult:
    model = column.model
    attribute = getattr(model, column.attribute)
    result = ColumnResult(f"{model.__tablename__}.{attribute.expression.name}")  # type: ignore[attr-defined]
    try:
        result.rows, rows = _sample_rows(model, attribute, model.organization_id, sample)  # type: ignore[attr-defined]
    except SQLAlchemyError as error:
        db.session.rollback()
        result.error = f"could not be read ({type(error).__name__}): a column missing from the restore?"
        return result
    for row_id, organization_id, stored in rows:
        result.checked += 1
        reason = _open_field(column.field, organization_id, stored, data_keys)
        if reason is None:
            result.ok += 1
        else:
            result.fail(reason, row_id)
    return result


def _open_field(
    field_name: str, organization_id: str, stored: str, data_keys: dict[tuple[str, str], bytes | None]
) -> str | None:
    """None when ``stored`` decrypts (the plaintext is dropped at once), else why not."""
    prefix, _, rest = stored.partition(":")
    key_id, _, payload = rest.partition(":")
    if prefix != crypto.PREFIX or not key_id or not payload:
        return f"are not in the {crypto.PREFIX} ciphertext format"
    if (organization_id, key_id) not in data_keys:
        return f"name data key {key_id}, which organization {organization_id} does not have (a truncated restore?)"
    raw = data_keys[(organization_id, key_id)]
    if raw is None:
        return f"use data key {key_id} of organization {organization_id}, which does not unwrap"
    try:
        blob = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        # The same additional data the app binds (core.crypto.Vault): organization and field.
        AESGCM(raw).decrypt(blob[:12], blob[12:], f"{organization_id}|{field_name}".encode())
    except (ValueError, InvalidTag):
        return "do not decrypt with their data key (altered, or copied from another row or column)"
    return None


def _check_sealed(column: sealed.SealedColumn, sample: int) -> ColumnResult:
    result = ColumnResult(column.name)
    configured = current_app.config["FIELD_ENCRYPTION_KEYS"]
    model = column.model
    try:
        result.rows, rows = _sample_rows(
            model, getattr(model, column.attribute), getattr(model, column.owner_attribute), sample
        )
    except SQLAlchemyError as error:
        db.session.rollback()
        result.error = f"could not be read ({type(error).__name__}): a column missing from the restore?"
        return result
    for row_id, owner_id, stored in rows:
        result.checked += 1
        kid = stored.split(":", 2)[1] if stored.count(":") >= 2 else ""
        try:
            sealed.unseal(column.purpose, owner_id, stored)
        except sealed.SealBroken:
            if kid and kid not in configured:
                result.fail(f"are sealed under master key id {kid}, which is not configured", row_id)
            else:
                result.fail(f"do not open with master key {kid or '?'} (a different key under this id?)", row_id)
            continue
        result.ok += 1
    return result


def _unregistered_columns() -> list[str]:
    """Columns named like ciphertext that no registration covers: they would go unchecked."""
    registered = [*crypto.ENCRYPTED_COLUMNS, *sealed.SEALED_COLUMNS]
    covered = {(c.model.__tablename__, getattr(c.model, c.attribute).expression.name) for c in registered}  # type: ignore[attr-defined]
    return [
        f"column {table.name}.{column.name} looks encrypted but is not registered (crypto.encrypted_column): "
        "it was not checked"
        for table in db.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith(("_enc", "_sealed")) and (table.name, column.name) not in covered
    ]
