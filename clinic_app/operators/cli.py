"""Commands for the installation's operators: ``flask create-operator``, ``flask
create-operator-token``, ``flask revoke-operator-token`` and ``flask retention-run``."""

from __future__ import annotations

import sys

import click
from flask import Flask

from clinic_app.auth import operator_tokens, password_links
from clinic_app.core import audit
from clinic_app.core.errors import Conflict, Invalid
from clinic_app.core.mail import public_url
from clinic_app.extensions import db
from clinic_app.operators import retention


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def register(app: Flask) -> None:
    @app.cli.command("create-operator")
    @click.option("--email", required=True)
    @click.option("--name", "display_name", default=None, help="Display name (defaults to the e-mail's local part).")
    @click.option(
        "--password-stdin", is_flag=True, help="Read the password from standard input instead of printing a link."
    )
    def create_operator(email: str, display_name: str | None, password_stdin: bool) -> None:
        """Make a platform operator (outside every organization). Without --password-stdin, prints a
        one-time set-password link. They must set up two-factor sign-in before anything else."""
        password = sys.stdin.readline().rstrip("\n") if password_stdin else None
        if password_stdin and not password:
            _fail("Give the password on standard input.")
        try:
            user, created = operator_tokens.make_operator(email, display_name, password=password)
            secret = password_links.issue_password_link(user) if password is None else None
        except (Invalid, Conflict) as error:
            _fail(error.detail)
            return
        db.session.commit()
        click.echo(user.id)
        if secret is not None:
            with app.test_request_context():
                click.echo(f"Set the password within the link's lifetime: {public_url('/set-password/' + secret)}")
        if not created:
            click.echo("The existing account is now an operator.", err=True)

    @app.cli.command("create-operator-token")
    @click.option("--name", required=True, help="What uses it, e.g. 'prometheus'.")
    @click.option("--expires-in-days", type=int, default=None)
    def create_operator_token(name: str, expires_in_days: int | None) -> None:
        """Create a monitoring token (opt_…) for /metrics and the monitoring API; printed once."""
        try:
            token, plain = operator_tokens.create_operator_token(name, expires_in_days=expires_in_days, creator=None)
        except Invalid as error:
            _fail(error.detail)
            return
        db.session.commit()
        click.echo(f"{token.id} {plain}")

    @app.cli.command("revoke-operator-token")
    @click.argument("token_id")
    def revoke_operator_token(token_id: str) -> None:
        """Stop a monitoring token from working."""
        try:
            operator_tokens.revoke_operator_token(token_id, actor=audit.Actor())
        except Invalid as error:
            _fail(error.detail)
        db.session.commit()
        click.echo(f"Revoked {token_id}.")

    @app.cli.command("retention-run")
    @click.option("--days-old", type=int, default=None, help="Replace every period (never below a kind's minimum).")
    @click.option("--apply", is_flag=True, help="Remove the rows (without it: a dry run that only counts).")
    def retention_run(days_old: int | None, apply: bool) -> None:
        """Clean up the installation now (docs/retention.md); prints the rows per kind."""
        try:
            run = retention.run_cleanup(organization_id=None, days_old=days_old, dry_run=not apply)
        except Invalid as error:
            _fail(error.detail)
            return
        db.session.commit()
        for line in retention.describe(run):
            click.echo(line)
