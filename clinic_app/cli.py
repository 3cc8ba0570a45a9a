"""Operator commands: ``flask access-audit``, ``flask worker``, ``flask seed-demo``."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click
from flask import Flask, current_app

# Features add their demo data here (called in order by ``flask seed-demo``; each must be idempotent).
DEMO_SEEDERS: list[Callable[[], list[str]]] = []


def register_cli(app: Flask) -> None:
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

        from clinic_app.core.jobs import redis_connection, rq_queue

        names = [name.strip() for name in queues.split(",") if name.strip()]
        worker = Worker(
            [rq_queue(current_app, name) for name in names],
            connection=redis_connection(current_app),
            serializer=JSONSerializer,
        )
        worker.work(with_scheduler=True, burst=burst)

    @app.cli.command("seed-demo")
    def seed_demo() -> None:
        """Create the demo data (safe to run again) and print how to sign in."""
        from clinic_app.extensions import db

        lines: list[str] = []
        for seeder in DEMO_SEEDERS:
            lines.extend(seeder())
        db.session.commit()
        for line in lines:
            click.echo(line)
