"""The symptom catalogue: the ICD-11 master list every clinic shares, plus each clinic's own
custom symptoms, searchable together (JSON under /api/v1/intake, and the /symptoms page)."""

import click
from flask import Blueprint

from clinic_app.extensions import db
from clinic_app.symptoms.service import sync_master_list

bp = Blueprint("symptoms", __name__)


@bp.cli.command("sync")
def sync_master_list_command() -> None:
    """Bring the ICD-11 master list in the database in line with the shipped CSV (idempotent)."""
    outcome = sync_master_list()
    db.session.commit()
    click.echo(f"Master symptoms: {outcome.added} added, {outcome.updated} updated, {outcome.unchanged} unchanged.")
