"""The permission table in code agrees, cell by cell, with the one written by hand.

tests/access_oracle.py holds the role x permission table as docs/permissions.md states it. These
tests ask ``core.permissions`` for every cell and compare, so a permission given to or taken from
a role, a wildcard that matches too much or too little, or a changed role set fails here in a
fraction of a second (the route matrix, tests/test_access_matrix.py, shows the same through HTTP).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clinic_app.core import permissions
from tests import access_oracle as oracle

DOCS = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def test_the_app_and_the_oracle_name_the_same_roles_and_permissions():
    assert permissions.ROLES == oracle.ROLES
    missing = sorted(set(permissions.PERMISSIONS) - oracle.PERMISSIONS)
    extra = sorted(oracle.PERMISSIONS - set(permissions.PERMISSIONS))
    assert not missing, f"add these permissions to tests/access_oracle.py (ROLE_TABLE_TEXT): {missing}"
    assert not extra, f"these permissions are gone from the app: remove them from tests/access_oracle.py: {extra}"


@pytest.mark.parametrize("role", oracle.ROLES)
def test_each_role_holds_exactly_the_permissions_written_for_it(role):
    granted = {name for name in permissions.PERMISSIONS if permissions.role_grants(role, name)}
    assert sorted(granted - oracle.ROLE_TABLE[role]) == [], f"{role} holds more than tests/access_oracle.py says"
    assert sorted(oracle.ROLE_TABLE[role] - granted) == [], f"{role} lacks what tests/access_oracle.py says"
    assert sorted(permissions.expand(permissions.ROLE_PERMISSIONS[role])) == sorted(oracle.ROLE_TABLE[role])


def test_an_unknown_role_holds_nothing():
    assert not any(permissions.role_grants("superuser", name) for name in permissions.PERMISSIONS)
    assert not permissions.role_grants("", "patients:read")


def test_the_docs_table_is_the_oracle_table():
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith("| `")]
    docs: dict[str, set[str]] = {role: set() for role in oracle.ROLES}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        name = re.fullmatch(r"`([^`]+)`", cells[0])
        assert name is not None, row
        if ":" not in name.group(1):  # the job kinds' table further down
            continue
        for role, mark in zip(oracle.ROLES, cells[2:6], strict=True):
            assert mark in ("yes", "—"), row
            if mark == "yes":
                docs[role].add(name.group(1))
    assert docs == {role: set(held) for role, held in oracle.ROLE_TABLE.items()}


@pytest.mark.parametrize(
    ("granted", "needed", "expected"),
    [
        ([], "patients:read", False),
        (["patients:read"], "patients:read", True),
        (["patients:write"], "patients:read", False),
        (["*"], "audit:export", True),
        (["billing:*"], "billing:read", True),
        (["billing:*"], "billing:settings", True),
        (["billing:*"], "admin:billing", False),  # the prefix is the part before ":*", from the start
        (["admin:*"], "audit:export", False),
        (["admin:*"], "admin:audit", True),
        (["admin:*"], "admin", False),  # "admin:" is the prefix, colon included
        (["billing:read"], "billing:read_own", False),  # no permission implies a longer-named one
        (["billing:read_own"], "billing:read", False),
        (["billing:rea*"], "billing:read", False),  # only ":*" is a wildcard
        (["patients:read", "admin:*"], "admin:staff", True),  # any of several
        (["admin:*", "patients:read"], "patients:read", True),
        (["admin:*", "patients:read"], "clinical:read", False),
        ([":*"], "patients:read", False),
    ],
)
def test_grants_reads_wildcards_as_written(granted, needed, expected):
    assert permissions.grants(granted, needed) is expected
    assert permissions.grants(iter(granted), needed) is expected  # any iterable, read once


def test_expand_lists_concrete_permissions_in_table_order_from_any_iterable():
    billing = [name for name in permissions.PERMISSIONS if name.startswith("billing:")]
    assert permissions.expand(iter(["billing:*"])) == billing
    assert permissions.expand(["billing:*", "billing:read"]) == billing
    assert permissions.expand(["*"]) == list(permissions.PERMISSIONS)
    assert permissions.expand([]) == []
    assert permissions.expand(["not:a-permission"]) == []


def test_the_markdown_table_marks_each_cell_from_the_oracle():
    lines = permissions.markdown_table().splitlines()
    assert lines[0] == "| Permission | What it allows | Owner | Practice admin | Clinician | Receptionist |"
    assert lines[1] == "|---|---|---|---|---|---|"
    assert len(lines) == 2 + len(permissions.PERMISSIONS)
    for line, (name, text) in zip(lines[2:], permissions.PERMISSIONS.items(), strict=True):
        marks = " | ".join("yes" if name in oracle.ROLE_TABLE[role] else "—" for role in oracle.ROLES)
        assert line == f"| `{name}` | {text} | {marks} |"
