"""Health-data benchmarks (issue 15): analysing 14 days of activity counts, importing a 1,000,000-record
Apple Health export. Both are long-job benchmarks (``RunBenchmark``): each target runs in a child
process of its own (``python -m bench.health_data_child ...``), measured by the harness.

``health_data.analysis_14d``
    A patient's upload of 14 days of synthetic 1-minute activity counts (20,160 epochs, see
    ``health_data_child.activity_series``) is stored once through ``service.record_series``
    (channel ``activity_counts``). Candidate: the median of 7 runs (after an untimed one) of
    ``analyses.create_analysis`` + ``analyses.run_analysis`` + commit, i.e. reading the encrypted
    day blocks back, analysing, encrypting and storing the result. Baseline: the median of 7 runs of
    the pure ``analysis.analyze.analyze()`` on the same series. Target: median under 500 ms.

``health_data.apple_health_import_1m``
    ``bench/apple_health_export.py`` writes a deterministic export.xml with 1,000,000 ``<Record>``
    elements (about 430 MB) and zips it (about 18 MB) into a temporary folder. Candidate:
    ``service.receive_file`` of export.zip for a patient, then the commit that hands the import job to
    the job backend (``JOBS_BACKEND=eager``: it runs at once, in that process); the job parses the
    file, stores the values as encrypted day blocks and analyses the step counts as a proxy. Work
    time = from the first byte received to the job's end. Baseline: the app's parser alone over the
    same export.zip, storing nothing. Targets: at least 50,000 records/s, peak memory under 300 MB.

Both run against the bench database the harness created (PostgreSQL, ``ctx.app_env``), as every
other scenario does. ``BENCH_HEALTH_IMPORT_PROFILE=FILE`` has the import job profiled with cProfile
into FILE (read it with ``python -m pstats FILE``). Registered in bench/catalog.py; see
bench/README.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.apple_health_export import ENERGY, ExportFile, write_export, zip_export
from bench.harness import BenchContext, BenchError
from bench.health_data_child import REPORT_PREFIX, activity_series
from bench.kinds import ChildMeasure, Measure, RunSample, Verdict
from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.health_data import service
from clinic_app.health_data.models import ACTIVITY_COUNTS
from clinic_app.orgs import service as orgs
from clinic_app.patients import service as patients

ANALYSIS_NAME = "health_data.analysis_14d"
IMPORT_NAME = "health_data.apple_health_import_1m"
ANALYSIS_RUNS = 7
ANALYSIS_BUDGET_MS = 500.0
ANALYSIS_EPOCHS = 14 * 24 * 60
IMPORT_RECORDS = 1_000_000
MIN_RECORDS_PER_S = 50_000.0
MAX_IMPORT_RSS_MB = 300.0
ANALYSIS_TIMEOUT_S = 300.0
IMPORT_TIMEOUT_S = 900.0
CHILD = [sys.executable, "-m", "bench.health_data_child"]
# Set to a file name to have the import job profiled (cProfile) into it; the timing is then not the app's.
PROFILE_VARIABLE = "BENCH_HEALTH_IMPORT_PROFILE"


def _report(child: ChildMeasure, what: str) -> dict[str, Any]:
    """The ``BENCH_REPORT`` line a child printed last (its log holds the app's log lines too)."""
    if child.returncode != 0:
        raise BenchError(f"{what} failed (exit {child.returncode}):\n{child.output_tail}")
    lines = child.log_path.read_text(errors="replace").splitlines()
    reports = [line.removeprefix(REPORT_PREFIX) for line in lines if line.startswith(REPORT_PREFIX)]
    if not reports:
        raise BenchError(f"{what} printed no report:\n{child.output_tail}")
    return json.loads(reports[-1])


def _patient(ctx: BenchContext, first_name: str) -> tuple[str, str]:
    """A fresh clinic and one patient in the bench database: (organization id, patient id)."""
    with ctx.flask_app().app_context():
        organization = orgs.create_organization(name=f"Bench health data {first_name}", time_zone="Australia/Sydney")
        raw = {"first_name": first_name, "last_name": "Bench"}
        patient = patients.create_patient(
            organization.id, patients.validate_for(organization.id, raw), actor=audit.Actor()
        )
        db.session.commit()
        return organization.id, patient.id


# --- health_data.analysis_14d -------------------------------------------------------------------


class AnalysisJob:
    """Read + analyse + store of one 14-day upload against ``analyze()`` alone on the same series."""

    def __init__(self, ctx: BenchContext, organization_id: str, upload_id: str) -> None:
        self.ctx, self.organization_id, self.upload_id = ctx, organization_id, upload_id

    def baseline(self, measure: Measure) -> RunSample:
        argv = [*CHILD, "analysis-baseline", "--runs", str(ANALYSIS_RUNS)]
        child = measure("baseline", argv, env=self.ctx.app_env, timeout_s=ANALYSIS_TIMEOUT_S)
        report = _report(child, "the analysis baseline")
        return RunSample(child=child, work_seconds=report["median_s"], facts=_timing_facts(report, "analyze() alone"))

    def candidate(self, measure: Measure) -> RunSample:
        argv = [*CHILD, "analysis", "--org", self.organization_id, "--upload", self.upload_id]
        argv += ["--runs", str(ANALYSIS_RUNS)]
        child = measure("app", argv, env=self.ctx.app_env, timeout_s=ANALYSIS_TIMEOUT_S)
        report = _report(child, "the analysis runs")
        median_ms = report["median_s"] * 1000
        verdicts = (
            Verdict(
                f"read + analyse + store median under {ANALYSIS_BUDGET_MS:g} ms",
                median_ms < ANALYSIS_BUDGET_MS,
                f"{median_ms:.1f} ms (budget {ANALYSIS_BUDGET_MS:g} ms; p95 {report['p95_s'] * 1000:.1f} ms, "
                f"{report['runs']} runs, {report['database']})",
            ),
            Verdict(
                f"each analysis completed on {ANALYSIS_EPOCHS:,} epochs",
                report["epochs"] == [ANALYSIS_EPOCHS],
                f"epochs {report['epochs']}",
            ),
        )
        facts = _timing_facts(report, "read + analyse + store") | {"budget ms": ANALYSIS_BUDGET_MS}
        return RunSample(child=child, work_seconds=report["median_s"], facts=facts, verdicts=verdicts)


def _timing_facts(report: dict[str, Any], label: str) -> dict[str, Any]:
    return {
        "timed": label,
        "runs": report["runs"],
        "median ms": round(report["median_s"] * 1000, 1),
        "p95 ms": round(report["p95_s"] * 1000, 1),
        "min ms": round(report["min_s"] * 1000, 1),
    }


@contextlib.contextmanager
def prepare_analysis(ctx: BenchContext) -> Iterator[AnalysisJob]:
    """A patient with the 14-day series stored as an upload (through ``service.record_series``)."""
    organization_id, patient_id = _patient(ctx, "Analysis")
    series = activity_series()
    with ctx.flask_app().app_context():
        upload = service.record_series(
            organization_id, patient_id, series, channel=ACTIVITY_COUNTS, actor=audit.Actor(), upload_source="bench"
        )
        db.session.commit()
        upload_id = upload.id
    print(f"[{ANALYSIS_NAME}] stored {len(series):,} epochs ({series.start:%Y-%m-%d} to {series.end:%Y-%m-%d})")
    yield AnalysisJob(ctx, organization_id, upload_id)


# --- health_data.apple_health_import_1m ---------------------------------------------------------


class ImportJob:
    """The app's import of export.zip against its parser alone over the same file."""

    def __init__(self, ctx: BenchContext, export: ExportFile, organization_id: str, patient_id: str) -> None:
        self.ctx, self.export = ctx, export
        self.organization_id, self.patient_id = organization_id, patient_id
        assert export.zip_path is not None
        self.path: Path = export.zip_path

    @property
    def kept(self) -> int:
        """The records the import reads (every type but the one it skips)."""
        return self.export.records - self.export.by_type.get(ENERGY, 0)

    def baseline(self, measure: Measure) -> RunSample:
        argv = [sys.executable, "-m", "bench.apple_health_export", "parse", str(self.path)]
        child = measure("baseline", argv, env=self.ctx.app_env, timeout_s=IMPORT_TIMEOUT_S)
        report = _report_json(child, "the parse-only baseline")
        if report["records"] != self.export.records:
            raise BenchError(f"the baseline read {report['records']} records, not {self.export.records}")
        facts = {
            "timed": "read_export() alone",
            "records": report["records"],
            "records/s": round(report["records"] / report["seconds"]),
        }
        return RunSample(child=child, work_seconds=report["seconds"], facts=facts)

    def candidate(self, measure: Measure) -> RunSample:
        argv = [*CHILD, "import", "--org", self.organization_id, "--patient", self.patient_id, "--file", str(self.path)]
        profile = os.environ.get(PROFILE_VARIABLE)
        if profile:
            argv += ["--profile", str(Path(profile).resolve())]
            print(f"[{IMPORT_NAME}] profiling the import job into {profile} (cProfile slows it down)")
        env = {**self.ctx.app_env, "JOBS_BACKEND": "eager"}
        child = measure("app", argv, env=env, timeout_s=IMPORT_TIMEOUT_S)
        report = _report(child, "the import")
        work = report["receive_s"] + report["commit_and_job_s"]
        rate = self.export.records / work
        facts = {
            "timed": "receive_file + the import job",
            "records/s": round(rate),
            "receive s": round(report["receive_s"], 2),
            "job s": round(report["job_s"], 2) if report["job_s"] is not None else None,
            "proxy analysis s": round(report["analysis_s"], 2) if report["analysis_s"] is not None else None,
            "stored": f"{report['samples']:,} values in {report['blocks']:,} blocks, {report['rejected']} rejected",
            "database": report["database"],
        }
        completed = (
            report["upload_status"] == "completed"
            and report["job_status"] == "succeeded"
            and report["analysis_status"] == "completed"
        )
        verdicts = (
            Verdict(
                "import and its step-count analysis completed",
                completed,
                f"upload {report['upload_status']}, job {report['job_status']}, analysis {report['analysis_status']}"
                + (f"; {report['upload_error'] or report['job_error']}" if not completed else ""),
            ),
            Verdict(
                "every record the import reads was stored or rejected",
                report["samples"] + report["rejected"] == self.kept,
                f"{report['samples']:,} stored + {report['rejected']:,} rejected of {self.kept:,} "
                f"({self.export.records - self.kept:,} of a skipped type)",
            ),
            Verdict(
                f"at least {MIN_RECORDS_PER_S:,.0f} records/s",
                rate >= MIN_RECORDS_PER_S,
                f"{rate:,.0f} records/s ({self.export.records:,} records in {work:.2f} s)",
            ),
            Verdict(
                f"peak memory under {MAX_IMPORT_RSS_MB:g} MB",
                child.peak_rss_mb < MAX_IMPORT_RSS_MB,
                f"{child.peak_rss_mb:.1f} MB",
            ),
        )
        return RunSample(child=child, work_seconds=work, facts=facts, verdicts=verdicts)


def _report_json(child: ChildMeasure, what: str) -> dict[str, Any]:
    """The JSON line the parse-only baseline prints last."""
    if child.returncode != 0:
        raise BenchError(f"{what} failed (exit {child.returncode}):\n{child.output_tail}")
    lines = [line for line in child.output_tail.splitlines() if line.startswith("{")]
    if not lines:
        raise BenchError(f"{what} printed no report:\n{child.output_tail}")
    return json.loads(lines[-1])


@contextlib.contextmanager
def prepare_import(ctx: BenchContext) -> Iterator[ImportJob]:
    """The synthetic export (xml and zip) in a temporary folder, deleted afterwards, and a patient."""
    with tempfile.TemporaryDirectory(prefix="clinic-bench-apple-health-") as folder:
        export = zip_export(write_export(Path(folder), records=IMPORT_RECORDS))
        print(
            f"[{IMPORT_NAME}] wrote {export.records:,} records ({export.days[0]} to {export.days[1]}): export.xml "
            f"{export.xml_bytes / 1e6:.0f} MB in {export.seconds:.1f} s, export.zip {export.zip_bytes / 1e6:.1f} MB "
            f"in {export.zip_seconds:.1f} s"
        )
        organization_id, patient_id = _patient(ctx, "Import")
        yield ImportJob(ctx, export, organization_id, patient_id)
