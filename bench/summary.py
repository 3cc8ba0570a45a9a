"""The summary of a run: the printed tables and ratios, and bench/results/latest.json."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.settings import GUNICORN_SETTINGS, RESULTS_DIR, ROOT, WRK_CONNECTIONS, WRK_REQUEST_TIMEOUT, WRK_THREADS


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def git_state() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


# --- report -------------------------------------------------------------------------------------


def print_report(results: list[dict[str, Any]], *, seconds: int) -> None:
    http = [r for r in results if r["kind"] == "http"]
    timing = [r for r in results if r["kind"] == "timing"]
    print()
    if http:
        print(
            f"HTTP: wrk -t{WRK_THREADS} -c<conns> -d{seconds}s --latency (conns per row, default {WRK_CONNECTIONS}); "
            f"gunicorn {' '.join(GUNICORN_SETTINGS)}"
        )
        header = (
            f"{'benchmark':<20} {'target':<9} {'conns':>5} {'req/s':>10} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} "
            f"{'non-2xx':>8}"
        )
        print(header)
        print("-" * len(header))
        for result in http:
            for target in ("app", "baseline"):
                row = result[target]
                print(
                    f"{result['name']:<20} {target:<9} {result['connections']:>5} {row['requests_per_s']:>10.1f} "
                    f"{fmt(row['p50_ms']):>9} {fmt(row['p95_ms']):>9} {fmt(row['p99_ms']):>9} {row['non_2xx']:>8}"
                )
        print()
        for result in http:
            ratios = result["ratios"]
            print(
                f"{result['name']}: throughput ratio {fmt_ratio(ratios['throughput'])} of baseline; "
                f"p50 latency ratio {fmt_ratio(ratios['p50'])} of baseline (p95 {fmt_ratio(ratios['p95'])}, "
                f"p99 {fmt_ratio(ratios['p99'])}); app p95 {fmt(result['app']['p95_ms'])} ms"
            )
        print()
    if timing:
        print("Python timings (time.perf_counter, candidate and baseline alternating)")
        header = f"{'benchmark':<20} {'target':<9} {'runs':>6} {'p50 ms':>10} {'p95 ms':>10}"
        print(header)
        print("-" * len(header))
        for result in timing:
            for target in ("app", "baseline"):
                row = result[target]
                print(
                    f"{result['name']:<20} {target:<9} {row['runs']:>6} {fmt(row['p50_ms'], 3):>10} "
                    f"{fmt(row['p95_ms'], 3):>10}"
                )
        print()
        for result in timing:
            ratios = result["ratios"]
            print(
                f"{result['name']}: p50 time ratio {fmt_ratio(ratios['p50'])} of baseline "
                f"(p95 {fmt_ratio(ratios['p95'])})"
            )
        print()
    long_jobs = [r for r in results if r["kind"] == "run"]
    if long_jobs:
        print_long_jobs(long_jobs)
    for result in results:
        for problem in result["problems"]:
            print(f"warning: {result['name']}: {problem}")


def _facts(facts: dict[str, Any]) -> str:
    return "; ".join(f"{name} {value}" for name, value in facts.items()) or "-"


def print_long_jobs(results: list[dict[str, Any]]) -> None:
    print("Long jobs: each target once per run in its own child process")
    print("  work s = the job's own timing of its work; process s = the child's wall clock (start-up included);")
    print("  cpu s = that child's user + system time; peak MB = that child's own peak resident set")
    header = (
        f"{'benchmark':<20} {'target':<9} {'run':>3} {'work s':>9} {'process s':>10} {'cpu s':>8} {'peak MB':>9} "
        f"{'exit':>5}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        for target in ("app", "baseline"):
            for number, row in enumerate(result[target]["samples"], 1):
                print(
                    f"{result['name']:<20} {target:<9} {number:>3} {row['work_s']:>9.2f} {row['process_s']:>10.2f} "
                    f"{row['cpu_s']:>8.2f} {row['peak_rss_mb']:>9.1f} {row['exit']:>5}"
                )
    print()
    for result in results:
        ratios = result["ratios"]
        print(
            f"{result['name']}: work time ratio {fmt_ratio(ratios['work'])} of baseline "
            f"(process time {fmt_ratio(ratios['process'])}, peak memory {fmt_ratio(ratios['peak_rss'])})"
        )
        for target in ("app", "baseline"):
            for row in result[target]["samples"]:
                print(f"  {target}: {_facts(row['facts'])}")
        for verdict in result["verdicts"]:
            print(f"  {'PASS' if verdict['passed'] else 'FAIL'}  {verdict['label']}: {verdict['detail']}")
        print()


def write_json(results: list[dict[str, Any]], *, seconds: int, warmup: int, error: str | None) -> Path:
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ok": error is None and all(result["ok"] for result in results),
        "error": error,
        "git": git_state(),
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {
            "seconds": seconds,
            "warmup_seconds": warmup,
            "gunicorn": list(GUNICORN_SETTINGS),
            "wrk": {"threads": WRK_THREADS, "connections": WRK_CONNECTIONS, "timeout": WRK_REQUEST_TIMEOUT},
        },
        "results": results,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "latest.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
