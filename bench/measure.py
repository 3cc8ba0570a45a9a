"""Measuring: wrk runs and their output, a child process's time and peak memory, and the statistics.

``run_wrk()`` drives one URL with wrk and reads back requests/s and latency percentiles;
``measure_child()`` runs a command to its end in its own process group and measures that process
alone; ``percentile()``, ``ratio()`` and the ``summarise_*`` helpers turn samples into the numbers
the report prints.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.harness import BenchError, stop_process_group
from bench.kinds import ChildMeasure, RunSample
from bench.settings import HOST, ROOT, WRK_CONNECTIONS, WRK_REQUEST_TIMEOUT, WRK_THREADS


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks; ``sorted_values`` must be sorted and non-empty."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = fraction * (len(sorted_values) - 1)
    lower = int(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * (position - lower)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def summarise_times(times_s: list[float]) -> dict[str, Any]:
    ordered = sorted(t * 1000 for t in times_s)
    return {
        "runs": len(ordered),
        "p50_ms": statistics.median(ordered),
        "p95_ms": percentile(ordered, 0.95),
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
        "mean_ms": statistics.fmean(ordered),
    }


# --- wrk ----------------------------------------------------------------------------------------

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = re.compile(r"^([\d.]+)(us|ms|s|m|h)$")


def _duration_ms(text: str) -> float:
    match = _DURATION.match(text)
    if match is None:
        raise BenchError(f"cannot read wrk duration {text!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, latency percentiles (ms), request count and errors from ``wrk --latency``."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if rps is None:
        raise BenchError("wrk printed no Requests/sec line:\n" + output)
    latency = {
        f"p{label}_ms": _duration_ms(value)
        for label, value in re.findall(r"^\s*(50|75|90|99)(?:\.0+)?%\s+(\S+)\s*$", output, re.MULTILINE)
    }
    p95 = re.search(r"^P95_US (\d+)$", output, re.MULTILINE)
    if p95:
        latency["p95_ms"] = int(p95.group(1)) / 1000
    requests = re.search(r"^\s*(\d+) requests in (\S+),", output, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests_per_s": float(rps.group(1)),
        **{key: latency.get(key) for key in ("p50_ms", "p75_ms", "p90_ms", "p95_ms", "p99_ms")},
        "requests": int(requests.group(1)) if requests else None,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": dict(
            zip(("connect", "read", "write", "timeout"), (int(n) for n in sockets.groups()), strict=True)
        )
        if sockets
        else {"connect": 0, "read": 0, "write": 0, "timeout": 0},
    }


def _lua_long_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def run_wrk(
    wrk: str,
    url: str,
    seconds: int,
    *,
    headers: dict[str, str],
    method: str = "GET",
    body: str | None = None,
    script_dir: Path,
    connections: int | None = None,
) -> dict[str, Any]:
    if not url.startswith(f"http://{HOST}:"):
        raise BenchError(f"refusing to load anything but {HOST}: {url}")
    command = [
        wrk,
        f"-t{WRK_THREADS}",
        f"-c{connections or WRK_CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        WRK_REQUEST_TIMEOUT,
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    # A script always runs, to print the 95th percentile that --latency does not.
    script = script_dir / f"request-{secrets.token_hex(4)}.lua"
    lines = [f"wrk.method = {_lua_long_string(method)}"]
    if body is not None:
        lines.append(f"wrk.body = {_lua_long_string(body)}")
    lines.append(
        "done = function(summary, latency, requests) "
        'io.write(string.format("P95_US %d\\n", latency:percentile(95))) end'
    )
    script.write_text("\n".join(lines) + "\n")
    command += ["-s", str(script)]
    command.append(url)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {seconds + 30}s") from None
    if done.returncode != 0:
        raise BenchError(f"wrk failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    result = parse_wrk(done.stdout)
    result["wrk_output"] = done.stdout
    return result


# Runs between the harness and a measured command, and reports on it. On Linux a process's peak RSS
# (ru_maxrss) starts from the high-water mark of the process that spawned it (it is carried across
# fork and exec), so a command spawned straight from this harness, which holds the app and seeded
# data, would report at least the harness's size. Spawned from this few-MB interpreter instead
# (-I -S: no site packages), the command's ru_maxrss, read with wait4, is its own.
_MEASURE_WRAPPER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
report = {"seconds": time.perf_counter() - started, "cpu_seconds": usage.ru_utime + usage.ru_stime,
          "peak_rss_kb": usage.ru_maxrss, "returncode": os.waitstatus_to_exitcode(status)}
with open(sys.argv[1], "w") as out:
    json.dump(report, out)
"""


def measure_child(
    argv: list[str], *, env: dict[str, str], log_path: Path, stdin: str | None = None, timeout_s: float
) -> ChildMeasure:
    """Run ``argv`` to its end in its own process group; its output goes to ``log_path``.

    The command is started by a minimal wrapper (``_MEASURE_WRAPPER``) that times it and reads its
    resource usage with ``os.wait4``: its own peak memory and CPU time, not the harness's, the
    servers' or an earlier child's. Raises BenchError when it outlives ``timeout_s`` (it is killed
    then, as on Ctrl-C).
    """
    report_path = log_path.with_suffix(".measure.json")
    report_path.unlink(missing_ok=True)
    wrapper = [sys.executable, "-I", "-S", "-c", _MEASURE_WRAPPER, str(report_path)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*wrapper, *argv],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the wrapper and the command: one group, stopped together
        )
        try:
            if stdin is not None and process.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.write(stdin.encode())
                process.stdin.close()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                raise BenchError(f"{' '.join(argv[:6])} ... ran past {timeout_s:.0f}s (log {log_path})") from None
        finally:
            stop_process_group(process, log_path.stem)
    try:
        report = json.loads(report_path.read_text())
    except (OSError, ValueError):
        raise BenchError(
            f"the measuring wrapper reported nothing (exit {process.returncode}; log {log_path})"
        ) from None
    lines = log_path.read_text(errors="replace").strip().splitlines()
    return ChildMeasure(
        seconds=report["seconds"],
        cpu_seconds=report["cpu_seconds"],
        peak_rss_mb=report["peak_rss_kb"] / 1024,  # kilobytes on Linux
        returncode=report["returncode"],
        log_path=log_path,
        output_tail="\n".join(lines[-40:]),
    )


def summarise_samples(samples: list[RunSample]) -> dict[str, Any]:
    return {
        "runs": len(samples),
        "work_s": statistics.median(s.work_seconds for s in samples),
        "process_s": statistics.median(s.child.seconds for s in samples),
        "peak_rss_mb": max(s.child.peak_rss_mb for s in samples),
        "samples": [
            {
                "work_s": s.work_seconds,
                "process_s": s.child.seconds,
                "cpu_s": s.child.cpu_seconds,
                "peak_rss_mb": s.child.peak_rss_mb,
                "exit": s.child.returncode,
                "log": str(s.child.log_path.relative_to(ROOT)),
                "facts": s.facts,
            }
            for s in samples
        ],
    }
