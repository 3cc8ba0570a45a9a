"""``bench/run.py --profile NAME``: where one benchmark's time goes, before changing anything.

An HTTP benchmark's requests are replayed in this process through the app built with the
server's own settings (``BenchContext.flask_app``: production configuration, the bench database,
the same headers, session cookie included), under ``cProfile``. A timing benchmark's candidate
callable is profiled the same way. The result is two files in ``bench/results/``:

* ``profile-NAME.txt``: the requests made and the time per request, then the top functions by
  their own time and by cumulative time (the table the closing notes quote);
* ``profile-NAME.prof``: the raw ``pstats`` data, for any flame-graph viewer that reads it.

Long jobs (the syncs, the imports) run in child processes of their own; profile those with py-spy
as bench/README.md describes ("Profiling").
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.harness import BenchContext, BenchError
from bench.kinds import HttpBenchmark, TimingBenchmark
from bench.settings import RESULTS_DIR

TOP_FUNCTIONS = 35


def _replay(benchmark: HttpBenchmark, ctx: BenchContext, headers: dict[str, str]) -> Callable[[], object]:
    client = ctx.flask_app().test_client(use_cookies=False)  # the Cookie header given is sent as is

    def request() -> object:
        answer = client.open(benchmark.path, method=benchmark.method, headers=headers, data=benchmark.body)
        if not 200 <= answer.status_code < 300:
            status = answer.status_code
            raise BenchError(f"{benchmark.name}: in-process {benchmark.method} {benchmark.path} answered {status}")
        return answer

    return request


def _run(call: Callable[[], object], *, seconds: float, warmup: int = 20) -> tuple[cProfile.Profile, int, float]:
    for _ in range(warmup):
        call()
    profiler = cProfile.Profile()
    calls = 0
    started = time.perf_counter()
    profiler.enable()
    try:
        while calls == 0 or time.perf_counter() - started < seconds:
            call()
            calls += 1
    finally:
        profiler.disable()
    return profiler, calls, time.perf_counter() - started


def _write(name: str, what: str, profiler: cProfile.Profile, calls: int, elapsed: float) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    raw = RESULTS_DIR / f"profile-{name}.prof"
    profiler.dump_stats(raw)
    text = io.StringIO()
    text.write(f"{name}: {what}\n")
    text.write(f"{calls} calls in {elapsed:.2f} s under the profiler: {elapsed / calls * 1000:.3f} ms each\n")
    text.write("(the profiler slows Python down; compare shares of the total, not these times with wrk's)\n\n")
    for order, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
        text.write(f"== top {TOP_FUNCTIONS} functions by {title}\n")
        stats = pstats.Stats(profiler, stream=text)
        stats.strip_dirs().sort_stats(order).print_stats(TOP_FUNCTIONS)
    table = RESULTS_DIR / f"profile-{name}.txt"
    table.write_text(text.getvalue())
    return table


def profile(benchmark: HttpBenchmark | TimingBenchmark, ctx: BenchContext, *, seconds: float) -> Path:
    """Profile ``benchmark`` for about ``seconds`` and return the table's path."""
    if isinstance(benchmark, HttpBenchmark):
        headers = benchmark.setup(ctx) if benchmark.setup else {}
        if benchmark.body is not None:
            headers = {"Content-Type": "application/json", **headers}
        call = _replay(benchmark, ctx, headers)
        what = f"{benchmark.method} {benchmark.path} in-process, the server's settings and headers"
    else:
        call, _baseline = benchmark.prepare(ctx)
        what = "the candidate callable"
    profiler, calls, elapsed = _run(call, seconds=seconds)
    return _write(benchmark.name, what, profiler, calls, elapsed)


def under_py_spy(command: list[str], output: Path) -> list[str]:
    """``command`` run under py-spy: sampled stacks of every thread (a sync's job runs on its
    command's worker thread, which cProfile would miss), collapsed into ``output``."""
    spy = str(Path(sys.executable).with_name("py-spy"))
    # BENCH_PYSPY_OPTIONS adds py-spy's own options (bench/README): "--idle --nonblocking" keeps
    # the samples of threads that wait (for the database, a page, the GIL), "--gil" only the
    # samples of the thread holding the GIL.
    extra = os.environ.get("BENCH_PYSPY_OPTIONS", "").split()
    return [spy, "record", "--rate", "200", *extra, "--format", "raw", "--output", str(output), "--", *command]
