"""Faults the sandbox can inject, so the sync engine's retries, throttling and resumption are tested
against the failures the real Cliniko produces: 429s, 5xx from long queries, slow answers, dropped
connections and records that change while a sync is paging through them.

Random decisions come from a seeded generator, so a run with the same faults fails the same way.
"""

from __future__ import annotations

import math
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

ERROR_STATUSES = (502, 503, 504)


@dataclass(frozen=True)
class Faults:
    """What goes wrong, and how often. All off by default.

    ``rate_limit_per_minute``: the N+1-th request in a fixed window gets 429 (Cliniko allows 200).
    ``rate_limit_window_seconds``: the window's length; 60 like Cliniko, shorter for quick tests.
    ``error_rate``: share of API requests answered 502/503/504.
    ``slow_seconds`` / ``slow_rate``: sleep this long before answering that share of requests.
    ``drop_rate``: share of requests whose connection is closed without any response.
    ``mutate_between_pages``: after each list page, bump ``updated_at`` of this many records of the
    listed resource, as if the clinic kept working while a sync was paging.
    ``write_error_rate``: share of write requests (POST, PATCH) refused before they change anything,
    half with 429 and half with 502.
    ``lost_write_answers``: the next this many writes are applied, then their answer is lost: the
    connection is shut before it is sent or, with ``lost_write_seconds``, the answer comes that many
    seconds late (after the client's timeout): either way the change happened and nobody heard.
    """

    rate_limit_per_minute: int | None = None
    rate_limit_window_seconds: float = 60.0
    error_rate: float = 0.0
    slow_seconds: float = 0.0
    slow_rate: float = 1.0
    drop_rate: float = 0.0
    mutate_between_pages: int = 0
    write_error_rate: float = 0.0
    lost_write_answers: int = 0
    lost_write_seconds: float = 0.0

    def __post_init__(self) -> None:
        for name in ("error_rate", "slow_rate", "drop_rate", "write_error_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number from 0 to 1")
        if self.rate_limit_per_minute is not None and (
            isinstance(self.rate_limit_per_minute, bool)
            or not isinstance(self.rate_limit_per_minute, int)
            or self.rate_limit_per_minute < 1
        ):
            raise ValueError("rate_limit_per_minute must be a positive whole number or null")
        for name in ("rate_limit_window_seconds", "slow_seconds", "lost_write_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a number of seconds, zero or more")
        if self.rate_limit_window_seconds <= 0:
            raise ValueError("rate_limit_window_seconds must be more than zero")
        lost = self.lost_write_answers
        if isinstance(lost, bool) or not isinstance(lost, int) or lost < 0:
            raise ValueError("lost_write_answers must be a whole number of writes, zero or more")
        value = self.mutate_between_pages
        if isinstance(value, bool):
            object.__setattr__(self, "mutate_between_pages", 3 if value else 0)
        elif not isinstance(value, int) or value < 0:
            raise ValueError("mutate_between_pages must be a whole number of records, zero or more")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Faults:
        """Faults from a control request's body; unnamed faults are off, unknown names are refused."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # UNIX seconds when the current window ends

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }


class FaultInjector:
    """The faults in force plus the state they need (the rate window, the random stream); thread-safe."""

    def __init__(self, faults: Faults, seed: int, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._rng = random.Random(seed * 31 + 17)  # noqa: S311 - reproducible fault pattern, no secrets
        self._faults = faults
        self._window_start: float | None = None
        self._window_count = 0
        self._lost_left = faults.lost_write_answers

    @property
    def faults(self) -> Faults:
        return self._faults

    def replace(self, faults: Faults) -> None:
        """Put new faults in force; the rate window starts afresh."""
        with self._lock:
            self._faults = faults
            self._window_start, self._window_count = None, 0
            self._lost_left = faults.lost_write_answers

    def admit(self) -> RateDecision | None:
        """Count one request against the fixed window; None when no rate limit is set.

        The window opens at the first request after the previous one closed, so a test that sends
        N+1 requests sees the 429 on the N+1-th whatever the wall clock says.
        """
        with self._lock:
            limit = self._faults.rate_limit_per_minute
            if limit is None:
                return None
            length = self._faults.rate_limit_window_seconds
            now = self._clock()
            if self._window_start is None or now >= self._window_start + length:
                self._window_start, self._window_count = now, 0
            reset_at = math.ceil(self._window_start + length)
            if self._window_count >= limit:
                return RateDecision(False, limit, 0, reset_at)
            self._window_count += 1
            return RateDecision(True, limit, limit - self._window_count, reset_at)

    def _roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def delay(self) -> float:
        """Seconds to sleep before answering this request (0 for most)."""
        faults = self._faults
        return faults.slow_seconds if faults.slow_seconds and self._roll(faults.slow_rate) else 0.0

    def failure_status(self) -> int | None:
        """A 5xx to answer instead of the data, or None."""
        if not self._roll(self._faults.error_rate):
            return None
        with self._lock:
            return self._rng.choice(ERROR_STATUSES)

    def write_failure(self) -> int | None:
        """429 or 502 for a write refused before it changes anything, or None."""
        if not self._roll(self._faults.write_error_rate):
            return None
        with self._lock:
            return self._rng.choice((429, 502))

    def lose_this_answer(self) -> bool:
        """Whether this (applied) write's answer is lost; counts down ``lost_write_answers``."""
        with self._lock:
            if self._lost_left <= 0:
                return False
            self._lost_left -= 1
            return True

    def should_drop(self) -> bool:
        return self._roll(self._faults.drop_rate)

    def pick(self, population: int, count: int) -> list[int]:
        """Indexes of ``count`` distinct records out of ``population``, from the seeded stream."""
        with self._lock:
            return self._rng.sample(range(population), min(count, population))


def drop_connection(environ: Mapping[str, Any]) -> bool:
    """Shut the client's socket so it sees the connection close with no response at all.

    Only shut down, never closed: the server still owns the descriptor, and its attempt to write the
    response then fails with a broken pipe, which it treats as a client that went away (quietly).
    Returns False when there is no socket (the in-process test client).
    """
    connection = environ.get("werkzeug.socket")
    if connection is None:
        return False
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        return False
    return True
