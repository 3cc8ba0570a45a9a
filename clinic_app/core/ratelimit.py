"""Rate-limit tiers of the API contract, with its headers and 429 body.

| Tier   | Paths                     | Limit               |
|--------|---------------------------|---------------------|
| public | ``/``, ``/health``, ``/docs`` | 100 per 15 minutes  |
| sync   | ``/api/v1/sync/*``        | 100 per 15 minutes  |
| admin  | ``/api/v1/admin/*``       | 50 per 15 minutes   |
| api    | ``/api/v1/*``             | 1000 per 15 minutes |

Counters are kept per tier and per caller: the API token or the user (and organization) when
authenticated, the client address otherwise. Redis stores them in production (shared by every
web process); memory in the embedded default. Built on ``limits`` (the engine under
Flask-Limiter) so the tiers can follow path prefixes and the answers follow the contract exactly.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, request
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from clinic_app.core import audit
from clinic_app.core.credentials import keyed_hash
from clinic_app.core.errors import DomainError, Unavailable

log = logging.getLogger("clinic_app.ratelimit")


@dataclass(frozen=True)
class Tier:
    name: str
    limit: RateLimitItem


TIERS = {
    "public": Tier("public", parse("100/15minutes")),
    "api": Tier("api", parse("1000/15minutes")),
    "sync": Tier("sync", parse("100/15minutes")),
    "admin": Tier("admin", parse("50/15minutes")),
}


class RateLimited(DomainError):
    status = 429
    title = "Rate limit exceeded"


class Throttled(RateLimited):
    """Too many attempts at one guarded operation (a reset, a sign-up, a second factor) for a key.
    ``window`` is what the contract's ``X-RateLimit-*`` headers say: (limit, remaining, reset
    time, seconds to wait); ``throttle`` puts it on the answer."""

    def __init__(self, detail: str, *, window: tuple[int, int, int, int]) -> None:
        limit, remaining, reset, retry_after = window
        super().__init__(
            detail,
            rate_limit={"limit": limit, "remaining": remaining, "reset_time": reset, "retry_after": retry_after},
            retry_after=retry_after,
        )
        self.window = window


def tier_for(path: str) -> Tier | None:
    # The bare prefixes belong to their tier too, so a route at /api/v1/sync cannot escape it.
    # Starting and watching Cliniko syncs costs the same whichever path asks: one tier.
    if path.startswith(("/api/v1/sync/", "/api/v1/cliniko/")) or path in ("/api/v1/sync", "/api/v1/cliniko"):
        return TIERS["sync"]
    if path.startswith("/api/v1/admin/") or path == "/api/v1/admin":
        return TIERS["admin"]
    if path.startswith("/api/v1/") or path == "/api/v1":
        return TIERS["api"]
    if path in ("/", "/health", "/docs", "/redoc"):
        return TIERS["public"]
    return None


def _caller_key() -> str:
    identity = g.get("identity")
    if identity is not None:
        if identity.api_token is not None:
            return f"token:{identity.api_token.id}"
        if identity.user is not None:
            return f"user:{identity.user.id}"
    return f"ip:{request.remote_addr or 'unknown'}"


def init_rate_limits(app: Flask) -> None:
    uri = app.config.get("RATELIMIT_STORAGE_URI") or app.config.get("REDIS_URL") or "memory://"
    storage = storage_from_string(uri)
    app.extensions["clinic_ratelimiter"] = FixedWindowRateLimiter(storage)

    @app.after_request
    def _headers(response: Response) -> Response:
        stats = g.pop("rate_limit", None)
        if stats is not None:
            limit, remaining, reset, retry_after = stats
            response.headers["X-RateLimit-Limit"] = str(limit)
            response.headers["X-RateLimit-Remaining"] = str(remaining)
            response.headers["X-RateLimit-Reset"] = str(reset)
            response.headers["Retry-After"] = str(retry_after)
        return response


def enforce_rate_limit() -> None:
    """before_request: count the request against its tier; 429 with the contract's body when over."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    tier = tier_for(request.path)
    if tier is None:
        return
    limiter: FixedWindowRateLimiter = current_app.extensions["clinic_ratelimiter"]
    key = _caller_key()
    try:
        allowed = limiter.hit(tier.limit, tier.name, key)
        window = limiter.get_window_stats(tier.limit, tier.name, key)
    except Exception:  # storage down: fail open rather than take the whole API with it
        current_app.logger.warning("rate-limit storage unavailable", extra={"event": "ratelimit_storage_error"})
        return
    reset = math.ceil(window.reset_time)
    remaining = max(0, window.remaining)
    # Seconds until the window ends, worked out once so the header and a 429 body agree, and
    # never longer than the window (ceil of the reset, minus the floor of now, would add one).
    retry_after = max(0, math.ceil(window.reset_time - time.time()))
    if not allowed:
        retry_after = max(1, retry_after)
    g.rate_limit = (tier.limit.amount, remaining, reset, retry_after)
    if not allowed:
        raise RateLimited(
            f"Too many requests. Try again in {retry_after} seconds.",
            rate_limit={"limit": tier.limit.amount, "remaining": 0, "reset_time": reset, "retry_after": retry_after},
            retry_after=retry_after,
        )


def throttle(
    scope_name: str,
    limits: dict[str, RateLimitItem],
    keys: dict[str, str | None],
    *,
    audit_action: str,
    details: dict[str, Any],
    too_many: str,
    feature: str,
) -> None:
    """Count this attempt under each of ``keys`` (name → value, e.g. ``{"address": email, "ip":
    ip}``; a None value is skipped) against ``limits[name]``, an atomic increment in the limiter's
    storage, and raise Throttled when one is over its limit (audited as ``audit_action``, with
    ``details`` and which key refused). The answer carries that limit in the ``X-RateLimit-*``
    headers. Values are stored keyed-hashed. Fails closed: without its storage, Unavailable
    ("``feature`` is unavailable for a moment")."""
    limiter = current_app.extensions["clinic_ratelimiter"]
    refused: tuple[RateLimitItem, str, int, int] | None = None
    for name, key in keys.items():
        if not key:
            continue
        item = limits[name]
        scope = (scope_name, name, keyed_hash(current_app.config["SECRET_KEY"], f"{name}:{key}"))
        try:
            allowed = limiter.hit(item, *scope)
            window_ends = limiter.get_window_stats(item, *scope).reset_time
        except Exception as error:
            log.warning("rate-limit storage unavailable", extra={"event": "ratelimit_storage_error"})
            raise Unavailable(f"{feature} is unavailable for a moment. Please try again shortly.") from error
        # As for the tiers: seconds to the window's end, never longer than the window.
        retry_after = max(1, math.ceil(window_ends - time.time()))
        if not allowed and (refused is None or retry_after > refused[3]):
            refused = (item, name, math.ceil(window_ends), retry_after)
    if refused is None:
        return
    item, name, reset_time, retry_after = refused
    audit.record(
        audit_action,
        organization_id=None,
        outcome=audit.DENIED,
        details={**details, "by": name},
        independent=True,
    )
    minutes = math.ceil(retry_after / 60)
    window = (item.amount, 0, reset_time, retry_after)
    g.rate_limit = window
    raise Throttled(
        f"Too many {too_many}. Please wait {minutes} minute{'s' if minutes != 1 else ''} and try again.",
        window=window,
    )
