"""The bench's fixed settings: where it runs, what it connects to, how hard it drives the servers.

Shared by every bench module, and by the measured ``python -m bench.sync_walk`` child, which is why
it imports nothing but the standard library.
"""

from __future__ import annotations

from pathlib import Path

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
