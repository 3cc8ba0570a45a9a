"""Operator commands: ``flask access-audit``, ``flask worker``, ``flask create-org`` ... (the demo and scale
seeders and the sandbox Cliniko are development tools: ``devtools.register``)."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def register_cli(app: Flask) -> None:
    from clinic_app.sync.cli import register as register_sync_commands  # flask cliniko-connect, flask sync ...

    register_sync_commands(app)
    from clinic_app.operators.cli import register as register_operator_commands  # flask create-operator ...

    register_operator_commands(app)

    @app.cli.command("create-org")
    @click.argument("name")
    @click.option("--time-zone", default="UTC", show_default=True, help="IANA time zone, e.g. Australia/Sydney.")
    @click.option("--region", default="AU", show_default=True, help="Two-letter country code for phone numbers.")
    def create_org(name: str, time_zone: str, region: str) -> None:
        """Create an organization and print its id."""
        from clinic_app.core.errors import Invalid
        from clinic_app.extensions import db
        from clinic_app.orgs import service as orgs

        try:
            organization = orgs.create_organization(name=name, time_zone=time_zone, region=region)
        except Invalid as error:
            _fail(error.detail)
        db.session.commit()
        click.echo(organization.id)

    @app.cli.command("create-user")
    @click.option("--org", "organization_id", required=True, help="Organization id (from create-org).")
    @click.option("--role", required=True, type=click.Choice(["owner", "admin", "clinician", "receptionist"]))
    @click.option("--email", required=True)
    @click.option("--name", "display_name", default=None, help="Display name (defaults to the e-mail's local part).")
    def create_user(organization_id: str, role: str, email: str, display_name: str | None) -> None:
        """Create a user with a role; the password is read from standard input."""
        from clinic_app.accounts import service as accounts
        from clinic_app.core import audit
        from clinic_app.core.errors import Conflict, Invalid, NotFound
        from clinic_app.extensions import db
        from clinic_app.orgs import service as orgs

        password = sys.stdin.readline().rstrip("\n")
        if not password:
            _fail('Give the password on standard input, e.g. `read -rs PW; echo "$PW" | flask create-user ...`.')
        try:
            organization = orgs.get_organization(organization_id)
            user = accounts.find_by_email(email)
            if user is None:
                user = accounts.create_user(
                    email=email, display_name=display_name or email.split("@")[0], password=password
                )
            orgs.add_membership(organization_id=organization.id, user=user, role=role, actor=audit.Actor())
        except (Invalid, Conflict, NotFound) as error:
            _fail(error.detail)
        db.session.commit()
        click.echo(user.id)

    @app.cli.command("audit-verify")
    @click.option(
        "--since-checkpoint",
        is_flag=True,
        help="Start each chain at its last verification checkpoint instead of its first event (quicker; "
        "trusts that the events before the checkpoint were intact when it was taken).",
    )
    def audit_verify(since_checkpoint: bool) -> None:
        """Check every audit chain from its first event; exit 1 if any event was altered, removed or
        reordered. Read-only: checkpoints are moved only by the audit page's verification job."""
        from sqlalchemy import select

        from clinic_app.audit.verification import AuditVerification
        from clinic_app.core.audit import START, AuditEvent, verify_chain
        from clinic_app.extensions import db

        checkpoints = {}
        if since_checkpoint:
            checkpoints = {row.chain: row.checkpoint for row in db.session.scalars(select(AuditVerification))}
        checked, problems = 0, []
        for chain in db.session.scalars(select(AuditEvent.chain).distinct().order_by(AuditEvent.chain)).all():
            report = verify_chain(chain, since=checkpoints.get(chain, START))
            checked += report.checked
            problems.extend(report.problems)
        for problem in problems:
            click.echo(f"BROKEN chain={problem.chain} seq={problem.seq} event={problem.event_id}: {problem.problem}")
        if problems:
            click.echo(f"{len(problems)} problem(s) in {checked} audit events.", err=True)
            sys.exit(1)
        scope = f" since the checkpoints of {len(checkpoints)} chain(s)" if since_checkpoint else ""
        click.echo(f"Audit trail intact: {checked} events checked{scope}.")

    keys = AppGroup("keys", help="Field-encryption keys.")
    app.cli.add_command(keys)

    @keys.command("rotate")
    @click.option("--wait", is_flag=True, help="Wait for the re-encryption to finish (in-process jobs only).")
    def rotate(wait: bool) -> None:
        """Re-wrap all keys under the current master key, start new data keys, and re-encrypt
        stored values with them in a background job (progress on the job's page)."""
        from clinic_app.core.jobs import enqueue, wait_for_local_jobs
        from clinic_app.core.key_rotation import ROTATE_KIND, start_rotation
        from clinic_app.extensions import db

        rewrapped, organizations = start_rotation()
        job = enqueue(ROTATE_KIND)
        db.session.commit()
        click.echo(f"Re-wrapped {rewrapped} key(s); new data keys for {organizations} organization(s).")
        click.echo(f"Re-encryption job {job.id} queued.")
        if wait and current_app.config["JOBS_BACKEND"] != "rq":
            wait_for_local_jobs(current_app)
            db.session.refresh(job)
            click.echo(f"Job {job.status}: {job.result}")
            if job.status != "succeeded":
                sys.exit(1)

    @keys.command("status")
    def key_status() -> None:
        """How many stored values are not yet under their organization's current data key."""
        from clinic_app.core.crypto import current_master_key_id
        from clinic_app.core.key_rotation import pending_count

        click.echo(f"Current master key: {current_master_key_id()}")
        click.echo(f"Values waiting for re-encryption: {pending_count()}")

    @app.cli.command("backup-check")
    @click.option(
        "--sample",
        type=click.IntRange(1, 1_000_000),
        default=100,
        show_default=True,
        help="Values decrypted per encrypted column (the newest half, then random ones).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (for scripts).")
    def backup_check(sample: int, as_json: bool) -> None:
        """Check a restored database against the configured keys (docs/operations.md): the schema is
        at the code's head, every organization's keys unwrap with FIELD_ENCRYPTION_KEYS, and a
        sample of every encrypted column decrypts. Writes nothing; prints no value and no key.
        Exit 1 when anything fails."""
        import json

        from clinic_app.operators.backup_check import check_backup
        from clinic_app.operators.backup_report import describe

        report = check_backup(sample=sample)
        if as_json:
            click.echo(json.dumps(report.as_dict(), indent=2))
        else:
            for line in describe(report):
                click.echo(line)
        if not report.ok:
            if as_json:
                click.echo(f"Backup check FAILED: {report.all_problems[0]}", err=True)
            sys.exit(1)

    @app.cli.command("permissions-table")
    def permissions_table() -> None:
        """Print the role/permission table as Markdown (docs/permissions.md is generated from it)."""
        from clinic_app.core.permissions import markdown_table

        click.echo(markdown_table())

    @app.cli.command("access-audit")
    def access_audit() -> None:
        """List every route with its access policy; exit 1 if any route has none."""
        from clinic_app.core.access import audit_routes

        missing = 0
        for rule, methods, endpoint, policy in audit_routes(current_app):
            label = policy.describe() if policy else "MISSING POLICY"
            missing += policy is None
            click.echo(f"{methods:<18} {rule:<60} {endpoint:<40} {label}")
        if missing:
            click.echo(f"\n{missing} route(s) have no access policy.", err=True)
            sys.exit(1)
        click.echo("\nEvery route declares its access policy.")

    @app.cli.command("worker")
    @click.option(
        "--queues",
        default="default,sync,reports",
        show_default=True,
        help="Comma-separated queue names, highest priority first.",
    )
    @click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
    def worker(queues: str, burst: bool) -> None:
        """Run an RQ worker (with its scheduler) for this app."""
        if current_app.config["JOBS_BACKEND"] != "rq":
            click.echo("REDIS_URL is not set: jobs run inside the web process, no worker is needed.", err=True)
            sys.exit(2)
        from rq import Worker
        from rq.serializers import JSONSerializer

        from clinic_app.core.jobs import redis_connection, rq_queue  # (the worker runs clinic_app.worker's entries)

        names = [name.strip() for name in queues.split(",") if name.strip()]
        worker = Worker(
            [rq_queue(current_app, name) for name in names],
            connection=redis_connection(current_app),
            serializer=JSONSerializer,
        )
        from clinic_app.core.periodic import start_rq_chain

        start_rq_chain(current_app)  # the app's clock (syncs, nightly checks), once per minute across all workers
        worker.work(with_scheduler=True, burst=burst)
