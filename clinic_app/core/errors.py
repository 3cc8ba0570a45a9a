"""Domain errors and the one place that turns any error into a response.

Services raise ``NotFound``, ``Forbidden``, ``Invalid``, ``Conflict`` or ``Unavailable``. Views never
build error responses themselves: the handlers here answer

* ``application/problem+json`` (RFC 9457, plus the contract's ``error``/``detail``/``timestamp``/
  ``path``) for JSON clients and every ``/api/`` path;
* an htmx fragment for htmx requests;
* a styled page otherwise, with the request's correlation id and never a traceback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

from clinic_app.core.time import isoformat, utcnow

log = logging.getLogger("clinic_app.errors")

PROBLEM_JSON = "application/problem+json"


# The code a field error carries when the check that raised it names none: "this value is not
# accepted here; the message says why". Stable, so a client may match on it; checks with a more
# precise meaning (MISSING, INVALID_CURSOR, LESS_THAN_EQUAL ...) give their own.
INVALID_VALUE = "INVALID_VALUE"


@dataclass
class FieldError:
    """One field's problem, as every 422's ``errors[]`` item: ``field`` (a dotted path into the
    body or a query parameter's name), ``message`` (for people) and ``code`` (for programs: a
    stable UPPER_SNAKE name such as ``LESS_THAN_EQUAL``, ``MISSING``, ``INVALID_CURSOR`` or
    ``UNKNOWN_METRIC_TYPE``; ``INVALID_VALUE`` when the check has no name of its own)."""

    field: str
    message: str
    code: str = INVALID_VALUE

    def __post_init__(self) -> None:
        if not self.code:  # an explicit None or "" from an older call site: still one of the codes
            self.code = INVALID_VALUE

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


class DomainError(Exception):
    """Base of the errors services raise; ``status`` picks the HTTP status."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class Unauthorized(DomainError):
    status = 401
    title = "Authentication failed"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class Unavailable(DomainError):
    status = 503
    title = "Service unavailable"


class Invalid(DomainError):
    """Input that failed validation; ``errors`` names each field and what is wrong with it."""

    status = 422
    title = "Validation error"

    def __init__(self, detail: str | None = None, errors: list[FieldError] | None = None, **extra: Any) -> None:
        self.errors = list(errors or [])
        if detail is None and self.errors:
            detail = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        super().__init__(detail or "The request is not valid.", **extra)


# Titles for plain HTTP statuses, in the words of the contract where it has them.
_TITLES = {
    400: "Bad request",
    401: "Authentication failed",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Validation error",
    429: "Rate limit exceeded",
    500: "Internal server error",
    503: "Service unavailable",
}

# Friendly sentences for the browser pages.
_PAGE_TEXT = {
    400: "The request could not be understood. Please go back and try again.",
    401: "Please sign in to continue.",
    403: "You do not have permission to open this page.",
    404: "We could not find that page. It may have moved, or the link may be wrong.",
    405: "That action is not available here.",
    413: "That upload is too large.",
    415: "That kind of file or content is not accepted here.",
    422: "Some of the information could not be accepted. Please check it and try again.",
    429: "Too many requests in a short time. Please wait a moment and try again.",
    500: "Something went wrong on our side. The problem has been logged.",
    503: "This part of the service is temporarily unavailable. Please try again shortly.",
}


@dataclass
class Problem:
    status: int
    detail: str
    title: str | None = None
    errors: list[FieldError] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        title = self.title or _TITLES.get(self.status) or HTTPStatus(self.status).phrase
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": title,
            "status": self.status,
            "detail": self.detail,
            "instance": request.path,
            "error": title,
            "timestamp": isoformat(utcnow()),
            "path": request.path,
            "request_id": getattr(g, "request_id", None),
        }
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        # Extra members add to the problem; they never replace its own (an extra "status" once
        # overwrote the HTTP status with a word).
        body.update({key: value for key, value in self.extra.items() if key not in body})
        return body


