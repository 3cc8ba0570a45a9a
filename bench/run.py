"""Benchmark harness: the clinic app in its production shape against a bare Flask baseline.

    .venv/bin/python bench/run.py [--seconds 10] [--warmup 2] [--only NAME ...] [--list]

What happens, in order (everything is torn down again in reverse order, even on error or Ctrl-C):

1. a fresh PostgreSQL database ``clinic_bench_<random>`` is created and migrated;
2. the app (``wsgi:app``, APP_ENV=production, throwaway secrets generated here) and the baseline
   (``bench/baseline_app.py``) are started under the same gunicorn settings on free local ports;
3. each selected benchmark runs: HTTP ones are driven by wrk against both servers, Python-only
   ones time a callable and a baseline callable with ``time.perf_counter``, long jobs (a whole
   sync) run once per target in a child process whose time and peak memory are measured;
4. a table with the app/baseline ratios is printed and a JSON copy is written to
   ``bench/results/latest.json``; the servers are stopped and the database is dropped.

Add a benchmark with ``register(HttpBenchmark(...))``, ``register(TimingBenchmark(...))`` or
``register(RunBenchmark(...))`` at the bottom of this file (see bench/README.md).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.util
import json
import logging
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

# Only this host is ever started on or sent a request.
HOST = "127.0.0.1"
POSTGRES_ADMIN_DSN = f"postgresql://postgres@{HOST}:5432/postgres"
REDIS_URL = f"redis://{HOST}:6379/14"

# Shared by the app and the baseline so that the ratio compares like with like (2 cores: 2 workers),
# and the Dockerfile's. Sync workers: one request per process at a time, so the kernel hands each
# new connection to an idle process. With threaded workers two connections could land on one
# process and share its interpreter lock while the other process idled (the search fragment's p50
# measured 17 ms with its two connections on two processes, 33 ms on one).
GUNICORN_SETTINGS: tuple[str, ...] = (
    "--workers",
    "2",
    "--worker-class",
    "sync",
    "--timeout",
    "150",
    "--graceful-timeout",
    "5",
)
WRK_THREADS = 2
WRK_CONNECTIONS = 16
WRK_REQUEST_TIMEOUT = "5s"

STARTUP_TIMEOUT_S = 45.0
MIGRATION_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0


class BenchError(RuntimeError):
    """The benchmark could not run; the message says why."""


# --- benchmark registry -------------------------------------------------------------------------


@dataclass
class BenchContext:
    """What a benchmark's setup can use: the bench database, the servers' URLs, the app in-process."""

    database_url: str
    app_env: dict[str, str]
    app_url: str = ""
    baseline_url: str = ""
    _flask_app: Any = None
    _log_file: Any = None

    def flask_app(self) -> Any:
        """The clinic app built in this process with the server's settings (for seeding or timing).

        Its JSON logs go to bench/results/harness-app.log rather than the terminal.
        """
        if self._flask_app is None:
            _ensure_project_on_path()
            from clinic_app import create_app
            from clinic_app.config import VARIABLES

            # Every setting is passed explicitly; an empty string reads as "unset", so nothing leaks
            # in from the shell that the server would not see too.
            overrides = {variable.name: self.app_env.get(variable.name, "") for variable in VARIABLES}
            app = create_app(overrides)
            self._log_file = open(RESULTS_DIR / "harness-app.log", "w")  # noqa: SIM115 (closed in close())
            for handler in logging.getLogger().handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.stderr):
                    handler.setStream(self._log_file)
            self._flask_app = app
        return self._flask_app

    def close(self) -> None:
        if self._flask_app is not None:
            from clinic_app.extensions import db

            with self._flask_app.app_context():
                db.engine.dispose()
            self._flask_app = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


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


def register(benchmark: Benchmark) -> Benchmark:
    if benchmark.name in BENCHMARKS:
        raise ValueError(f"benchmark {benchmark.name!r} is registered twice")
    BENCHMARKS[benchmark.name] = benchmark
    return benchmark


# --- helpers ------------------------------------------------------------------------------------


def _ensure_project_on_path() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def load_baseline_app() -> Any:
    """The baseline Flask app, imported from bench/baseline_app.py (for in-process timings)."""
    spec = importlib.util.spec_from_file_location("bench_baseline_app", BENCH_DIR / "baseline_app.py")
    if spec is None or spec.loader is None:
        raise BenchError("cannot load bench/baseline_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def local_url(port: int, path: str) -> str:
    if not path.startswith("/"):
        raise BenchError(f"benchmark paths start with '/': {path!r}")
    return f"http://{HOST}:{port}{path}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is returned as it is, never followed (it could point away from 127.0.0.1)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxies, whatever the environment says, and no redirects: requests go to 127.0.0.1 only.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def http_request(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None, body: str | None = None, timeout: float = 5
) -> tuple[int, bytes]:
    if not url.startswith(f"http://{HOST}:"):
        raise BenchError(f"refusing to send a request anywhere but {HOST}: {url}")
    request = urllib.request.Request(  # noqa: S310 (the scheme and host are checked above)
        url, method=method, headers=headers or {}, data=body.encode() if body is not None else None
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


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


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


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


# --- database -----------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """Create ``clinic_bench_<random>``, yield its SQLAlchemy URL, and always drop it afterwards."""
    import psycopg
    from psycopg import sql

    name = f"clinic_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True, connect_timeout=5) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as error:
        raise BenchError(f"cannot create a database on {POSTGRES_ADMIN_DSN}: {error}") from None
    print(f"created database {name}")
    try:
        yield f"postgresql+psycopg://postgres@{HOST}:5432/{name}"
    finally:
        try:
            with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True, connect_timeout=5) as connection:
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            print(f"dropped database {name}")
        except psycopg.Error as error:
            print(f"warning: could not drop database {name}: {error}", file=sys.stderr)


def app_environment(database_url: str, instance_dir: str, port: int) -> dict[str, str]:
    """The production environment the app runs with: fresh secrets that live only in this process."""
    _ensure_project_on_path()
    from clinic_app.config import VARIABLES

    # The shell's app settings, and gunicorn's own environment settings, must not leak into the run:
    # the app and the baseline get exactly GUNICORN_SETTINGS.
    dropped = {variable.name for variable in VARIABLES} | {"GUNICORN_CMD_ARGS", "WEB_CONCURRENCY"}
    env = {name: value for name, value in os.environ.items() if name not in dropped}
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    env.update(
        {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "FIELD_ENCRYPTION_KEYS": f"bench1:{key}",
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "RATELIMIT_ENABLED": "false",
            "PORT": str(port),
            "PUBLIC_URL": "https://clinic.example.com",
            "INSTANCE_PATH": instance_dir,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def migrate(env: dict[str, str]) -> None:
    print("running migrations (flask --app wsgi db upgrade)")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=MIGRATION_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"migrations took longer than {MIGRATION_TIMEOUT_S:.0f}s") from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()
        raise BenchError("migrations failed:\n" + "\n".join(output[-30:]))


# --- servers ------------------------------------------------------------------------------------


def stop_process_group(process: subprocess.Popen[bytes], name: str) -> None:
    """SIGTERM, then SIGKILL, for a child started with ``start_new_session=True`` and its group."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"warning: {name} ignored SIGTERM; killing it", file=sys.stderr)
    # Whatever is left in the group (a stuck master, an orphaned worker) is killed.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)


