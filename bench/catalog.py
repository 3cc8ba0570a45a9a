"""Every benchmark ``make bench`` knows, registered in the order they run (see bench/README.md).

Add one with ``register(HttpBenchmark(...))``, ``register(TimingBenchmark(...))`` or
``register(RunBenchmark(...))`` below; the scenarios that seed data or run long jobs live in their
own modules (scenarios, dashboard, sync, reports, health_data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import billing, cliniko_writes, dashboard, health_data, reports, scenarios, sync
from bench.harness import BenchContext, BenchError, load_baseline_app
from bench.kinds import HttpBenchmark, RunBenchmark, TimingBenchmark

Benchmark = HttpBenchmark | TimingBenchmark | RunBenchmark
BENCHMARKS: dict[str, Benchmark] = {}


def register(benchmark: Benchmark) -> Benchmark:
    if benchmark.name in BENCHMARKS:
        raise ValueError(f"benchmark {benchmark.name!r} is registered twice")
    BENCHMARKS[benchmark.name] = benchmark
    return benchmark


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
# process.

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

register(
    RunBenchmark(
        name=cliniko_writes.WORKLOAD.name,
        description="1,000 patient creations queued in the Cliniko outbox, sandbox at 200 requests/min; "
        "target within 1.1x of the request floor (creations / 200 per minute)",
        prepare=cliniko_writes.prepare,
        slow="about 9 minutes (the baseline and the outbox each send 1,000 creations at 200 a minute)",
    )
)

# Dashboards (issues 6 and 21): one clinic among 20 organizations sharing 400,000 patients and
# 10,000,000 appointments, seeded once by `flask seed-scale --organizations 20`
# (BENCH_DASHBOARD_ORGANIZATIONS / _PATIENTS / _APPOINTMENTS change the sizes; see bench/dashboard.py).

register(
    HttpBenchmark(
        name="dashboard_json",
        path=dashboard.DASHBOARD_PATH,
        description=f"GET /api/v1/dashboard/{{org}} (bearer token) at {dashboard.sizes()}; target p95 < 50 ms",
        setup=dashboard.token_headers,
        connections=2,
    )
)

register(
    HttpBenchmark(
        name="active_patients_page",
        path=dashboard.ACTIVE_PATIENTS_PATH,
        description=f"Active patients page (first page, full HTML) at {dashboard.sizes()}; target p95 < 15 ms",
        setup=dashboard.session_headers,
        connections=2,
    )
)

register(
    HttpBenchmark(
        name="worklist_page",
        path=dashboard.WORKLIST_PATH,
        description=f"Re-engagement worklist (first page, full HTML) at {dashboard.sizes()}; target p95 < 15 ms",
        setup=dashboard.session_headers,
        connections=2,
    )
)


# Reports (issue 7): the offline draft for a 10,000-word transcript (target < 200 ms) and a
# three-page PDF (target < 1 s), each against a trivial baseline in the same process.

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


# Health data (issue 15): 14 days of 1-minute activity counts read back, analysed and stored (target
# median < 500 ms), and a 1,000,000-record Apple Health export imported (targets >= 50,000 records/s,
# peak memory < 300 MB); each target in its own measured child process.

register(
    RunBenchmark(
        name=health_data.ANALYSIS_NAME,
        description="analysis of a 14-day 1-minute activity upload (20,160 epochs): read + analyse + store "
        "vs analyze() alone; target median < 500 ms",
        prepare=health_data.prepare_analysis,
    )
)

register(
    RunBenchmark(
        name=health_data.IMPORT_NAME,
        description="import of a synthetic 1,000,000-record Apple Health export.zip vs parsing it alone; "
        "targets >= 50,000 records/s, peak memory < 300 MB",
        prepare=health_data.prepare_import,
        slow="about 1 minute (writing the export, parsing it, then importing it)",
    )
)


# Billing (issue 17): the invoice list at 100,000 invoices (target p95 < 50 ms) and issuing under
# concurrency (invoices per second printed; BENCH_BILLING_INVOICES shrinks the list's clinic).

register(
    HttpBenchmark(
        name="billing_invoice_list",
        path=billing.LIST_PATH,
        description="GET /api/v1/billing/invoices (first page and the totals) at 100k invoices; target p95 < 50 ms",
        setup=billing.list_headers,
        connections=2,
    )
)

register(
    TimingBenchmark(
        name="billing_issue_concurrent",
        description="20 drafts issued at once over HTTP (one counter row, gap-free) vs 20 concurrent GET /health; "
        "invoices per second printed per run",
        prepare=billing.prepare_issue,
        runs=8,
        warmup_runs=1,
    )
)
