"""What ``flask backup-check`` found (``operators.backup_check``), as JSON for scripts or as lines
for a terminal. Only counts, ids and key ids: never a decrypted value, never a key."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SAMPLE = 100
EXAMPLES = 3  # row ids named per kind of failure: enough to find them, not a dump of the table


@dataclass
class ColumnResult:
    column: str  # the table and column as the database names them, e.g. "patients.email_enc"
    rows: int = 0  # rows holding a value
    checked: int = 0
    ok: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None  # the column could not be read at all

    @property
    def failed(self) -> int:
        return self.checked - self.ok

    @property
    def status(self) -> str:
        if self.error or self.failed:
            return "failed"
        return "ok" if self.rows else "no rows"

    def fail(self, reason: str, row_id: str) -> None:
        self.reasons[reason] += 1
        named = self.examples.setdefault(reason, [])
        if len(named) < EXAMPLES:
            named.append(row_id)

    def problems(self) -> list[str]:
        if self.error:
            return [f"{self.column}: {self.error}"]
        return [
            f"{self.column}: {count} of {self.checked} sampled values {reason} "
            f"(e.g. rows {', '.join(self.examples[reason])})"
            for reason, count in self.reasons.most_common()
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "status": self.status,
            "rows": self.rows,
            "checked": self.checked,
            "ok": self.ok,
            "failed": self.failed,
            "problems": self.problems(),
        }


@dataclass
class BackupReport:
    database: str = ""
    revision: str | None = None
    head: str | None = None
    master_key_ids: list[str] = field(default_factory=list)
    organizations: int = 0
    keys: int = 0
    keys_ok: int = 0
    wrapped_under: dict[str, int] = field(default_factory=dict)  # master key id -> keys wrapped by it
    sample: int = DEFAULT_SAMPLE
    columns: list[ColumnResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # schema, connection and key problems

    @property
    def all_problems(self) -> list[str]:
        return self.problems + [line for column in self.columns for line in column.problems()]

    @property
    def ok(self) -> bool:
        return not self.all_problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "database": self.database,
            "revision": self.revision,
            "head": self.head,
            "master_key_ids": self.master_key_ids,
            "organizations": self.organizations,
            "keys": {"total": self.keys, "unwrapped": self.keys_ok, "wrapped_under": self.wrapped_under},
            "sample": self.sample,
            "columns": [column.as_dict() for column in self.columns],
            "values_checked": sum(column.checked for column in self.columns),
            "problems": self.all_problems,
        }


def describe(report: BackupReport) -> list[str]:
    """The report as lines for a terminal (no value, no key: counts, ids and key ids only)."""
    lines = [
        f"Database: {report.database}",
        f"Revision: {report.revision or 'none'} (code's head: {report.head or '?'})",
        f"Configured master keys: {', '.join(report.master_key_ids)} (current: {report.master_key_ids[0]})",
    ]
    if report.revision is not None and report.revision == report.head:
        wrapped = ", ".join(f"{kid}: {count}" for kid, count in sorted(report.wrapped_under.items())) or "none"
        lines.append(
            f"Organizations: {report.organizations}; keys: {report.keys} ({report.keys_ok} unwrap; "
            f"wrapped under {wrapped})"
        )
        if not report.organizations:
            lines.append("The database holds no organizations yet: there is nothing to decrypt.")
    if report.columns:
        width = max(len(column.column) for column in report.columns)
        lines.append(f"{'column':<{width}}  {'rows':>8}  {'checked':>7}  {'ok':>7}  {'failed':>6}  status")
        for column in report.columns:
            lines.append(
                f"{column.column:<{width}}  {column.rows:>8}  {column.checked:>7}  {column.ok:>7}  "
                f"{column.failed:>6}  {column.status}"
            )
    checked = sum(column.checked for column in report.columns)
    if report.ok:
        lines.append(
            f"Backup check passed: {checked} values in {len(report.columns)} encrypted columns decrypted "
            "with the configured keys."
        )
    else:
        lines.append(f"Backup check FAILED ({len(report.all_problems)} problem(s)):")
        lines.extend(f"  - {problem}" for problem in report.all_problems)
    return lines
