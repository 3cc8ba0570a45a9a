"""Each job kind names who may see and who may cancel its jobs; docs/permissions.md lists them."""

from pathlib import Path

import pytest

from clinic_app.core import jobs

ROOT = Path(__file__).resolve().parents[2]


def test_every_kind_of_the_app_declares_its_policy_and_the_doc_lists_it(app):
    table = jobs.policy_table(app=app)
    for kind in ("reports.generate", "sync.cliniko", "audit.verify", "keys.reencrypt"):
        assert f"| `{kind}` |" in table
    assert "| `reports.generate` | `clinical:read` | `reports:write` |" in table
    assert "| `sync.cliniko` | `sync:read` | `sync:run` |" in table
    assert "| `audit.verify` | `admin:audit` | `admin:audit` |" in table
    assert "| `keys.reencrypt` | nobody (not shown) | nobody |" in table
    assert table in (ROOT / "docs" / "permissions.md").read_text()


def test_read_and_cancel_follow_the_kinds_permissions(app_context):
    job = jobs.Job(kind="sync.cliniko", organization_id="org_x")
    watcher = {"sync:read"}.__contains__
    runner = {"sync:read", "sync:run"}.__contains__
    only_run = {"sync:run"}.__contains__
    assert jobs.may_read(job, watcher) and not jobs.may_cancel(job, watcher)
    assert jobs.may_read(job, runner) and jobs.may_cancel(job, runner)
    assert not jobs.may_read(job, only_run) and not jobs.may_cancel(job, only_run)  # cancel needs sight
    unknown = jobs.Job(kind="no.such.kind", organization_id="org_x")
    assert not jobs.may_read(unknown, lambda _permission: True)
    system = jobs.Job(kind="keys.reencrypt", organization_id=None)
    assert not jobs.may_read(system, lambda _permission: True)
    assert not jobs.may_cancel(system, lambda _permission: True)


def test_a_kind_cannot_be_cancellable_by_people_who_cannot_see_it():
    with pytest.raises(ValueError, match="read permission"):
        jobs.job_function("test.half_policy", cancel_permission="sync:run")
