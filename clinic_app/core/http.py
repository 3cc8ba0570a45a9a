"""Per-request plumbing: request ids, the unit of work, security headers, access logging."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable

from flask import Flask, Response, current_app, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session

from clinic_app.extensions import csrf, db

log = logging.getLogger("clinic_app.request")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def after_this_transaction(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the current unit of work (``db.session``'s transaction: a request, a
    job's checkpoint, a command) has been committed or rolled back.

    For writes that must happen whatever the outcome (a refused access, a failed log-in, an
    unreadable value) and must not wait on locks the unit of work itself holds.
    """
    if not db.session().in_transaction() and not has_request_context():
        callback()
        return
    db.session.info.setdefault("after_transaction", []).append(callback)


def _run_after_transaction(session: Session | None = None) -> None:
    info = (session or db.session).info
    while info.get("after_transaction"):
        callback = info["after_transaction"].pop(0)
        try:
            callback()
        except Exception:
            log.exception("after-transaction work failed", extra={"event": "after_transaction_failed"})


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _transaction_ended(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT ended: the request's transaction goes on
    if session.info.get("after_transaction"):
        _run_after_transaction(session)


def csp_nonce() -> str:
    """The nonce the page's own <script> and <style> tags carry (one per request)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _content_security_policy(app: Flask) -> str:
    script_src = ["'self'", f"'nonce-{csp_nonce()}'"]
    cdn = app.config.get("HTMX_CDN_URL")
    if cdn:
        script_src.append(cdn.split("/", 3)[0] + "//" + cdn.split("/", 3)[2])
    directives = [
        "default-src 'self'",
        "script-src " + " ".join(script_src),
        f"style-src 'self' 'nonce-{csp_nonce()}'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def csrf_guard() -> None:
    """CSRF on every unsafe request that could ride the browser session.

    Bearer-authenticated requests carry no ambient credential (the token is checked by the access
    layer), and an API request without the session cookie has no session to ride; everything
    else, forms and htmx included, must present the token.
    """
    if request.method in SAFE_METHODS or request.endpoint is None:  # no route: the 404/405 answers
        return
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return
    if request.path.startswith("/api/") and current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return
    csrf.protect()


def register_request_hooks(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(16)

    app.before_request(csrf_guard)

    @app.after_request
    def _finish(response: Response) -> Response:
        # One unit of work per request: what the services flushed is committed only when the
        # request succeeded; any error status rolls it back (teardown also rolls back on exceptions).
        if response.status_code < 400:
            db.session.commit()
        else:
            db.session.rollback()
        _run_after_transaction()

        headers = response.headers
        headers["X-Request-ID"] = g.get("request_id", "")
        headers.setdefault("Content-Security-Policy", _content_security_policy(app))
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if app.config["PRODUCTION"]:
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        if request.endpoint == "static":
            headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            # Pages and API answers may carry patient data: never stored by browsers or proxies.
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        if response.mimetype == "text/html":
            # One URL renders a page or, for htmx, its fragment: caches must tell them apart.
            response.vary.add("HX-Request")

        if request.endpoint != "static":
            log.info(
                "request",
                extra={
                    "event": "request",
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
                    "user_id": g.get("log_user_id"),
                    "organization_id": g.get("log_organization_id"),
                },
            )
        return response

    @app.teardown_request
    def _teardown(error: BaseException | None) -> None:
        if error is not None:
            db.session.rollback()
            _run_after_transaction()

    app.jinja_env.globals["csp_nonce"] = csp_nonce
