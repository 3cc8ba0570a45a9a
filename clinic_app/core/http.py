"""Per-request plumbing: request ids, the unit of work, security headers, access logging."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import event
from sqlalchemy.orm import Session

from clinic_app.core import text
from clinic_app.core.errors import FieldError, Invalid, NotFound
from clinic_app.extensions import csrf, db

log = logging.getLogger("clinic_app.request")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


AFTER_TRANSACTION_ATTEMPTS = 3


def after_this_transaction(callback: Callable[[], None], *, describe: dict[str, Any] | None = None) -> None:
    """Run ``callback`` once the current unit of work (``db.session``'s transaction: a request, a
    job's checkpoint, a command) has been committed or rolled back.

    For writes that must happen whatever the outcome (a refused access, a failed log-in, an
    unreadable value) and must not wait on locks the unit of work itself holds. A callback that
    fails (a lock held too long, a unique-key race) is tried again, up to
    ``AFTER_TRANSACTION_ATTEMPTS`` times; if it still fails it is logged at error level with
    ``describe`` (what was being written), never dropped silently.
    """
    if not db.session().in_transaction() and not has_request_context():
        _run_with_retries(callback, describe)
        return
    db.session.info.setdefault("after_transaction", []).append((callback, describe))


def _run_with_retries(callback: Callable[[], None], describe: dict[str, Any] | None) -> None:
    for attempt in range(1, AFTER_TRANSACTION_ATTEMPTS + 1):
        try:
            callback()
            return
        except Exception:
            if attempt == AFTER_TRANSACTION_ATTEMPTS:
                log.exception(
                    "after-transaction work failed",
                    extra={"event": "after_transaction_failed", "attempts": attempt, "lost": describe or {}},
                )
                return
            time.sleep(0.05 * 2**attempt)


def _run_after_transaction(session: Session | None = None) -> None:
    info = (session or db.session).info
    while info.get("after_transaction"):
        callback, describe = info["after_transaction"].pop(0)
        _run_with_retries(callback, describe)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _transaction_ended(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT ended: the request's transaction goes on
    if session.info.get("after_transaction"):
        _run_after_transaction(session)


def _loggable_path() -> str:
    """The request path with any secret the URL carries (a set-password or invitation link)
    replaced, so links that work as credentials never reach the logs."""
    path = request.path
    for name, value in (request.view_args or {}).items():
        if name == "secret" and isinstance(value, str) and value:
            path = path.replace(value, "[secret]")
    return path


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


def refuse_unusable_text() -> None:
    """Ids in the URL and query parameters holding a NUL, another control character or a lone
    surrogate can name nothing and cannot be stored: an id so spelled is a 404 (no such record),
    a query parameter a 422 naming it. JSON bodies and form fields are checked where they are
    parsed (``core.api.parse_body``, the ``plain_text`` validator)."""
    if any(isinstance(value, str) and text.unusable(value) for value in (request.view_args or {}).values()):
        raise NotFound("The requested resource was not found.")
    for name, value in request.args.items(multi=True):
        if name == "next":
            continue  # where to go after signing in: an unusable one just leads home (safe_next)
        if text.unusable(name) or text.unusable(value):
            raise Invalid(
                errors=[FieldError(name if not text.unusable(name) else "query", text.MESSAGE, "UNUSABLE_TEXT")]
            )


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, without its per-request set-up: the signing serializer is
    built once per secret (Flask builds a new one for every request), and a request that brings no
    cookie (an API client, a probe, a first visit) gets an empty session without one."""

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        secrets_now = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        serializer = self._serializers.get(secrets_now, False)
        if serializer is False:
            serializer = super().get_signing_serializer(app)
            self._serializers = {secrets_now: serializer}  # a changed secret replaces the old one
        return serializer  # type: ignore[return-value]

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


class ClinicFlask(Flask):
    """Flask, asking once per view or hook (not on every request) whether it is a coroutine.

    Flask checks each before- and after-request function, and the view, with
    ``inspect.iscoroutinefunction`` on every request: sixteen checks for a plain ``/health``. The
    answer never changes for a function, so it is kept.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_callables: dict[Any, Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._sync_callables[func]
        except KeyError:
            made = self._sync_callables[func] = super().ensure_sync(func)
            return made
        except TypeError:  # an unhashable callable: asked every time, as Flask does
            return super().ensure_sync(func)


def _end_unit_of_work(response: Response) -> None:
    """Commit what the services flushed when the request succeeded; roll back on an error status.
    A request that never used the database (a probe, a static file) has nothing to end."""
    if not db.session.registry.has():
        return
    session = db.session()
    if session.in_transaction():
        if response.status_code < 400:
            session.commit()
        else:
            session.rollback()
    _run_after_transaction(session)


def register_request_hooks(app: Flask) -> None:
    app.session_interface = SessionCookies()

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(16)

    app.before_request(refuse_unusable_text)
    app.before_request(csrf_guard)

    # The headers every answer carries, whatever produced it (no view sets these itself), added
    # in one step rather than one lookup-and-replace each.
    fixed_headers = (
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    )
    production_headers = (*fixed_headers, ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))

    @app.after_request
    def _finish(response: Response) -> Response:
        # One unit of work per request: what the services flushed is committed only when the
        # request succeeded; any error status rolls it back (teardown also rolls back on exceptions).
        _end_unit_of_work(response)

        headers = response.headers
        headers["X-Request-ID"] = g.get("request_id", "")
        headers.setdefault("Content-Security-Policy", _content_security_policy(app))
        headers.extend(production_headers if app.config["PRODUCTION"] else fixed_headers)
        endpoint = request.endpoint
        if endpoint == "static":
            headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            # Pages and API answers may carry patient data: never stored by browsers or proxies.
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        if response.mimetype == "text/html":
            # One URL renders a page or, for htmx, its fragment: caches must tell them apart.
            response.vary.add("HX-Request")

        if endpoint != "static":
            log.info(
                "request",
                extra={
                    "event": "request",
                    "method": request.method,
                    "path": _loggable_path(),
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
