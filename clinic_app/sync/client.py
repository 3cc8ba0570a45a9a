"""An HTTP client for Cliniko's public API, as the sync engine needs it (what the API looks like,
its shards, pages and errors: ``cliniko``).

What it promises the engine:

* the request Cliniko documents: HTTP Basic auth with the API key as user name and an empty
  password, ``Accept: application/json`` and a ``Vendor (contact)`` User-Agent, sent to the shard
  the key names (``...-au4`` -> ``api.au4.cliniko.com``);
* pacing: never more than ``requests_per_minute`` sends in any sliding minute, so a full sync runs
  at Cliniko's limit without being refused;
* patience: 429s (waiting until ``X-RateLimit-Reset``), 5xx answers, timeouts and dropped
  connections are retried with backoff; what cannot be fixed by waiting (401, other 4xx) fails at
  once, with a message an admin can act on;
* completeness: lists are followed through ``links.next`` to the end, a page without its records is
  an error rather than an empty page, and ``total_entries`` travels with every page;
* discretion: the key never appears in a log line, an exception or a ``repr``, and is only ever sent
  to the host it was configured for (a ``next`` link elsewhere is refused).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NoReturn

import httpx

from clinic_app.core import tls
from clinic_app.sync.cliniko import (
    ClinikoAuthError,
    ClinikoRequestError,
    ClinikoUnavailable,
    Page,
    base_url_for,
    items_key,
    mask_key,
    shard_of,
)
from clinic_app.sync.ratelimit import SlidingWindowLimiter, backoff_delay, rate_limit_delay

log = logging.getLogger("clinic_app.sync.client")

# Cliniko counts requests per minute from when they arrive, we from when we send: a second of margin
# keeps the 201st request of a busy minute from arriving a moment early and drawing a 429.
LIMIT_WINDOW_SECONDS = 61.0
MAX_PER_PAGE = 100

# Answers that waiting can fix. 429 is handled apart because it says how long to wait.
RETRY_STATUSES = frozenset({500, 502, 503, 504})
_BODY_EXCERPT_CHARS = 200


@dataclass
class ClientStats:
    """What a run cost: requests sent (retries included), retries, 429s, and seconds spent waiting
    on the limiter or on 429 resets (not on 5xx backoff), for the sync's progress record."""

    requests: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    rate_limited: int = 0


@dataclass
class _Failure:
    """One attempt that waiting may fix: what went wrong and, for a 429, how long to wait."""

    status_code: int | None
    reason: str
    wait: float | None = None


