"""Pacing for calls to Cliniko: a client-side request limiter and the waits between retries.

Cliniko allows 200 requests per minute per user and answers 429 beyond that. A sync that simply
fires requests as fast as it can would spend its time being refused; the limiter instead keeps the
client under the limit in every sliding 60-second window, so a full sync runs at the service's pace
without being throttled. The retry waits live here too, because both are "how long do we pause
before the next request" and both are tested with an injected clock and sleep.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

# A 429 whose reset lies further ahead than this is treated as a skewed clock rather than obeyed:
# Cliniko's window is one minute, so a genuine reset is never hours away.
MAX_RATE_LIMIT_WAIT = 120.0
# Spread clients that share a key (and were refused together) so they do not all return at once.
RATE_LIMIT_JITTER = 1.0
# How often a read waiting behind a write looks again.
YIELD_SECONDS = 0.05

_shared: dict[tuple[str, int], SlidingWindowLimiter] = {}
_shared_lock = threading.Lock()


class SlidingWindowLimiter:
    """At most ``max_requests`` sends in any ``window_seconds`` window, measured with ``clock``.

    Every send time is kept in a deque; when the deque is full the caller waits (through ``sleep``)
    until the oldest send has left the window. The same limiter may be shared by several clients
    that use one API key, since Cliniko counts per user, not per connection.
    """

    def __init__(
        self,
        max_requests: int,
        window_seconds: float = 60.0,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        if max_requests < 1:
            raise ValueError("max_requests must be at least 1")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.max_requests = max_requests
        self.window_seconds = window_seconds
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self._writers_waiting = 0

    def acquire(self, *, write: bool = False) -> float:
        """Wait until one more send fits in the window, record it, and return the seconds waited.

        A ``write`` (a change a person is waiting for) goes first: while one waits, reads yield
        the free places to it (they check again every ``YIELD_SECONDS``).
        """
        waited = 0.0
        if write:
            with self._lock:
                self._writers_waiting += 1
        try:
            while True:
                with self._lock:
                    now = self._clock()
                    self._forget_before(now - self.window_seconds)
                    full = len(self._sent) >= self.max_requests
                    if not full and (write or self._writers_waiting == 0):
                        self._sent.append(now)
                        return waited
                    pause = self._sent[0] + self.window_seconds - now if full else YIELD_SECONDS
                # Sleep outside the lock so another thread sharing the limiter can still check it.
                if pause > 0:
                    self._sleep(pause)
                    waited += pause
        finally:
            if write:
                with self._lock:
                    self._writers_waiting -= 1

    def _forget_before(self, horizon: float) -> None:
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()

    @property
    def recent_sends(self) -> list[float]:
        """The send times still inside the window (for diagnostics and tests)."""
        with self._lock:
            return list(self._sent)


def backoff_delay(retry_number: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: a uniform pick in ``[0, min(cap, base * 2**(n-1))]``.

    Full jitter keeps several workers that failed together from retrying in lockstep.
    ``retry_number`` counts from 1.
    """
    ceiling = min(cap, base * (2 ** max(retry_number - 1, 0)))
    return rng.uniform(0.0, ceiling)


def rate_limit_delay(headers: Mapping[str, str], *, now_unix: float, rng: random.Random) -> float | None:
    """How long a 429 asks us to wait, or ``None`` when it does not say (the caller backs off).

    Cliniko sends ``X-RateLimit-Reset`` as UNIX seconds; we wait until then plus a little jitter.
    ``Retry-After`` (seconds or an HTTP date) is honoured as a fallback. A reset already in the past
    says nothing useful (our clock may be ahead), so it falls through to the next source.
    """
    reset = _as_float(headers.get("X-RateLimit-Reset"))
    if reset is not None and reset > now_unix:
        return min(reset - now_unix, MAX_RATE_LIMIT_WAIT) + rng.uniform(0.0, RATE_LIMIT_JITTER)
    retry_after = _retry_after_seconds(headers.get("Retry-After"), now_unix)
    if retry_after is not None:
        return min(retry_after, MAX_RATE_LIMIT_WAIT) + rng.uniform(0.0, RATE_LIMIT_JITTER)
    return None


def _as_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _retry_after_seconds(value: str | None, now_unix: float) -> float | None:
    seconds = _as_float(value)
    if seconds is not None:
        return seconds if seconds >= 0 else None
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    remaining = moment.timestamp() - now_unix
    return remaining if remaining >= 0 else None


def shared_limiter(key_fingerprint: str, max_requests: int, window_seconds: float) -> SlidingWindowLimiter:
    """The one limiter of an API key in this process, so the read-sync and the outbox's writes
    share Cliniko's per-user budget (writes first). ``key_fingerprint`` is a hash, never the key."""
    with _shared_lock:
        limiter = _shared.get((key_fingerprint, max_requests))
        if limiter is None:
            limiter = SlidingWindowLimiter(max_requests, window_seconds, clock=time.monotonic, sleep=time.sleep)
            _shared[(key_fingerprint, max_requests)] = limiter
        return limiter
