"""The measured processes of the health-data benchmarks (issue 15), one command each.

    python -m bench.health_data_child import --org ID --patient ID --file export.zip [--profile OUT]
    python -m bench.health_data_child analysis --org ID --upload ID [--runs 7]
    python -m bench.health_data_child analysis-baseline [--runs 7]

``bench/health_data.py`` starts them through the harness's ``measure`` (each in its own process,
so its peak memory is its own) with the bench environment: the app's production settings and the
bench database (PostgreSQL, ``DATABASE_URL``; without one the app falls back to its embedded
SQLite, which then needs the tables). Each prints its findings as one line ``BENCH_REPORT {json}``
at the end, after the app's own log lines.

* ``import``: ``service.receive_file`` of an Apple Health export for the patient, then the commit
  that hands the import job (``imports.import_upload``) to the job backend; with
  ``JOBS_BACKEND=eager`` it runs at once in the worker thread and the commit returns when it has
  finished. Reports the request's time (sealing the file), the job's own start to finish as its
  row records it, what was stored and the proxy analysis of the step counts the job ran at its end.
  ``--profile OUT`` writes a cProfile of the job (taken in the thread that runs it).
* ``analysis``: ``--runs`` times (after one untimed run) the read, analyse and store of a 14-day
  series upload: ``analyses.create_analysis`` + ``analyses.run_analysis`` (decrypts the day blocks,
  analyses, encrypts and stores the result) + the commit.
* ``analysis-baseline``: the same series (rebuilt from its seed by ``activity_series``) through the
  pure ``analysis.analyze.analyze()``, ``--runs`` times: the analysis alone, nothing read or stored.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from clinic_app import create_app
from clinic_app.core import audit
from clinic_app.core.jobs import Job, local
from clinic_app.extensions import db
from clinic_app.health_data import analyses, queries, service
from clinic_app.health_data.analysis.analyze import analyze
from clinic_app.health_data.models import ACTIVITY_COUNTS, HealthAnalysis, HealthSeriesBlock
from clinic_app.health_data.series import Series

REPORT_PREFIX = "BENCH_REPORT "
SERIES_DAYS = 14
SERIES_SEED = 15
SERIES_START = datetime(2024, 3, 4)  # a Monday, 00:00 on the device's clock
ALGORITHM = "cole_kripke"


# --- the 14-day recording ----------------------------------------------------------------------


def activity_series(days: int = SERIES_DAYS, seed: int = SERIES_SEED) -> Series:
    """``days`` days of 1-minute wrist activity counts, the same for the same seed.

    Nights (bedtime about 23:00, rising about 07:00, both moving from night to night) are mostly
    zeros with a little movement; days have lognormal counts that peak late morning and early
    evening, with sedentary bouts (short zero runs), and every fourth day the watch comes off for
    95 to 140 minutes (a zero run the non-wear rule catches).
    """
    rng = random.Random(seed)
    values: list[float | None] = []
    for day in range(days):
        wake = int(rng.gauss(7 * 60, 30))
        bed = int(rng.gauss(23 * 60, 40))
        off_from = rng.randrange(10 * 60, 17 * 60) if day % 4 == 2 else -1
        off_until = off_from + rng.randint(95, 140)
        sitting = 0
        for minute in range(24 * 60):
            if off_from <= minute < off_until:
                values.append(0.0)
            elif minute < wake or minute >= bed:
                values.append(0.0 if rng.random() < 0.85 else float(rng.randint(1, 60)))
            elif sitting > 0:
                sitting -= 1
                values.append(0.0 if rng.random() < 0.7 else float(rng.randint(1, 40)))
            else:
                if rng.random() < 0.01:
                    sitting = rng.randint(10, 60)
                hour = minute / 60
                level = 5.2 + 0.5 * math.sin((hour - 8) / 24 * 4 * math.pi)
                values.append(float(int(rng.lognormvariate(level, 0.8))))
    return Series(SERIES_START, timedelta(minutes=1), values)


# --- the commands -----------------------------------------------------------------------------


def _report(payload: dict[str, Any]) -> None:
    print(REPORT_PREFIX + json.dumps(payload, default=str), flush=True)


def _times(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "runs": len(ordered),
        "median_s": statistics.median(ordered),
        "p95_s": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "min_s": ordered[0],
        "max_s": ordered[-1],
    }


def _profiled(run: Callable[[str], None], profiler: cProfile.Profile) -> Callable[[str], None]:
    """``run_job`` with ``profiler`` on while it runs (cProfile sees only the thread it is enabled in)."""

    def run_profiled(job_id: str) -> None:
        profiler.enable()
        try:
            run(job_id)
        finally:
            profiler.disable()

    return run_profiled


def import_file(args: argparse.Namespace) -> dict[str, Any]:
    app = create_app()
    if app.config["JOBS_BACKEND"] != "eager":
        raise SystemExit("the import benchmark runs the job eagerly: set JOBS_BACKEND=eager")
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        local.run_job = _profiled(local.run_job, profiler)  # the worker thread looks it up per job
    path = Path(args.file)
    with app.app_context():
        started = time.perf_counter()
        with open(path, "rb") as stream:
            upload = service.receive_file(
                args.org, args.patient, stream, filename=path.name, file_format="apple_health", actor=audit.Actor()
            )
        upload_id, job_id = upload.id, upload.job_id
        received = time.perf_counter()
        db.session.commit()  # the eager backend runs the import job now and returns when it is done
        finished = time.perf_counter()
        db.session.remove()
        upload = service.get_upload(args.org, upload_id)
        job = db.session.get(Job, job_id)
        analysis = db.session.scalar(select(HealthAnalysis).where(HealthAnalysis.upload_id == upload_id))
        stored_blocks = db.session.scalar(
            select(func.count()).select_from(HealthSeriesBlock).where(HealthSeriesBlock.upload_id == upload_id)
        )
        job_seconds = (job.finished_at - job.started_at).total_seconds() if job and job.finished_at else None
        analysis_seconds = None
        if analysis is not None and analysis.completed_at is not None:
            analysis_seconds = (analysis.completed_at - analysis.created_at).total_seconds()
        report = {
            "receive_s": received - started,
            "commit_and_job_s": finished - received,
            "job_s": job_seconds,
            "job_status": job.status if job else None,
            "job_error": job.error if job else None,
            "upload_status": upload.status,
            "upload_error": upload.error,
            "samples": upload.sample_count,
            "rejected": upload.rejected_count,
            "summary": queries.upload_summary(upload),
            "blocks": stored_blocks,
            "analysis_status": analysis.status if analysis else None,
            "analysis_channel": analysis.channel if analysis else None,
            "analysis_epochs": analysis.epochs if analysis else None,
            "analysis_s": analysis_seconds,
            "database": db.engine.dialect.name,
        }
        db.session.rollback()
    if profiler is not None:
        profiler.dump_stats(args.profile)
    return report


def analysis_runs(args: argparse.Namespace) -> dict[str, Any]:
    app = create_app()
    actor = audit.Actor()
    times: list[float] = []
    epochs: set[int] = set()
    with app.app_context():
        for number in range(args.runs + 1):  # the first run is not timed (connections, caches)
            started = time.perf_counter()
            upload = service.get_upload(args.org, args.upload)
            analysis = analyses.create_analysis(upload, channel=ACTIVITY_COUNTS, algorithm=ALGORITHM, actor=actor)
            analyses.run_analysis(args.org, analysis.id)
            db.session.commit()
            elapsed = time.perf_counter() - started
            if analysis.status != "completed":
                raise SystemExit(f"the analysis ended {analysis.status}: {analysis.error}")
            epochs.add(analysis.epochs)
            db.session.remove()  # each run starts from a fresh session, as a job does
            if number:
                times.append(elapsed)
        database = db.engine.dialect.name
    return {**_times(times), "epochs": sorted(epochs), "database": database}


def analysis_baseline(args: argparse.Namespace) -> dict[str, Any]:
    series = activity_series()
    times: list[float] = []
    for number in range(args.runs + 1):
        started = time.perf_counter()
        result = analyze(series, algorithm=ALGORITHM)
        elapsed = time.perf_counter() - started
        if not result["sleep_metrics"]["nights"]:
            raise SystemExit("the baseline analysis found no nights")
        if number:
            times.append(elapsed)
    return {**_times(times), "epochs": [len(series)]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    imported = commands.add_parser("import", help="receive an Apple Health export and run its import job")
    imported.add_argument("--org", required=True)
    imported.add_argument("--patient", required=True)
    imported.add_argument("--file", required=True)
    imported.add_argument("--profile", help="write a cProfile of the import job here")
    analysed = commands.add_parser("analysis", help="time read + analyse + store of a series upload")
    analysed.add_argument("--org", required=True)
    analysed.add_argument("--upload", required=True)
    analysed.add_argument("--runs", type=int, default=7)
    baseline = commands.add_parser("analysis-baseline", help="time analyze() alone on the same series")
    baseline.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    commands_by_name = {"import": import_file, "analysis": analysis_runs, "analysis-baseline": analysis_baseline}
    _report(commands_by_name[args.command](args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
