"""Prometheus metrics of the app (``prometheus_client``), scraped at ``/metrics`` by an operator
token (docs/operators.md, "Metrics").

Labels never carry an id, a name or an e-mail: a route is its URL rule (``/patients/<patient_id>``),
never the path, and every other label is one of a short, fixed set of values (a method, a status
code, a job kind, an outcome). With several gunicorn workers set ``PROMETHEUS_MULTIPROC_DIR`` in the
environment before the processes start: each process writes its figures there and a scrape adds
them up (the library's multiprocess mode); the directory must be emptied when the service starts.

Figures that live in the database (jobs waiting or running, by kind) are read at scrape time by
collectors the composition root registers (``register_collector``), so every process answers the
same.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "clinic_http_requests", "HTTP requests answered, by route template and status", ("method", "route", "status")
)
REQUEST_SECONDS = Histogram(
    "clinic_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and status",
    ("method", "route", "status"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JOBS_FINISHED = Counter("clinic_jobs_finished", "Background jobs that ended, by kind and status", ("kind", "status"))
JOB_SECONDS = Histogram(
    "clinic_job_duration_seconds",
    "Run time of background jobs, by kind and status",
    ("kind", "status"),
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600),
)
CLINIKO_REQUESTS = Counter(
    "clinic_cliniko_requests", "Requests sent to Cliniko by the sync, by outcome", ("outcome",)
)  # outcome: ok, rate_limited (429), client_error, server_error, transport_error
WEBHOOK_DELIVERIES = Counter(
    "clinic_webhook_deliveries", "Webhook delivery attempts, by outcome", ("outcome",)
)  # outcome: delivered, failed, gave_up
AUDIT_APPENDS = Counter("clinic_audit_appends", "Audit events appended, by outcome", ("outcome",))
DECRYPTION_FAILURES = Counter("clinic_decryption_failures", "Encrypted fields that could not be decrypted")
RETENTION_DELETED = Counter("clinic_retention_deleted_rows", "Rows removed by retention runs, by kind", ("kind",))

_collectors: list[Collector] = []


class CallbackCollector(Collector):
    """A collector whose metrics a function reads at scrape time (from the database)."""

    def __init__(self, read: Callable[[], Iterable[Metric]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        return self.read()


def register_collector(read: Callable[[], Iterable[Metric]]) -> None:
    """Add scrape-time figures (``read`` runs in the request's app context)."""
    if not any(isinstance(c, CallbackCollector) and c.read is read for c in _collectors):
        _collectors.append(CallbackCollector(read))


def route_label() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED_ROUTE


def install(app: Flask) -> None:
    """Count every request by its URL rule, method and status, and time it."""

    @app.after_request
    def _observe(response):  # type: ignore[no-untyped-def]
        started = g.get("started")
        method = request.method if request.method in _METHODS else "OTHER"  # any token is a method to HTTP
        labels = (method, route_label(), str(response.status_code))
        count, timing = _request_series(labels)
        count.inc()
        if started is not None:
            timing.observe(max(0.0, time.perf_counter() - started))
        return response


# The two series of each (method, route, status) this process has answered: few (the routes are
# the URL rules), and looked up once each instead of through ``labels()`` on every request.
_series: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def _request_series(labels: tuple[str, str, str]) -> tuple[Any, Any]:
    series = _series.get(labels)
    if series is None:
        series = _series.setdefault(labels, (REQUESTS.labels(*labels), REQUEST_SECONDS.labels(*labels)))
    return series


def job_finished(kind: str, status: str, seconds: float | None) -> None:
    JOBS_FINISHED.labels(kind, status).inc()
    if seconds is not None:
        JOB_SECONDS.labels(kind, status).observe(max(0.0, seconds))


def cliniko_request(status_code: int | None) -> None:
    """One request to Cliniko: its status code, or None when it never got an answer."""
    if status_code is None:
        outcome = "transport_error"
    elif status_code == 429:
        outcome = "rate_limited"
    elif status_code >= 500:
        outcome = "server_error"
    elif status_code >= 400:
        outcome = "client_error"
    else:
        outcome = "ok"
    CLINIKO_REQUESTS.labels(outcome).inc()


def webhook_delivery(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(outcome if outcome in ("delivered", "failed", "gave_up") else "failed").inc()


def audit_appended(action: str, outcome: str) -> None:
    AUDIT_APPENDS.labels(outcome).inc()
    if action == "crypto.decryption_failed":
        DECRYPTION_FAILURES.inc()


def exposition() -> tuple[bytes, str]:
    """The text a scrape gets, and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)
    else:
        for collector in (REQUESTS, REQUEST_SECONDS, JOBS_FINISHED, JOB_SECONDS, CLINIKO_REQUESTS):
            registry.register(collector)
        for collector in (WEBHOOK_DELIVERIES, AUDIT_APPENDS, DECRYPTION_FAILURES, RETENTION_DELETED):
            registry.register(collector)
        ProcessCollector(registry=registry)  # memory, CPU and open files of this process (Linux)
    for collector in _collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST
