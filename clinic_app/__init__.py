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
    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Client address (rate limits, throttling, audit) and scheme from the trusted proxies only.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from clinic_app.core.logging import configure_logging

    configure_logging(app.config["LOG_LEVEL"])

    from clinic_app.auth.identity import authorize, load_identity
    from clinic_app.core.access import enforce_access, install_authorizer
    from clinic_app.core.errors import register_error_handlers
    from clinic_app.core.http import register_request_hooks

    # Order matters: request id and CSRF, then who is calling, then rate limits, then access.
    register_request_hooks(app)
    app.before_request(load_identity)
    from clinic_app.core.ratelimit import enforce_rate_limit, init_rate_limits

    init_rate_limits(app)
    app.before_request(enforce_rate_limit)
    app.before_request(enforce_access)
    install_authorizer(authorize)
    _init_extensions(app)
    _register_blueprints(app)
    register_error_handlers(app)

    from clinic_app.sync import scheduler

    scheduler.install(app)  # embedded default only: the sync scheduler thread starts with the first request

    from clinic_app.cli import register_cli

    register_cli(app)

    from clinic_app.core.time import install_zone_lookup
    from clinic_app.orgs.service import get_organization

    install_zone_lookup(lambda organization_id: get_organization(organization_id).time_zone)

    from clinic_app.auth.context import template_context

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {"app_version": __version__, "htmx_cdn_url": app.config.get("HTMX_CDN_URL"), **template_context()}

    return app


def _init_extensions(app: Flask) -> None:
    import clinic_app.appointments.models
    import clinic_app.core.crypto
    import clinic_app.core.key_rotation  # registers the re-encryption job
    import clinic_app.sync.engine  # noqa: F401  (registers the sync job and its models for any worker)
    from clinic_app.extensions import csrf, db, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = None  # server-side session rows are the protection

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
    import importlib

    # Each feature's blueprint, then the modules that attach its routes (imported here, not by the
    # package, so features can use each other's services without import cycles).
    features = {
        "site": ("views",),
        "health": ("api",),
        "auth": ("views", "api", "tokens_views"),
        "accounts": ("views",),
        "orgs": ("views", "joining"),
        "audit": ("views", "api"),
        "jobs": ("views", "api"),
        "patients": ("views", "api"),
        "symptoms": ("views", "api"),
        "intake": ("views", "api"),
        "sync": ("views", "api", "admin_api"),
        "appointments": ("views", "api"),
        "engagement": ("views", "api"),
        "dashboard": ("views", "api"),
        "caseload": ("views", "api"),
        "consultations": ("views", "api"),
        "reports": ("views", "api", "export"),
    }
    for feature, modules in features.items():
        package = importlib.import_module(f"clinic_app.{feature}")
        for module in modules:
            importlib.import_module(f"clinic_app.{feature}.{module}")
        if package.bp.name not in app.blueprints:
            app.register_blueprint(package.bp)
