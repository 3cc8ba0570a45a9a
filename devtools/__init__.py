"""Development tools: the demo clinic, scale data and the sandbox Cliniko.

Production never imports this package (a test checks it). ``make run``, the tests and the
benchmarks use it through ``register(app)`` (the ``seed-demo``, ``seed-scale`` and
``cliniko-sandbox`` commands) or ``create_app()`` (the product's app with those commands, for
``flask --app devtools``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from clinic_app import create_app as create_product_app
from devtools import demo
from devtools.sandbox import cli as sandbox_cli
from devtools.scale import patients as scale_cli


def register(app: Flask) -> None:
    """Add the development commands to ``app.cli`` (once per app)."""
    if "seed-demo" in app.cli.commands:
        return
    demo.register(app)
    scale_cli.register(app)
    sandbox_cli.register(app)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The clinic app with the development commands: what ``make run`` serves."""
    app = create_product_app(config)
    register(app)
    return app
