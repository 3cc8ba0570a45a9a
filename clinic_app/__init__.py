"""The clinic app: create_app() builds a configured Flask application."""

from __future__ import annotations

import os
import weakref
from typing import Any

from flask import Flask

from clinic_app.config import PROJECT_ROOT, load_config

__version__ = "0.1.0"

# What RQ calls to run a job and a tick of the clock: the entries of ``clinic_app.worker``, named
# rather than imported (that module imports this one to build its app).
RUN_JOB = "clinic_app.worker.run_job"
CLOCK_TICK = "clinic_app.worker.clock_tick"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application. ``config`` overrides settings (tests pass environment-style names).

    Raises clinic_app.config.ConfigError when the environment is not runnable.
    """
    settings = load_config(overrides=config)
    from clinic_app.core.http import ClinicFlask

    app = ClinicFlask(
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
    _subscribe_erasure()
    _register_jobs(app)
    register_error_handlers(app)

    from clinic_app.cli import register_cli

    register_cli(app)

    from clinic_app.core.time import install_zone_lookup
    from clinic_app.orgs.service import get_organization

    install_zone_lookup(lambda organization_id: get_organization(organization_id).time_zone)

    from clinic_app.core.crypto import install_keys_version_lookup
    from clinic_app.orgs.service import keys_version

    # Vaults are kept per process while the organization's keys version stays (orgs keeps the count).
    install_keys_version_lookup(keys_version)

    from clinic_app.core import cors
    from clinic_app.webhooks.log import origin_allowed

    # CORS for /api/v1 and /fhir: each organization's allowed origins (webhooks keeps them; core asks).
    cors.install(app)
    cors.install_origin_lookup(origin_allowed)

    from clinic_app.appointments.calendar_source import install_cliniko_check
    from clinic_app.sync import service as sync

    # Appointments made in Cliniko are read-only here while it is connected (sync knows; appointments asks).
    install_cliniko_check(
        lambda organization_id: bool(sync.connection_status(organization_id).get("cliniko_connected"))
    )

    from clinic_app.appointments.calendar_source import install_free_times
    from clinic_app.sync.free_times import free_starts

    # Free times for a booking in a connected clinic come from Cliniko (sync asks; appointments checks).
    install_free_times(free_starts)

    from clinic_app.profiles.report_templates import install_template_choices
    from clinic_app.reports.templates_service import template_choices

    # A profile's default report template is one of the organization's (reports knows; profiles asks).
    install_template_choices(template_choices)

    from clinic_app.core import metrics
    from clinic_app.operators.activity import jobs_collector

    # /metrics: every request counted by its URL rule; jobs waiting or running read at scrape time.
    metrics.install(app)
    metrics.register_collector(jobs_collector)

    from clinic_app.auth.context import template_context

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {"app_version": __version__, "htmx_cdn_url": app.config.get("HTMX_CDN_URL"), **template_context()}

    return app


def _init_extensions(app: Flask) -> None:
    import clinic_app.appointments.models
    import clinic_app.auth.operator_tokens
    import clinic_app.billing.models
    import clinic_app.core.crypto
    import clinic_app.mfa.models
    import clinic_app.operators.models
    import clinic_app.profiles.models
    import clinic_app.sync.models
    import clinic_app.webhooks.models  # noqa: F401  (every table known to any process, a worker's included)
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


def _register_jobs(app: Flask) -> None:
    """The app's background jobs and the tasks its clock runs, listed as the blueprints are (the
    decorators on these functions only declare them). In the embedded default the clock's thread
    starts with the first request; ``flask worker`` starts its RQ chain."""
    from clinic_app.audit.verification import start_nightly_verifications, verify_organization_chain
    from clinic_app.core import jobs, periodic
    from clinic_app.core.job_recovery import recover_jobs
    from clinic_app.core.key_rotation import reencrypt
    from clinic_app.figures.service import refresh_stale_figures
    from clinic_app.health_data.analyses import analyze_job
    from clinic_app.health_data.imports import import_file, reconcile_imports
    from clinic_app.mfa.challenges import purge_expired as purge_mfa_challenges
    from clinic_app.operators.retention import nightly_cleanup
    from clinic_app.orgs.invitations import purge_expired
    from clinic_app.patients.erasure import carry_out_due_erasures
    from clinic_app.reports.generation.job import generate_report
    from clinic_app.sync import scheduler
    from clinic_app.sync.job import run_sync
    from clinic_app.sync.outbox_job import outbox_tick, send_outbox
    from clinic_app.webhooks.delivery import deliver_job, deliver_tick

    jobs.register_jobs(
        app,
        [
            run_sync,
            generate_report,
            verify_organization_chain,
            reencrypt,
            import_file,
            analyze_job,
            deliver_job,
            send_outbox,
        ],
        rq_entry=RUN_JOB,
    )
    # In this order at every tick: the syncs first (stale runs failed, due syncs started), as before.
    periodic.register_tasks(
        app,
        [
            scheduler.tick,
            outbox_tick,
            refresh_stale_figures,
            start_nightly_verifications,
            purge_expired,
            reconcile_imports,
            purge_mfa_challenges,
            nightly_cleanup,
            carry_out_due_erasures,
            deliver_tick,
            recover_jobs,
        ],
        rq_entry=CLOCK_TICK,
    )
    periodic.install(app)


def _subscribe_erasure() -> None:
    """Each feature's part of erasing a patient (``patients.signals``: ``patient_erasing`` and
    ``erasure_inventory``) connects when its module is imported (docs/retention.md, "Erasure")."""
    import clinic_app.appointments.erasure
    import clinic_app.billing.erasure
    import clinic_app.consultations.erasure
    import clinic_app.figures.erasure
    import clinic_app.health_data.erasure
    import clinic_app.intake.erasure
    import clinic_app.reports.erasure
    import clinic_app.sync.erasure
    import clinic_app.webhooks.erasure  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    import importlib

    # Each blueprint's package, then the modules that attach its routes (imported here, not by the
    # package, so features can use each other's services without import cycles). The chart (the
    # patient record page and export) has no blueprint of its own: its routes keep the patients
    # blueprint's names, so it is imported before that blueprint is registered.
    blueprints = {
        "site": ("site.views",),
        "health": ("health.api",),
        "auth": (
            "auth.views",
            "auth.api",
            "auth.signup_api",
            "auth.tokens_views",
            "auth.second_factor",
            "auth.sessions_views",
            "auth.sessions_api",
            "auth.passkey_login",
        ),
        "mfa": ("mfa.views", "mfa.api", "mfa.passkey_views"),
        "accounts": ("accounts.views",),
        "profiles": ("profiles.views", "profiles.api"),
        "staff": ("staff.views", "staff.joining"),
        "audit": ("audit.views", "audit.api", "audit.export_api"),
        "jobs": ("jobs.views", "jobs.api"),
        "patients": (
            "patients.views",
            "patients.api",
            "patients.consent_views",
            "patients.consent_api",
            "patients.erasure_views",
            "patients.erasure_api",
            "chart.views",
            "chart.api",
        ),
        "symptoms": ("symptoms.views", "symptoms.api"),
        "intake": ("intake.views", "intake.api"),
        "sync": ("sync.views", "sync.api", "sync.admin_api", "sync.outbox_views"),
        "appointments": (
            "appointments.views",
            "appointments.booking_views",
            "appointments.setup_views",
            "appointments.api",
        ),
        "engagement": ("engagement.views", "engagement.api"),
        "dashboard": ("dashboard.views", "dashboard.api", "dashboard.revenue"),
        "caseload": ("caseload.views", "caseload.api"),
        "consultations": ("consultations.views", "consultations.api"),
        "reports": ("reports.views", "reports.api", "reports.pdf_views"),
        "health_data": ("health_data.views", "health_data.api", "health_data.pat_api", "health_data.insights_api"),
        "billing": (
            "billing.views",
            "billing.action_views",
            "billing.account_views",
            "billing.settings_views",
            "billing.pdf_views",
            "billing.export_views",
            "billing.api",
            "billing.api_accounts",
        ),
        "webhooks": ("webhooks.subscribers", "webhooks.api", "webhooks.views"),
        "operators": ("operators.api", "operators.views"),
        "fhir": (
            "fhir.common",
            "fhir.metadata",
            "fhir.patients",
            "fhir.scheduling",
            "fhir.clinical",
            "fhir.observations",
        ),
    }
    for feature, modules in blueprints.items():
        package = importlib.import_module(f"clinic_app.{feature}")
        for module in modules:
            importlib.import_module(f"clinic_app.{module}")
        if package.bp.name not in app.blueprints:
            app.register_blueprint(package.bp)
