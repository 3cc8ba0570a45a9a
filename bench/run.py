"""Benchmark harness: the clinic app in its production shape against a bare Flask baseline.

    .venv/bin/python bench/run.py [--seconds 10] [--warmup 2] [--only NAME ...] [--list]
    .venv/bin/python bench/run.py --profile NAME [--seconds 10]   # where its time goes (bench/profiling.py)

What happens, in order (everything is torn down again in reverse order, even on error or Ctrl-C):

1. a fresh PostgreSQL database ``clinic_bench_<random>`` is created and migrated;
2. the app (``wsgi:app``, APP_ENV=production, throwaway secrets generated here) and the baseline
   (``bench/baseline_app.py``) are started under the same gunicorn settings on free local ports;
3. each selected benchmark runs: HTTP ones are driven by wrk against both servers, Python-only
   ones time a callable and a baseline callable with ``time.perf_counter``, long jobs (a whole
   sync) run once per target in a child process whose time and peak memory are measured;
4. a table with the app/baseline ratios is printed and a JSON copy is written to
   ``bench/results/latest.json``; the servers are stopped and the database is dropped.

This module is the entry point (``make bench``): the command line and the order of a run. The
rest of the package, each importing only from the ones above it in this list:

* ``settings``  paths, the host, PostgreSQL and Redis addresses, gunicorn and wrk settings;
* ``harness``   the bench database, the servers and child processes, ``BenchContext``, ``BenchError``;
* ``kinds``     ``HttpBenchmark``, ``TimingBenchmark``, ``RunBenchmark`` and what a long job reports;
* ``measure``   wrk runs, a child process's time and peak memory, percentiles and ratios;
* ``runners``   one benchmark of each kind against its baseline, into a result;
* ``summary``   the printed tables and ratios, and ``bench/results/latest.json``;
* ``scenarios``, ``dashboard``, ``sync`` (with ``sync_walk``, its baseline's own process),
  ``reports``, ``health_data`` (with ``health_data_child``, its measured child processes, and
  ``apple_health_export``, the synthetic export)   the benchmarks' data and jobs;
* ``catalog``   every registered benchmark.

Add a benchmark with ``register(HttpBenchmark(...))``, ``register(TimingBenchmark(...))`` or
``register(RunBenchmark(...))`` in bench/catalog.py (see bench/README.md). Nothing imports this
module.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

# Run as a script (``python bench/run.py``), only bench/ is on the path: the project root goes first.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from bench.catalog import BENCHMARKS, Benchmark  # noqa: E402
from bench.harness import (  # noqa: E402
    BenchContext,
    BenchError,
    Server,
    app_environment,
    free_port,
    fresh_database,
    migrate,
)
from bench.kinds import HttpBenchmark, RunBenchmark, TimingBenchmark  # noqa: E402
from bench.profiling import profile  # noqa: E402
from bench.runners import run_http, run_long, run_timing  # noqa: E402
from bench.settings import BENCH_DIR, RESULTS_DIR, ROOT  # noqa: E402
from bench.summary import print_report, write_json  # noqa: E402


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the clinic app against a bare Flask baseline.")
    parser.add_argument("--seconds", type=int, default=10, help="measurement length per target (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up per target in seconds (default 2)")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run only this benchmark (may be given more than once)"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="profile one HTTP or timing benchmark in-process instead of measuring it "
        "(tables in bench/results/profile-NAME.txt)",
    )
    args = parser.parse_args(argv)
    if args.profile:
        if args.only:
            parser.error("--profile names its one benchmark: leave out --only")
        args.only = [args.profile]
    if not 1 <= args.seconds <= 600:
        parser.error("--seconds must be between 1 and 600")
    if not 0 <= args.warmup <= 60:
        parser.error("--warmup must be between 0 and 60")
    return args


def select_benchmarks(only: list[str] | None) -> list[Benchmark]:
    if not only:
        return list(BENCHMARKS.values())
    unknown = [name for name in only if name not in BENCHMARKS]
    if unknown:
        raise BenchError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return [BENCHMARKS[name] for name in dict.fromkeys(only)]


def run(args: argparse.Namespace, selected: list[Benchmark], results: list[dict[str, Any]]) -> None:
    wrk = shutil.which("wrk")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)

    with contextlib.ExitStack() as stack:
        try:
            _run_benchmarks(stack, args, selected, results, wrk)
        finally:
            # Cleanup (stop the servers, drop the database) is bounded in time; a second Ctrl-C or a
            # SIGTERM must not cut it short and leave processes or the database behind.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _run_benchmarks(
    stack: contextlib.ExitStack,
    args: argparse.Namespace,
    selected: list[Benchmark],
    results: list[dict[str, Any]],
    wrk: str | None,
) -> None:
    http_selected = [b for b in selected if isinstance(b, HttpBenchmark)]
    database_url = stack.enter_context(fresh_database())
    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clinic-bench-")))
    app_port, baseline_port = free_port(), free_port()
    while baseline_port == app_port:
        baseline_port = free_port()
    env = app_environment(database_url, str(scratch / "instance"), app_port)
    migrate(env)

    ctx = BenchContext(database_url=database_url, app_env=env)
    stack.callback(ctx.close)

    app_server = baseline_server = None
    if http_selected:
        app_server = Server("app", port=app_port, wsgi_target="wsgi:app", chdir=ROOT, env=env)
        baseline_server = Server(
            "baseline", port=baseline_port, wsgi_target="baseline_app:app", chdir=BENCH_DIR, env=env
        )
        for server in (app_server, baseline_server):
            stack.callback(server.stop)
            server.start()
        for server in (app_server, baseline_server):
            server.wait_until_ready()
        ctx.app_url, ctx.baseline_url = app_server.base_url, baseline_server.base_url

    if args.profile:
        (benchmark,) = selected
        if isinstance(benchmark, RunBenchmark):
            raise BenchError(
                f"{benchmark.name} runs in child processes: profile it with py-spy (bench/README.md, Profiling)"
            )
        table = profile(benchmark, ctx, seconds=args.seconds)
        print(f"profile of {benchmark.name} written to {table.relative_to(ROOT)} (and {table.stem}.prof)")
        return

    for benchmark in selected:
        if isinstance(benchmark, HttpBenchmark):
            assert wrk is not None and app_server is not None and baseline_server is not None
            result = run_http(
                benchmark,
                ctx,
                wrk=wrk,
                app=app_server,
                baseline=baseline_server,
                seconds=args.seconds,
                warmup=args.warmup,
                script_dir=scratch,
            )
        elif isinstance(benchmark, RunBenchmark):
            result = run_long(benchmark, ctx)
        else:
            result = run_timing(benchmark, ctx, seconds=args.seconds)
        results.append(result)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for benchmark in BENCHMARKS.values():
            kind = {HttpBenchmark: "http", TimingBenchmark: "timing", RunBenchmark: "run"}[type(benchmark)]
            print(f"{benchmark.name:<20} {kind:<7} {benchmark.description}")
        return 0
    try:
        selected = select_benchmarks(args.only)
    except BenchError as failure:
        print(f"bench: error: {failure}", file=sys.stderr)
        return 2
    if any(isinstance(b, HttpBenchmark) for b in selected) and shutil.which("wrk") is None:
        print(
            "bench: error: wrk is not installed (HTTP benchmarks need it). Install it with: apt-get install wrk",
            file=sys.stderr,
        )
        return 2

    signal.signal(signal.SIGTERM, _raise_interrupt)
    results: list[dict[str, Any]] = []
    error: str | None = None
    try:
        run(args, selected, results)
    except BenchError as failure:
        error = str(failure)
    except KeyboardInterrupt:
        print("bench: interrupted (servers stopped, database dropped)", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if args.profile:
        if error:
            print(f"bench: error: {error}", file=sys.stderr)
            return 1
        return 0
    if results:
        print_report(results, seconds=args.seconds)
    path = write_json(results, seconds=args.seconds, warmup=args.warmup, error=error)
    print(f"results written to {path.relative_to(ROOT)}")
    if error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 1
    failed = [result["name"] for result in results if not result["ok"]]
    if failed:
        print(f"bench: failed (errors during the run): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
