"""The clinic app: create_app() builds a configured Flask application."""

from __future__ import annotations

import os
import weakref
from typing import Any

from flask import Flask

from clinic_app.config import PROJECT_ROOT, load_config

__version__ = "0.1.0"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application. ``config`` overrides settings (tests pass environment-style names).

    Raises clinic_app.config.ConfigError when the environment is not runnable.
    """
    settings = load_config(overrides=config)
    app = Flask(
        __name__,
        instance_path=settings["INSTANCE_PATH"],
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(settings)
    app.config["VERSION"] = __version__
    app.json.sort_keys = False  # keep the contract's field order

    from clinic_app.core.logging import configure_logging

    configure_logging(app.config["LOG_LEVEL"])

    from clinic_app.core.access import enforce_access
    from clinic_app.core.errors import register_error_handlers
    from clinic_app.core.http import register_request_hooks

    # Order matters: request id and CSRF first, then access control, then the features' hooks.
    register_request_hooks(app)
    app.before_request(enforce_access)
    _init_extensions(app)
    _register_blueprints(app)
    register_error_handlers(app)

    from clinic_app.cli import register_cli

    register_cli(app)

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {"app_version": __version__, "htmx_cdn_url": app.config.get("HTMX_CDN_URL")}

    return app


def _init_extensions(app: Flask) -> None:
    from clinic_app.extensions import csrf, db, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)

    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            from sqlalchemy import event

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(connection: Any, _record: Any) -> None:
                cursor = connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()

    _engines_to_reset.add(app)


# A forked child (RQ work-horse, gunicorn worker with preload) must not reuse the parent's pooled
# connections: each app's engine drops them in the child without closing the parent's sockets.
_engines_to_reset: weakref.WeakSet[Flask] = weakref.WeakSet()


def _dispose_engines_after_fork() -> None:
    from clinic_app.extensions import db

    for app in list(_engines_to_reset):
        with app.app_context():
            db.engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_dispose_engines_after_fork)


def _register_blueprints(app: Flask) -> None:
    from clinic_app.health import bp as health_bp
    from clinic_app.jobs import bp as jobs_bp
    from clinic_app.site import bp as site_bp

    app.register_blueprint(site_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(jobs_bp)