class ClinikoClient:
    """One API key's view of Cliniko: a single keep-alive connection pool, paced and retried."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        user_agent: str = "Clinic App (support@clinic.example)",
        requests_per_minute: int = 200,
        timeout: float = 30.0,
        max_retries: int = 6,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        limiter: SlidingWindowLimiter | None = None,
    ) -> None:
        key = api_key.strip()
        if not key:
            raise ValueError("an API key is required")
        self._api_key = key
        self.key_hint = mask_key(key)
        self.shard = shard_of(key)
        self.base_url = base_url_for(key, base_url)
        self._origin = _origin(httpx.URL(self.base_url))
        self.stats = ClientStats()
        self.max_retries = max(0, max_retries)
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._limiter = limiter or SlidingWindowLimiter(
            requests_per_minute, LIMIT_WINDOW_SECONDS, clock=clock, sleep=sleep
        )
        self._http = httpx.Client(
            auth=httpx.BasicAuth(key, ""),
            headers={"Accept": "application/json", "User-Agent": user_agent},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            verify=tls.verified_context() if transport is None else True,
        )

    def __repr__(self) -> str:
        return f"<ClinikoClient shard={self.shard} base_url={self.base_url} key={self.key_hint}>"

    __str__ = __repr__

    # -- public calls -------------------------------------------------------------------------

    def get(self, path_or_url: str, params: list[tuple[str, str]] | None = None) -> dict:
        """One JSON document from ``path_or_url`` (relative to ``base_url``, or an absolute URL on
        the same origin), paced by the limiter and retried while waiting can help.

        Raises ClinikoAuthError (401), ClinikoRequestError (other 4xx, a foreign host, a body that
        is not a JSON object) or ClinikoUnavailable (retries exhausted).
        """
        return self._get_json(self._resolve(path_or_url), params)

    def iter_pages(
        self,
        resource: str,
        *,
        params: list[tuple[str, str]] | None = None,
        per_page: int = 100,
        start_url: str | None = None,
    ) -> Iterator[Page]:
        """Every page of a list, following ``links.next`` until Cliniko stops giving one.

        ``start_url`` resumes from a ``next_url`` saved earlier (it already carries the filters, so
        ``params`` and ``per_page`` are then ignored). Each page must hold its records under the
        resource's key (``practitioners/inactive`` -> ``practitioners``) and a ``total_entries``.
        """
        key = items_key(resource)
        if start_url is not None:
            url, query = self._resolve(start_url), None
        else:
            size = max(1, min(per_page, MAX_PER_PAGE))
            url, query = self._resolve(resource), [*(params or []), ("per_page", str(size))]
        number = _page_number(url, default=1)
        fetched: set[str] = set()
        while True:
            fetched.add(url)
            document = self._get_json(url, query, page=number)
            page = self._page_from(document, resource=resource, key=key, number=number, url=url)
            yield page
            if page.next_url is None:
                return
            if page.next_url in fetched:
                raise ClinikoRequestError(
                    f"Cliniko's list of {resource} links back to a page already read (page {number}); "
                    "stopped rather than loop.",
                )
            url, query = page.next_url, None
            number = _page_number(url, default=number + 1)

    def list_all(self, resource: str, *, params: list[tuple[str, str]] | None = None) -> list[dict]:
        """All records of a (small) list in memory: businesses, practitioners, appointment types."""
        records: list[dict] = []
        for page in self.iter_pages(resource, params=params):
            records.extend(page.items)
        return records

    def send_once(self, method: str, path: str, body: dict | None = None) -> httpx.Response:
        """One write (``POST``/``PATCH``) to ``path``, paced ahead of reads and never retried here:
        whether it may be sent again is the caller's to decide (``writes``). Raises httpx's
        TransportError when no answer came."""
        url = self._resolve(path)
        self.stats.throttled_seconds += self._limiter.acquire(write=True)
        self.stats.requests += 1
        return self._http.request(method, url, json=body)

    def businesses(self) -> list[dict]:
        """The clinic's businesses (locations), each with its own time zone."""
        return self.list_all("businesses")

    def test_connection(self) -> dict:
        """Prove the key works by listing the businesses; what an admin sees after connecting.

        Raises ClinikoAuthError with the shard explanation when the key is refused.
        """
        summary = [
            {
                "id": str(business.get("id")) if business.get("id") is not None else None,
                "name": _business_name(business),
                "time_zone": business.get("time_zone_identifier"),
            }
            for business in self.businesses()
        ]
        return {"shard": self.shard, "base_url": self.base_url, "businesses": summary}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ClinikoClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- one request, paced and retried --------------------------------------------------------

    def _get_json(self, url: str, params: list[tuple[str, str]] | None, *, page: int | None = None) -> dict:
        path = httpx.URL(url).path
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(url, params, path=path, page=page)
            if isinstance(outcome, dict):
                return outcome
            failure = outcome
            if attempt > self.max_retries:
                self._give_up(path, attempt, failure)
            delay = failure.wait
            if delay is None:
                delay = backoff_delay(attempt, base=self._backoff_base, cap=self._backoff_cap, rng=self._rng)
            self.stats.retries += 1
            log.warning(
                "Cliniko GET %s failed (%s); retry %d of %d in %.1f s",
                path,
                failure.reason,
                attempt,
                self.max_retries,
                delay,
                extra={
                    "event": "cliniko_retry",
                    "path": path,
                    "page": page,
                    "status": failure.status_code,
                    "attempt": attempt,
                    "delay_s": round(delay, 3),
                },
            )
            self._sleep(delay)
            if failure.status_code == 429:
                self.stats.throttled_seconds += delay

    def _attempt(
        self, url: str, params: list[tuple[str, str]] | None, *, path: str, page: int | None
    ) -> dict | _Failure:
        """Send once. Returns the document, or a failure worth retrying; raises what is final."""
        self.stats.throttled_seconds += self._limiter.acquire()
        self.stats.requests += 1
        started = time.perf_counter()
        try:
            response = self._http.get(url, params=params)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            raise ClinikoRequestError(f"Cannot send a request to {path}: the address is not usable.") from None
        except httpx.TransportError as exc:
            self._log_request(path, page, None, started)
            kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
            return _Failure(None, f"{kind}: {type(exc).__name__}")
        self._log_request(path, page, response.status_code, started)
        return self._interpret(response, path)

    def _interpret(self, response: httpx.Response, path: str) -> dict | _Failure:
        status = response.status_code
        if 200 <= status < 300:
            try:
                document = response.json()
            except ValueError:
                # Most often a body cut short by a proxy or a dropped connection: worth another try.
                return _Failure(status, "the answer was not valid JSON")
            if not isinstance(document, dict):
                raise ClinikoRequestError(f"Cliniko's answer to {path} was JSON but not an object.", status_code=status)
            return document
        if status == 401:
            raise ClinikoAuthError(shard=self.shard, host=self._host_label())
        if status == 429:
            self.stats.rate_limited += 1
            wait = rate_limit_delay(response.headers, now_unix=self._wall_clock(), rng=self._rng)
            return _Failure(status, "rate limited (HTTP 429)", wait)
        if status in RETRY_STATUSES:
            return _Failure(status, f"HTTP {status}")
        if status >= 500:
            raise ClinikoUnavailable(f"Cliniko answered HTTP {status} to {path}.", status_code=status, attempts=1)
        self._refuse(response, path)

    def _refuse(self, response: httpx.Response, path: str) -> NoReturn:
        status = response.status_code
        excerpt = self._scrub(" ".join(response.text.split())[:_BODY_EXCERPT_CHARS])
        if 300 <= status < 400:
            message = f"Cliniko redirected {path} (HTTP {status}); redirects are not followed with the API key."
        else:
            message = f"Cliniko refused the request for {path} (HTTP {status})"
            message += f": {excerpt}" if excerpt else "."
        raise ClinikoRequestError(message, status_code=status, body_excerpt=excerpt)

    def _give_up(self, path: str, attempts: int, failure: _Failure) -> NoReturn:
        last = f"HTTP {failure.status_code}" if failure.status_code is not None else "no answer"
        raise ClinikoUnavailable(
            f"Cliniko did not answer GET {path} after {attempts} attempts (last: {last}, {failure.reason}). "
            "Cliniko may be busy or down; try the sync again later.",
            status_code=failure.status_code,
            attempts=attempts,
        )

    # -- pages ---------------------------------------------------------------------------------

    def _page_from(self, document: dict, *, resource: str, key: str, number: int, url: str) -> Page:
        items = document.get(key)
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ClinikoRequestError(
                f"Cliniko's page {number} of {resource} has no list of {key!r}; refusing to treat it as empty."
            )
        total = document.get("total_entries")
        if isinstance(total, str) and total.isdigit():
            total = int(total)
        if not isinstance(total, int) or isinstance(total, bool):
            raise ClinikoRequestError(f"Cliniko's page {number} of {resource} does not say its total_entries.")
        links = document.get("links")
        next_link = links.get("next") if isinstance(links, dict) else None
        next_url = self._resolve(next_link, relative_to=url) if isinstance(next_link, str) and next_link else None
        return Page(resource=resource, items=items, total_entries=total, number=number, next_url=next_url)

    # -- addresses -----------------------------------------------------------------------------

    def _resolve(self, path_or_url: str, *, relative_to: str | None = None) -> str:
        """An absolute URL for a path or link, refusing any origin but the configured one, so a
        hostile or mistaken link can never carry the key elsewhere (or over plain HTTP)."""
        target = path_or_url.strip()
        try:
            if relative_to is not None:
                url = httpx.URL(relative_to).join(target)
            elif "://" in target:
                url = httpx.URL(target)
            else:
                url = httpx.URL(self.base_url + "/" + target.lstrip("/"))
        except httpx.InvalidURL:
            raise ClinikoRequestError(
                "Cliniko gave a link that is not a valid address; refused to follow it."
            ) from None
        if _origin(url) != self._origin:
            raise ClinikoRequestError(
                f"Refused to follow a link to {url.scheme}://{url.netloc.decode()}: "
                f"the API key is only sent to {self._host_label()}."
            )
        return str(url)

    def _host_label(self) -> str:
        url = httpx.URL(self.base_url)
        return url.netloc.decode() + url.path.rstrip("/")

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, self.key_hint) if self._api_key in text else text

    def _log_request(self, path: str, page: int | None, status: int | None, started: float) -> None:
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        log.debug(
            "Cliniko GET %s page=%s -> %s in %.1f ms",
            path,
            page,
            status if status is not None else "no answer",
            elapsed_ms,
            extra={
                "event": "cliniko_request",
                "method": "GET",
                "path": path,
                "page": page,
                "status": status,
                "elapsed_ms": elapsed_ms,
            },
        )


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default_port = {"https": 443, "http": 80}.get(url.scheme)
    return url.scheme, url.host.lower(), url.port or default_port


def _page_number(url: str, *, default: int) -> int:
    raw = httpx.URL(url).params.get("page")
    return int(raw) if raw is not None and raw.isdigit() and int(raw) > 0 else default


def _business_name(business: dict[str, Any]) -> str | None:
    for field in ("display_name", "business_name", "label", "name"):
        value = business.get(field)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