def wants_json() -> bool:
    """API and FHIR paths always answer JSON. Elsewhere people get pages: browsers and htmx name text/html
    (or are htmx); a client that names JSON, or accepts anything without naming HTML (curl's
    ``*/*``), gets problem+json."""
    if request.path.startswith(("/api/", "/fhir/")):
        return True
    if is_htmx():
        return False
    named = {mimetype for mimetype, quality in request.accept_mimetypes if quality > 0}
    if "text/html" in named:
        return False
    return bool(named & {"application/json", PROBLEM_JSON, "*/*"})


def is_htmx() -> bool:
    """An htmx request for a fragment. A history restore (the page was not in htmx's cache)
    needs the whole page, so it does not count."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def render_problem(problem: Problem) -> Response:
    if wants_json():
        response = jsonify(problem.body())
        response.mimetype = PROBLEM_JSON
    else:
        html = _error_html(problem)
        response = current_app.response_class(html, mimetype="text/html")
        if is_htmx():
            # Show the message in the page's alert area rather than inside whatever was targeted.
            response.headers["HX-Retarget"] = "#alerts"
            response.headers["HX-Reswap"] = "innerHTML"
    response.status_code = problem.status
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response


def _error_html(problem: Problem) -> str:
    title = problem.title or _TITLES.get(problem.status) or HTTPStatus(problem.status).phrase
    context = {
        "status": problem.status,
        "title": title,
        "message": _PAGE_TEXT.get(problem.status, problem.detail),
        "detail": problem.detail if problem.status < 500 else None,
        "errors": problem.errors,
        "request_id": getattr(g, "request_id", None),
    }
    try:
        return render_template("errors/_error.html" if is_htmx() else "errors/error.html", **context)
    except Exception:  # the error page itself failed: answer plainly rather than with a traceback
        log.exception("error page failed to render", extra={"event": "error_page_failed"})
        return (
            f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1>"
            f"<p>{escape(context['message'])}</p><p>Reference: {escape(context['request_id'] or '')}</p>"
        )


def _from_http_exception(error: HTTPException) -> Problem:
    status = error.code or 500
    description = error.description or _TITLES.get(status, "")
    if status == 404:
        description = "The requested resource was not found."
    elif status == 405:
        description = f"The method {request.method} is not allowed for this URL."
    elif status == 413:
        limit = request.max_content_length  # the route's own limit where it sets one
        description = f"The request body is larger than the limit of {limit} bytes."
    problem = Problem(status=status, detail=description)
    if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        problem.headers["Allow"] = ", ".join(error.valid_methods)
    return problem


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Response:
        problem = Problem(
            status=error.status,
            title=error.title,
            detail=error.detail,
            errors=getattr(error, "errors", []),
            extra=error.extra,
        )
        if isinstance(error, Unauthorized):
            # RFC 6750: say the token was bad when one was sent.
            sent = request.headers.get("Authorization", "").startswith("Bearer ")
            problem.headers["WWW-Authenticate"] = 'Bearer realm="clinic"' + (', error="invalid_token"' if sent else "")
        if isinstance(error, DomainError) and error.status == 429:
            problem.headers["Retry-After"] = str(error.extra.pop("retry_after", 900))
        return render_problem(problem)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        if isinstance(error, InternalServerError) and error.original_exception is not None:
            return _unexpected(error.original_exception)
        # Responses an extension built itself (rate limits) keep their own body builder.
        custom = getattr(error, "problem", None)
        return render_problem(custom if isinstance(custom, Problem) else _from_http_exception(error))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.error(
            "unhandled exception",
            exc_info=(type(error), error, error.__traceback__),
            extra={"event": "unhandled_exception", "exception_type": type(error).__name__},
        )
        return render_problem(
            Problem(status=500, detail="An unexpected error occurred. Quote the request id when reporting it.")
        )