class Server:
    """A gunicorn process group on 127.0.0.1; stop() ends the master and any worker left behind."""

    def __init__(self, name: str, *, port: int, wsgi_target: str, chdir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.port = port
        self.args = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{HOST}:{port}",
            *GUNICORN_SETTINGS,
            "--chdir",
            str(chdir),
            wsgi_target,
        ]
        self.env = env
        self.log_path = RESULTS_DIR / f"{name}-server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C reaches us, and we stop it
        )
        print(f"started {self.name} (pid {self.process.pid}) on {self.base_url}, log {self.log_path}")

    def wait_until_ready(self, path: str = "/health") -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise BenchError(f"{self.name} exited (code {code}) before answering:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                status, _ = http_request(self.base_url + path, timeout=2)
                if status == 200:
                    return
            time.sleep(0.2)
        raise BenchError(f"{self.name} did not answer {path} within {STARTUP_TIMEOUT_S:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 25) -> str:
        if self._log is not None:
            self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process, self.name)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


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


def _summarise_times(times_s: list[float]) -> dict[str, Any]:
    ordered = sorted(t * 1000 for t in times_s)
    return {
        "runs": len(ordered),
        "p50_ms": statistics.median(ordered),
        "p95_ms": percentile(ordered, 0.95),
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
        "mean_ms": statistics.fmean(ordered),
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
    app_result, base_result = _summarise_times(app_times), _summarise_times(base_times)
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


def _summarise_samples(samples: list[RunSample]) -> dict[str, Any]:
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
    app_result, base_result = _summarise_samples(app_samples), _summarise_samples(base_samples)
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


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the clinic app against a bare Flask baseline.")
    parser.add_argument("--seconds", type=int, default=10, help="measurement length per target (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up per target in seconds (default 2)")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run only this benchmark (may be given more than once)"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
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


# --- the benchmarks -----------------------------------------------------------------------------


def _prepare_health_inprocess(ctx: BenchContext) -> tuple[Callable[[], object], Callable[[], object]]:
    app_client = ctx.flask_app().test_client()
    baseline_client = load_baseline_app().test_client()

    def call(client: Any) -> Callable[[], object]:
        def request() -> object:
            response = client.get("/health")
            if response.status_code != 200:
                raise BenchError(f"in-process GET /health answered {response.status_code}")
            return response

        return request

    return call(app_client), call(baseline_client)


register(
    HttpBenchmark(
        name="health",
        path="/health",
        description="GET /health through gunicorn: the app's per-request floor",
    )
)

register(
    TimingBenchmark(
        name="health_inprocess",
        description="GET /health via Flask's test client, no network: the app's own stack vs bare Flask",
        prepare=_prepare_health_inprocess,
        runs=1000,
    )
)

# Patients at scale (issue: patient list and search at 100,000 patients, p95 under 30 ms).
_ensure_project_on_path()
from bench import scenarios  # noqa: E402

register(
    HttpBenchmark(
        name="patient_search",
        path="/patients?q=smi",
        description="patient search fragment (htmx, name prefix) at 100,000 patients, signed in",
        setup=scenarios.patients_fragment_session,
        connections=2,
    )
)

register(
    HttpBenchmark(
        name="patient_list",
        path="/patients",
        description="patient list page (first page, full HTML) at 100,000 patients, signed in",
        setup=scenarios.patients_session,
        connections=2,
    )
)

# Cliniko sync (issue 5): whole comprehensive syncs from the sandbox Cliniko, each target in its own
# process. bench/sync.py imports this module as bench.run; run as a script, this module is
# __main__, so it is registered under that name too rather than loaded a second time.
sys.modules.setdefault("bench.run", sys.modules[__name__])
from bench import sync  # noqa: E402

register(
    RunBenchmark(
        name=sync.SEED_WORKLOAD.name,
        description="comprehensive sync of the seed's workload (650 patients, 1,000 appointments); target < 5 s",
        prepare=sync.prepare(sync.SEED_WORKLOAD),
    )
)

register(
    RunBenchmark(
        name=sync.LARGE_WORKLOAD.name,
        description="comprehensive sync of 10,000 patients and 100,000 appointments; targets < 60 s, < 400 MB",
        prepare=sync.prepare(sync.LARGE_WORKLOAD),
    )
)

register(
    RunBenchmark(
        name=sync.RATE_LIMITED_WORKLOAD.name,
        description="comprehensive sync, sandbox at 200 requests/min (2,000 patients, 20,000 appointments); "
        "target within 1.1x of requests / 200 per minute",
        prepare=sync.prepare(sync.RATE_LIMITED_WORKLOAD),
        slow="about 2.5 minutes (the baseline and the sync each wait out a full rate-limit window)",
    )
)

# Dashboards (issue 6): one clinic of 100,000 patients and 1,000,000 appointments, seeded once by
# `flask seed-scale` (BENCH_DASHBOARD_PATIENTS / BENCH_DASHBOARD_APPOINTMENTS shrink it for a smoke run).
from bench import dashboard  # noqa: E402

register(
    HttpBenchmark(
        name="dashboard_json",
        path=dashboard.DASHBOARD_PATH,
        description="GET /api/v1/dashboard/{org} (bearer token) at 100k patients / 1M appointments; target p95 < 50 ms",
        setup=dashboard.token_headers,
        connections=2,
    )
)

register(
    HttpBenchmark(
        name="active_patients_page",
        path=dashboard.ACTIVE_PATIENTS_PATH,
        description="Active patients page (first page, full HTML) at 100k patients / 1M appointments; "
        "target p95 < 50 ms",
        setup=dashboard.session_headers,
        connections=2,
    )
)

register(
    HttpBenchmark(
        name="worklist_page",
        path=dashboard.WORKLIST_PATH,
        description="Re-engagement worklist (first page, full HTML) at 100k patients / 1M appointments; "
        "target p95 < 100 ms",
        setup=dashboard.session_headers,
        connections=2,
    )
)


# Reports (issue 7): the offline draft for a 10,000-word transcript (target < 200 ms) and a
# three-page PDF (target < 1 s), each against a trivial baseline in the same process.
from bench import reports  # noqa: E402

register(
    TimingBenchmark(
        name="report_offline_draft",
        description="offline draft generation for a 10,000-word transcript vs joining its lines; target p95 < 200 ms",
        prepare=reports.prepare_offline_draft,
        runs=50,
    )
)

register(
    TimingBenchmark(
        name="report_pdf",
        description="a three-page signed report rendered to PDF vs a one-line PDF; target p95 < 1 s",
        prepare=reports.prepare_pdf,
        runs=20,
        warmup_runs=2,
    )
)


if __name__ == "__main__":
    sys.exit(main())
