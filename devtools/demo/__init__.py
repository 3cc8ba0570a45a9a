"""``flask seed-demo``: the demo data of the embedded default, in order, each seeder idempotent."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask import Flask

from clinic_app.extensions import db
from devtools.demo.appointments import seed_demo_appointments
from devtools.demo.cliniko import seed_demo_connection
from devtools.demo.health_data import seed_demo_health_data
from devtools.demo.organizations import seed_demo

# Clinics and staff first, then the calendar of the clinic without Cliniko (and one of its patients'
# wearable data), then the sandbox link.
SEEDERS: tuple[Callable[[], list[str]], ...] = (
    seed_demo,
    seed_demo_appointments,
    seed_demo_health_data,
    seed_demo_connection,
)


def register(app: Flask) -> None:
    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Create the demo data (safe to run again) and print how to sign in."""
        lines: list[str] = []
        for seeder in SEEDERS:
            lines.extend(seeder())
        db.session.commit()
        for line in lines:
            click.echo(line)
