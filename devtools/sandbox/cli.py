"""``flask cliniko-sandbox``: serve a synthetic Cliniko account on 127.0.0.1 in the foreground.

For ``make run`` and for benchmarks that want the sandbox in its own process. The API key it prints
belongs to made-up data and opens nothing real, so printing it is fine.
"""

from __future__ import annotations

import click
from flask import Flask


def register(app: Flask) -> None:
    """Add the ``cliniko-sandbox`` command to ``app.cli``."""

    @app.cli.command("cliniko-sandbox", with_appcontext=False)
    @click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
    @click.option("--port", default=5050, show_default=True, type=click.IntRange(0, 65535), help="0 picks one.")
    @click.option("--patients", default=650, show_default=True, type=click.IntRange(0))
    @click.option("--appointments", default=1000, show_default=True, type=click.IntRange(0))
    @click.option("--practitioners", default=6, show_default=True, type=click.IntRange(1))
    @click.option("--seed", default=42, show_default=True, help="Same seed, same records (for the same day).")
    @click.option("--api-key", default=None, help="Key to accept (its suffix picks the shard); default from the seed.")
    @click.option("--rate-limit", type=click.IntRange(1), default=None, help="Requests per minute before 429s.")
    @click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
                  help="Share of API requests answered 502/503/504.")  # fmt: skip
    @click.option("--verbose", is_flag=True, help="Log every request.")
    def cliniko_sandbox(
        host: str,
        port: int,
        patients: int,
        appointments: int,
        practitioners: int,
        seed: int,
        api_key: str | None,
        rate_limit: int | None,
        error_rate: float,
        verbose: bool,
    ) -> None:
        """Serve a sandbox Cliniko with synthetic patients and appointments until Ctrl-C."""
        from devtools.sandbox import Faults, SandboxClinic
        from devtools.sandbox.server import SandboxServer

        faults = Faults(rate_limit_per_minute=rate_limit, error_rate=error_rate)
        try:
            clinic = SandboxClinic(
                seed=seed,
                patients=patients,
                appointments=appointments,
                practitioners=practitioners,
                api_key=api_key,
                faults=faults,
            )
        except ValueError as error:
            raise click.UsageError(str(error)) from None
        server = SandboxServer(clinic, host=host, port=port, quiet=not verbose)
        sizes = clinic.counts()
        click.echo(f"Cliniko sandbox serving {sizes['patients']['total']} patients and "
                   f"{sizes['appointments']['total']} appointments (seed {seed}).")  # fmt: skip
        click.echo(f"Base URL template: {server.base_url_template}")
        click.echo(f"API key:           {clinic.api_key}   (shard {clinic.shard})")
        click.echo(
            f"Controls:          {server.url}/_sandbox/counts, /_sandbox/faults, /_sandbox/mutate, /_sandbox/reset"
        )
        if rate_limit or error_rate:
            click.echo(f"Faults:            {faults.to_json()}")
        click.echo("Press Ctrl-C to stop.")
        server.serve_forever()
