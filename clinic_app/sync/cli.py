"""Operator commands for Cliniko: ``flask cliniko-connect``, ``flask sync run``, ``flask sync fail-stale``.

The key is read from standard input (``read -rs KEY; echo "$KEY" | flask cliniko-connect --org ...``)
so it never lands in shell history or the process list; only its hint is printed.
"""

from __future__ import annotations

import sys
import time

import click
from flask import Flask
from flask.cli import AppGroup

from clinic_app.core import audit
from clinic_app.core.errors import DomainError, Invalid
from clinic_app.extensions import db
from clinic_app.sync import service
from clinic_app.sync.models import COMPREHENSIVE, MODES, SyncRun

POLL_SECONDS = 0.5


def _fail(error: DomainError | str) -> None:
    if isinstance(error, Invalid) and error.errors:
        message = "; ".join(f"{item.field}: {item.message}" for item in error.errors)
    else:
        message = error.detail if isinstance(error, DomainError) else error
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def register(app: Flask) -> None:
    @app.cli.command("cliniko-connect")
    @click.option("--org", "organization_id", required=True, help="Organization id.")
    @click.option("--base-url", default=None, help="API address template, e.g. http://127.0.0.1:8123/{shard}/v1.")
    def cliniko_connect(organization_id: str, base_url: str | None) -> None:
        """Connect an organization to Cliniko: the API key is read from standard input, tested
        against Cliniko, and stored encrypted."""
        api_key = sys.stdin.readline().strip()
        if not api_key:
            _fail('Give the API key on standard input, e.g. `read -rs KEY; echo "$KEY" | flask cliniko-connect ...`.')
        try:
            connection = service.connect(organization_id, api_key, base_url_template=base_url, actor=audit.Actor())
        except DomainError as error:
            _fail(error)
        db.session.commit()
        click.echo(f"Connected to Cliniko (shard {connection.shard}) with key {connection.key_hint}.")
        for business in connection.businesses:
            zone = business.get("time_zone") or "no time zone"
            click.echo(f"  {business.get('name') or business.get('id')} ({zone})")

    sync = AppGroup("sync", help="Cliniko syncs.")
    app.cli.add_command(sync)

    @sync.command("run")
    @click.option("--org", "organization_id", required=True, help="Organization id.")
    @click.option("--mode", type=click.Choice(MODES), default=COMPREHENSIVE, show_default=True)
    @click.option("--wait", is_flag=True, help="Follow the run until it ends; exit 1 unless it completed.")
    def run_command(organization_id: str, mode: str, wait: bool) -> None:
        """Start a sync (or report the one already running)."""
        try:
            run, started = service.start_sync(organization_id, mode, actor=audit.Actor(), trigger="cli")
        except DomainError as error:
            _fail(error)
        run_id = run.id
        db.session.commit()
        click.echo(f"{'Started' if started else 'Already running:'} sync {run_id} ({run.mode}).")
        if wait:
            _follow(run_id)

    @sync.command("fail-stale")
    def fail_stale() -> None:
        """Mark syncs whose worker stopped reporting (15 minutes) as failed, so they can be resumed."""
        marked = service.fail_stale_runs()
        db.session.commit()
        click.echo(f"{marked} stale sync(s) marked failed.")


def _follow(run_id: str) -> None:
    """Print progress until the run ends (jobs run in a worker thread or an RQ worker)."""
    shown = None
    while True:
        db.session.expire_all()
        run = db.session.get(SyncRun, run_id)
        assert run is not None
        line = f"  {run.status}: {run.current_step or 'waiting'} {run.percentage:.0f}%"
        if line != shown:
            click.echo(line)
            shown = line
        if run.finished:
            break
        db.session.rollback()  # end the read transaction so the worker's commits are visible
        time.sleep(POLL_SECONDS)
    click.echo(
        f"Sync {run.id} {run.status}: {run.created} created, {run.updated} updated, "
        f"{run.unchanged} unchanged, {run.failed} failed."
    )
    if run.error_detail:
        click.echo(run.error_detail)
    if run.status != "completed":
        sys.exit(1)
