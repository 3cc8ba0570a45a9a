"""The three kinds of benchmark, and what a long job's run reports.

``HttpBenchmark`` (wrk against both servers), ``TimingBenchmark`` (two callables timed in the
harness's process) and ``RunBenchmark`` (a long job per target in a child process, which returns
a ``RunSample``: the ``ChildMeasure`` of its process, its own work time, facts and ``Verdict``s).
They are registered in bench/catalog.py and run by bench/runners.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench.harness import BenchContext


@dataclass(frozen=True)
class HttpBenchmark:
    """wrk against ``path`` on the app and ``baseline_path`` on the bare baseline.

    ``setup(ctx)`` runs once the servers answer (seed data there) and returns the headers to send
    to both, e.g. ``{"Authorization": "Bearer ..."}``. A ``method`` other than GET, or a ``body``,
    goes to the app only; the baseline always answers ``GET baseline_path``.
    """

    name: str
    path: str
    description: str
    baseline_path: str = "/health"
    setup: Callable[[BenchContext], dict[str, str]] | None = None
    method: str = "GET"
    body: str | None = None
    # Concurrent connections; 2 (one per gunicorn worker) measures a request's own latency rather
    # than time spent queueing behind others.
    connections: int | None = None


@dataclass(frozen=True)
class TimingBenchmark:
    """A Python callable against a baseline callable, both timed in this process.

    ``prepare(ctx)`` returns ``(candidate, baseline)``; each is called ``runs`` times (alternating,
    after ``warmup_runs`` untimed calls), stopping early when the time budget (``--seconds``) is
    spent. Each call must itself be bounded: a watchdog aborts the run if one hangs.
    """

    name: str
    description: str
    prepare: Callable[[BenchContext], tuple[Callable[[], object], Callable[[], object]]]
    runs: int = 200
    warmup_runs: int = 5


@dataclass(frozen=True)
class ChildMeasure:
    """One child process as the harness measured it (see ``measure_child``)."""

    seconds: float  # wall clock, start to exit
    cpu_seconds: float  # user + system time of that process: far below seconds means it waited
    peak_rss_mb: float  # that process's own peak resident set
    returncode: int
    log_path: Path
    output_tail: str  # the last lines of its stdout and stderr


@dataclass(frozen=True)
class Verdict:
    """A target or a correctness check, said in words: ``PASS  sync under 5 s: 3.10 s``."""

    label: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class RunSample:
    """One run of one target of a long job.

    ``work_seconds`` is the job's own timing of its work (a sync run's start to finish, as the app
    records it), which leaves out interpreter and app start-up; the ratio compares these.
    ``facts`` (JSON-safe) are printed as they are; ``verdicts`` decide whether the benchmark passed.
    """

    child: ChildMeasure
    work_seconds: float
    facts: dict[str, Any] = field(default_factory=dict)
    verdicts: tuple[Verdict, ...] = ()


class Measure(Protocol):
    """Run a command in a child process to its end and measure it; ``target`` names its log file."""

    def __call__(
        self, target: str, argv: list[str], *, env: dict[str, str], stdin: str | None = None, timeout_s: float
    ) -> ChildMeasure: ...


class LongJob(Protocol):
    """What a ``RunBenchmark``'s ``prepare(ctx)`` yields: the two jobs, each run through ``measure``."""

    def baseline(self, measure: Measure) -> RunSample: ...

    def candidate(self, measure: Measure) -> RunSample: ...


@dataclass(frozen=True)
class RunBenchmark:
    """One long job (a whole sync) against a baseline job, each in its own child process.

    ``prepare(ctx)`` is a context manager: it starts what both jobs need (a sandbox server, say),
    yields a ``LongJob``, and stops it all on the way out, also on error or Ctrl-C. Each of ``runs``
    rounds runs the baseline, then the candidate. A child's peak memory is its own (see
    ``measure_child``), not the harness's nor the servers'. ``slow`` is printed before it starts.
    """

    name: str
    description: str
    prepare: Callable[[BenchContext], contextlib.AbstractContextManager[LongJob]]
    runs: int = 1
    slow: str | None = None


Benchmark = HttpBenchmark | TimingBenchmark | RunBenchmark
BENCHMARKS: dict[str, Benchmark] = {}
