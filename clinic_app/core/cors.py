"""CORS for the JSON API and FHIR, and nowhere else.

* Only ``/api/v1/...`` and ``/fhir/...`` answer cross-origin, and only to origins an organization
  lists on its Integrations page (the lookup is installed by ``create_app``: the webhooks feature
  keeps the lists; core only asks).
* A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is answered here, before
  anyone asks who is calling: it carries no credentials. It is allowed when any organization
  lists the origin; the real request is then checked against the caller's own organization.
* Credentials never travel cross-origin: no ``Access-Control-Allow-Credentials``, never ``*``
  (the answer names the one origin, with ``Vary: Origin``), and a cross-origin request that
  carries the session cookie but no bearer token is refused (403) before it is read, so a signed-in
  browser tab cannot be ridden by another site.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request

from clinic_app.core.errors import Forbidden

log = logging.getLogger("clinic_app.cors")

SCOPES = ("/api/v1/", "/fhir/")
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = "Authorization, Content-Type, X-Organization-ID, Idempotency-Key, X-Request-ID"
EXPOSE_HEADERS = "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, Location"
MAX_AGE = "600"
COOKIE_REFUSED = "Cross-origin requests must authenticate with a bearer token, not a browser session."

# Whether ``origin`` may call with the organization's tokens (None: any organization's).
_origin_allowed: Callable[[str, str | None], bool] | None = None


def install_origin_lookup(lookup: Callable[[str, str | None], bool]) -> None:
    """Tell CORS how to read the organizations' allowed origins (``create_app`` does this)."""
    global _origin_allowed
    _origin_allowed = lookup


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_origin() -> str | None:
    """The request's ``Origin`` when it is another site's (None for same-origin or no Origin)."""
    origin = request.headers.get("Origin")
    if not origin:
        return None
    own = {_origin_of(current_app.config.get("PUBLIC_URL") or ""), _origin_of(request.host_url)}
    return None if origin.lower() in own else origin


def in_scope() -> bool:
    return request.path.startswith(SCOPES)


def allowed(origin: str, organization_id: str | None) -> bool:
    if _origin_allowed is None or origin == "null":
        return False
    try:
        return _origin_allowed(origin, organization_id)
    except Exception:  # a failed request's session may be unusable: no CORS headers, not a 500
        log.exception("allowed origins could not be read", extra={"event": "cors_lookup_failed"})
        return False


def _preflight() -> Response | None:
    if request.method != "OPTIONS" or not in_scope():
        return None
    origin = cross_origin()
    if origin is None or "Access-Control-Request-Method" not in request.headers:
        return None
    answer = Response(status=204)
    answer.headers["Vary"] = "Origin"
    if allowed(origin, None):
        answer.headers["Access-Control-Allow-Origin"] = origin
        answer.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        answer.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        answer.headers["Access-Control-Max-Age"] = MAX_AGE
    return answer


def _refuse_cookies() -> None:
    if not in_scope() or cross_origin() is None:
        return
    bearer = request.headers.get("Authorization", "").lower().startswith("bearer ")
    if not bearer and request.cookies.get(current_app.config["SESSION_COOKIE_NAME"]):
        raise Forbidden(COOKIE_REFUSED)


def before_request() -> Response | None:
    """First hook of every request: answer a preflight, refuse a cross-origin session cookie."""
    answer = _preflight()
    if answer is not None:
        return answer
    _refuse_cookies()
    return None


def after_request(response: Response) -> Response:
    if request.method == "OPTIONS" and "Access-Control-Allow-Methods" in response.headers:
        return response  # a preflight answered above
    origin = cross_origin() if in_scope() else None
    if origin is None:
        return response
    response.headers.add("Vary", "Origin")
    organization_id = getattr(g.get("identity"), "organization_id", None)
    if allowed(origin, organization_id):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return response


def install(app: Flask) -> None:
    """Put the CORS hooks on ``app``: the before-request hook runs first of all."""
    app.before_request_funcs.setdefault(None, []).insert(0, before_request)
    app.after_request(after_request)
