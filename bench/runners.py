"""Running one benchmark of each kind against its baseline, into the result the report prints.

``run_http()`` (wrk, app then baseline), ``run_timing()`` (two callables, alternating, in this
process, under a watchdog) and ``run_long()`` (each target's job in its own measured child).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from bench.harness import BenchContext, BenchError, Server, http_request, local_url
from bench.kinds import ChildMeasure, HttpBenchmark, Measure, RunBenchmark, RunSample, TimingBenchmark
from bench.measure import measure_child, ratio, run_wrk, summarise_samples, summarise_times
from bench.settings import RESULTS_DIR, ROOT, WRK_CONNECTIONS

# --- running ------------------------------------------------------------------------------------


def _default_headers(benchmark: HttpBenchmark, headers: dict[str, str]) -> dict[str, str]:
    merged = dict(headers)
    if benchmark.body is not None and not any(name.lower() == "content-type" for name in merged):
        merged["Content-Type"] = "application/json"
    return merged


def run_http(
    benchmark: HttpBenchmark,
    ctx: BenchContext,
    *,
    wrk: str,
    app: Server,
    baseline: Server,
    seconds: int,
    warmup: int,
    script_dir: Path,
) -> dict[str, Any]:
    headers = _default_headers(benchmark, benchmark.setup(ctx) if benchmark.setup else {})
    targets = [
        ("app", local_url(app.port, benchmark.path), benchmark.method, benchmark.body, headers),
        ("baseline", local_url(baseline.port, benchmark.baseline_path), "GET", None, headers),
    ]
    measured: dict[str, Any] = {}
    for target, url, method, body, target_headers in targets:
        # One request first, so a redirect, 401, 404 or 500 is reported plainly instead of being
        # measured as a fast benchmark (wrk counts 3xx as success).
        status, payload = http_request(url, method=method, headers=target_headers, body=body)
        if not 200 <= status < 300:
            raise BenchError(
                f"{benchmark.name}: {method} {url} answered {status}, not 2xx: {payload[:300].decode(errors='replace')}"
            )
        if warmup > 0:
            print(f"[{benchmark.name}] warming up {target} for {warmup}s")
            run_wrk(
                wrk,
                url,
                warmup,
                headers=target_headers,
                method=method,
                body=body,
                script_dir=script_dir,
                connections=benchmark.connections,
            )
        print(f"[{benchmark.name}] measuring {target}: {method} {url} for {seconds}s")
        measured[target] = run_wrk(
            wrk,
            url,
            seconds,
            headers=target_headers,
            method=method,
            body=body,
            script_dir=script_dir,
            connections=benchmark.connections,
        )
        measured[target]["url"] = url
        measured[target]["method"] = method
    app_result, base_result = measured["app"], measured["baseline"]
    problems = [
        f"{target}: {result['non_2xx']} non-2xx responses" for target, result in measured.items() if result["non_2xx"]
    ] + [
        f"{target}: {sum(result['socket_errors'].values())} socket errors"
        for target, result in measured.items()
        if sum(result["socket_errors"].values())
    ]
    return {
        "name": benchmark.name,
        "kind": "http",
        "description": benchmark.description,
        "app": app_result,
        "baseline": base_result,
        "ratios": {
            "throughput": ratio(app_result["requests_per_s"], base_result["requests_per_s"]),
            "p50": ratio(app_result["p50_ms"], base_result["p50_ms"]),
            "p95": ratio(app_result["p95_ms"], base_result["p95_ms"]),
            "p99": ratio(app_result["p99_ms"], base_result["p99_ms"]),
        },
        "connections": benchmark.connections or WRK_CONNECTIONS,
        "problems": problems,
        # Errors make the numbers meaningless (a 429 or a 500 is fast); socket read errors alone are
        # reported but tolerated, since servers may close idle keep-alive connections.
        "ok": not any(result["non_2xx"] for result in measured.values())
        and not any(
            result["socket_errors"]["connect"] + result["socket_errors"]["timeout"] for result in measured.values()
        ),
    }


def _watchdog(signum: int, _frame: Any) -> None:
    raise BenchError("a timed call exceeded the benchmark's time budget (watchdog)")


def run_timing(benchmark: TimingBenchmark, ctx: BenchContext, *, seconds: int) -> dict[str, Any]:
    candidate, baseline = benchmark.prepare(ctx)
    print(f"[{benchmark.name}] timing up to {benchmark.runs} runs each (budget {seconds}s)")
    previous = signal.signal(signal.SIGALRM, _watchdog)
    signal.setitimer(signal.ITIMER_REAL, seconds + 30)
    try:
        for _ in range(benchmark.warmup_runs):
            candidate()
            baseline()
        app_times: list[float] = []
        base_times: list[float] = []
        deadline = time.perf_counter() + seconds
        while len(app_times) < benchmark.runs and (not app_times or time.perf_counter() < deadline):
            started = time.perf_counter()
            candidate()
            middle = time.perf_counter()
            baseline()
            ended = time.perf_counter()
            app_times.append(middle - started)
            base_times.append(ended - middle)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    app_result, base_result = summarise_times(app_times), summarise_times(base_times)
    return {
        "name": benchmark.name,
        "kind": "timing",
        "description": benchmark.description,
        "app": app_result,
        "baseline": base_result,
        "ratios": {
            "p50": ratio(app_result["p50_ms"], base_result["p50_ms"]),
            "p95": ratio(app_result["p95_ms"], base_result["p95_ms"]),
        },
        "problems": [] if len(app_times) >= benchmark.runs else [f"budget spent after {len(app_times)} runs"],
        "ok": True,
    }


def _measure_for(benchmark: RunBenchmark, number: int) -> Measure:
    """``measure_child`` with the log named after the benchmark, the target and the run."""
    suffix = f"-{number}" if benchmark.runs > 1 else ""

    def measure(
        target: str, argv: list[str], *, env: dict[str, str], stdin: str | None = None, timeout_s: float
    ) -> ChildMeasure:
        log_path = RESULTS_DIR / f"{benchmark.name}-{target}{suffix}.log"
        print(f"[{benchmark.name}] run {number}/{benchmark.runs}: {target} (log {log_path.relative_to(ROOT)})")
        return measure_child(argv, env=env, log_path=log_path, stdin=stdin, timeout_s=timeout_s)

    return measure


def run_long(benchmark: RunBenchmark, ctx: BenchContext) -> dict[str, Any]:
    if benchmark.slow:
        print(f"[{benchmark.name}] this one is slow: {benchmark.slow}")
    app_samples: list[RunSample] = []
    base_samples: list[RunSample] = []
    with benchmark.prepare(ctx) as job:
        for number in range(1, benchmark.runs + 1):
            measure = _measure_for(benchmark, number)
            base_samples.append(job.baseline(measure))
            app_samples.append(job.candidate(measure))
    app_result, base_result = summarise_samples(app_samples), summarise_samples(base_samples)
    verdicts = [verdict for sample in app_samples for verdict in sample.verdicts]
    exits = [s.child.returncode for s in (*app_samples, *base_samples) if s.child.returncode != 0]
    problems = [f"FAIL {v.label}: {v.detail}" for v in verdicts if not v.passed]
    problems += [f"a child exited with status {code}" for code in exits]
    return {
        "name": benchmark.name,
        "kind": "run",
        "description": benchmark.description,
        "app": app_result,
        "baseline": base_result,
        "ratios": {
            "work": ratio(app_result["work_s"], base_result["work_s"]),
            "process": ratio(app_result["process_s"], base_result["process_s"]),
            "peak_rss": ratio(app_result["peak_rss_mb"], base_result["peak_rss_mb"]),
        },
        "verdicts": [{"label": v.label, "passed": v.passed, "detail": v.detail} for v in verdicts],
        "problems": problems,
        "ok": not problems,
    }
