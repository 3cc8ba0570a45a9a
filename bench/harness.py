"""The harness: the bench database, the servers, the processes, and the context a benchmark sees.

``fresh_database()`` creates and drops ``clinic_bench_<random>``, ``app_environment()`` and
``migrate()`` prepare the app's production environment, ``Server`` is a gunicorn process group on
127.0.0.1, ``stop_process_group()`` stops any child the bench started, ``http_request()`` talks to
127.0.0.1 only, and ``BenchContext`` is what a benchmark's setup is given. ``BenchError`` says why a
run could not go on.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.settings import (
    BENCH_DIR,
    GUNICORN_SETTINGS,
    HOST,
    MIGRATION_TIMEOUT_S,
    POSTGRES_ADMIN_DSN,
    REDIS_URL,
    RESULTS_DIR,
    ROOT,
    STARTUP_TIMEOUT_S,
    STOP_TIMEOUT_S,
)
from clinic_app import create_app
from clinic_app.config import VARIABLES
from clinic_app.extensions import db


class BenchError(RuntimeError):
    """The benchmark could not run; the message says why."""


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
            with self._flask_app.app_context():
                db.engine.dispose()
            self._flask_app = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


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


# --- database -----------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """Create ``clinic_bench_<random>``, yield its SQLAlchemy URL, and always drop it afterwards."""
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
