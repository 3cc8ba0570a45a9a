"""Sending one write to Cliniko, and what its answer means (the outbox decides what to do next).

* 2xx: the record as Cliniko now holds it (``None`` for a 204);
* 429: not applied; waited out (``X-RateLimit-Reset``/``Retry-After``) and sent again;
* 422: ``ClinikoRefused`` with Cliniko's words by field (shown on the field concerned);
* 404: ``ClinikoGone``; 401: ``ClinikoAuthError``; another 4xx: ``ClinikoRequestError``;
* 5xx, a timeout or a dropped connection: the write **may** have been applied. An idempotent
  write (a PATCH, an archive, a cancel: sending it twice leaves the same state) is retried with
  backoff; a create is not: ``ClinikoUncertain`` tells the outbox to look for it first.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from clinic_app.sync.client import RETRY_STATUSES, ClinikoClient
from clinic_app.sync.cliniko import ClinikoAuthError, ClinikoRequestError, ClinikoUnavailable
from clinic_app.sync.ratelimit import backoff_delay, rate_limit_delay

log = logging.getLogger("clinic_app.sync.writes")


class ClinikoRefused(ClinikoRequestError):
    """Cliniko answered 422: ``errors`` is ``[(field, words), ...]`` as Cliniko named them."""

    def __init__(self, path: str, errors: list[tuple[str, str]]) -> None:
        named = "; ".join(f"{field}: {words}" for field, words in errors) or "no reason given"
        super().__init__(f"Cliniko refused the change ({named}).", status_code=422)
        self.errors = errors


class ClinikoGone(ClinikoRequestError):
    """Cliniko answered 404: the record is not (or no longer) there."""


class ClinikoUncertain(ClinikoUnavailable):
    """A create got no clear answer: it may have been applied. Look it up before sending again."""


def refusal_errors(response: httpx.Response) -> list[tuple[str, str]]:
    """Cliniko's 422 body ``{"errors": {"field": ["words", ...]}}`` as (field, words) pairs."""
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    found: list[tuple[str, str]] = []
    if isinstance(errors, dict):
        for field, messages in errors.items():
            for words in messages if isinstance(messages, list) else [messages]:
                found.append((str(field)[:60], str(words)[:200]))
    elif isinstance(body, dict) and isinstance(body.get("message"), str):
        found.append(("base", body["message"][:200]))
    return found


def write(
    client: ClinikoClient,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    idempotent: bool,
) -> dict[str, Any] | None:
    """Send one write until it is answered for good; see the module's docstring for the outcomes."""
    attempt = 0
    while True:
        attempt += 1
        wait: float | None = None
        started = time.perf_counter()
        try:
            response = client.send_once(method, path, body)
        except httpx.TransportError as exc:
            status, reason = None, "timed out" if isinstance(exc, httpx.TimeoutException) else "no answer"
        else:
            status = response.status_code
            reason = f"HTTP {status}"
            if 200 <= status < 300:
                _log(method, path, status, started, attempt)
                return _document(response)
            if status == 429:
                client.stats.rate_limited += 1
                wait = rate_limit_delay(response.headers, now_unix=time.time(), rng=client._rng)
            elif status == 422:
                raise ClinikoRefused(path, refusal_errors(response))
            elif status == 404:
                raise ClinikoGone(f"Cliniko has no record at {path}.", status_code=404)
            elif status == 401:
                raise ClinikoAuthError(shard=client.shard, host=client._host_label())
            elif status not in RETRY_STATUSES:
                raise ClinikoRequestError(f"Cliniko refused {method} {path} (HTTP {status}).", status_code=status)
        _log(method, path, status, started, attempt)
        applied_maybe = status != 429
        if applied_maybe and not idempotent:
            raise ClinikoUncertain(f"Cliniko gave no clear answer to {method} {path} ({reason}).", status_code=status)
        if attempt > client.max_retries:
            raise ClinikoUnavailable(
                f"Cliniko did not take {method} {path} after {attempt} attempts (last: {reason}).",
                status_code=status,
                attempts=attempt,
            )
        client.stats.retries += 1
        if wait is None:
            wait = backoff_delay(attempt, base=client._backoff_base, cap=client._backoff_cap, rng=client._rng)
        client._sleep(wait)


def backoff(client: ClinikoClient, attempt: int) -> None:
    """Pause before the outbox sends a create again (after looking for it)."""
    client.stats.retries += 1
    client._sleep(backoff_delay(attempt, base=client._backoff_base, cap=client._backoff_cap, rng=client._rng))


def _document(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code == 204 or not response.content:
        return None
    try:
        document = response.json()
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _log(method: str, path: str, status: int | None, started: float, attempt: int) -> None:
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    log.debug(
        "Cliniko %s %s -> %s in %.1f ms",
        method,
        path,
        status if status is not None else "no answer",
        elapsed_ms,
        extra={"event": "cliniko_write", "method": method, "path": path, "status": status, "attempt": attempt},
    )
