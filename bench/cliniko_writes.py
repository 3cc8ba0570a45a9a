"""Cliniko writes (issue 18, done-when 5): 1,000 patient creations queued in the outbox, sent to the
sandbox Cliniko at its 200 requests a minute, must finish within 1.1x of the request floor
(creations ÷ 200 per minute).

Per round, against one ``flask cliniko-sandbox --rate-limit 200`` child process:

* the baseline: a bare ``ClinikoClient`` in its own process sending the same 1,000 ``POST /patients``
  at the same pacing, storing nothing (``python -m bench.cliniko_writes baseline``);
* the candidate: a fresh organization connected to the sandbox; in its own process
  (``python -m bench.cliniko_writes app``) 1,000 patients are registered in one transaction (1,000
  outbox entries) and, once it commits, the outbox's sender sends them all; the time is from the
  commit to the empty outbox.

Verdicts: every patient in the sandbox exactly once (by the marker each create carries), the outbox
empty, and the time within 1.1x of the floor. Registered in bench/catalog.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select

from bench.harness import BenchContext, BenchError
from bench.kinds import Measure, RunSample, Verdict
from bench.settings import ROOT
from bench.sync import COMMAND_TIMEOUT_S, Sandbox, SyncWorkload
from clinic_app import create_app
from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.patients import service as patients
from clinic_app.sync.client import ClinikoClient
from clinic_app.sync.connection import client_for
from clinic_app.sync.models import OutboxEntry

CREATIONS = 1_000
LIMIT = 200  # Cliniko's requests a minute, enforced by the sandbox
FACTOR = 1.1
WORKLOAD = SyncWorkload(name="cliniko_writes_1000", patients=10, appointments=10, rate_limit=LIMIT, timeout_s=900.0)


def prepare(ctx: BenchContext) -> contextlib.AbstractContextManager[WritesJob]:
    @contextlib.contextmanager
    def started() -> Iterator[WritesJob]:
        sandbox = Sandbox(WORKLOAD, ctx.app_env)
        try:
            sandbox.start()
            yield WritesJob(ctx, sandbox)
        finally:
            sandbox.stop()

    return started()


class WritesJob:
    def __init__(self, ctx: BenchContext, sandbox: Sandbox) -> None:
        self.ctx, self.sandbox, self.rounds = ctx, sandbox, 0

    def baseline(self, measure: Measure) -> RunSample:
        self.sandbox.reset()
        argv = [sys.executable, "-m", "bench.cliniko_writes", "baseline", "--base-url", self.sandbox.base_url_template]
        child = measure("baseline", argv, env=self.ctx.app_env, stdin=self.sandbox.api_key + "\n", timeout_s=900.0)
        report = _report(child.returncode, child.output_tail, "baseline")
        served = self.sandbox.stats()
        facts = {"requests served": served["requests"], "answered 429": served["by_status"].get("429", 0)}
        return RunSample(child=child, work_seconds=report["seconds"], facts=facts)

    def candidate(self, measure: Measure) -> RunSample:
        self.rounds += 1
        organization_id = self._connected_organization()
        self.sandbox.reset()
        before = self.sandbox.counts()["patients"]["total"]
        argv = [sys.executable, "-m", "bench.cliniko_writes", "app", "--org", organization_id]
        env = {**self.ctx.app_env, "APP_ENV": "development", "JOBS_BACKEND": "eager", "SYNC_SCHEDULER_ENABLED": "false"}
        child = measure("app", argv, env=env, timeout_s=900.0)
        report = _report(child.returncode, child.output_tail, "app")
        served = self.sandbox.stats()
        created = self.sandbox.counts()["patients"]["total"] - before
        floor = CREATIONS / LIMIT * 60.0
        work = report["seconds"]
        once = created == CREATIONS and report["markers_once"]
        timing = f"{work:.1f} s; floor {floor:.0f} s ({CREATIONS} creations / {LIMIT} a minute); {work / floor:.2f}x"
        verdicts = (
            Verdict("every patient in Cliniko once", once, f"{created} created, markers unique: {once}"),
            Verdict("outbox empty", report["left"] == 0, f"{report['left']} entries left"),
            Verdict(f"within {FACTOR:g}x of the request floor", work <= FACTOR * floor, timing),
        )
        facts = {
            "requests served": served["requests"],
            "answered 429": served["by_status"].get("429", 0),
            "registering (before the send)": f"{report['registering_seconds']:.1f} s",
        }
        return RunSample(child=child, work_seconds=work, facts=facts, verdicts=verdicts)

    def _connected_organization(self) -> str:
        with self.ctx.flask_app().app_context():
            organization = orgs.create_organization(
                name=f"Bench Cliniko writes {self.rounds}", time_zone="Australia/Sydney", region="AU"
            )
            db.session.commit()
            organization_id = organization.id
        argv = [sys.executable, "-m", "flask", "--app", "wsgi", "cliniko-connect", "--org", organization_id]
        argv += ["--base-url", self.sandbox.base_url_template]
        done = subprocess.run(
            argv, cwd=ROOT, env={**self.ctx.app_env, "APP_ENV": "development"}, input=self.sandbox.api_key + "\n",
            capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False,
        )  # fmt: skip
        if done.returncode != 0 or "Connected to Cliniko" not in done.stdout:
            raise BenchError(f"flask cliniko-connect failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
        return organization_id


def _report(returncode: int, output: str, what: str) -> dict[str, Any]:
    lines = [line for line in output.splitlines() if line.startswith("{")]
    if returncode != 0 or not lines:
        raise BenchError(f"the {what} run failed (exit {returncode}):\n{output}")
    return json.loads(lines[-1])


# --- the child processes --------------------------------------------------------------------------


def run_baseline(base_url: str, count: int) -> dict[str, Any]:
    """``count`` creates through a bare client at Cliniko's pacing (the transfer alone)."""
    key = sys.stdin.readline().strip()
    started = time.perf_counter()
    with ClinikoClient(key, base_url=base_url, requests_per_minute=LIMIT) as client:
        for number in range(count):
            body = {"first_name": "Bench", "last_name": f"Baseline {number}", "old_reference_id": f"base_{number}"}
            while client.send_once("POST", "patients", body).status_code == 429:
                time.sleep(1.0)
    return {"seconds": time.perf_counter() - started, "sent": count}


def run_app(organization_id: str, count: int) -> dict[str, Any]:
    """Register ``count`` patients in one transaction, then time the outbox until it is empty."""
    app = create_app()
    with app.app_context():
        registering = time.perf_counter()
        ids = []
        for number in range(count):
            data = patients.validate_for(organization_id, {"first_name": "Bench", "last_name": f"Queued {number}"})
            ids.append(patients.create_patient(organization_id, data, actor=audit.Actor()).id)
        registering_seconds = time.perf_counter() - registering
        started = time.perf_counter()
        db.session.commit()  # the eager backend runs the sender now, to the last entry
        seconds = time.perf_counter() - started
        left = db.session.scalar(
            select(func.count()).select_from(OutboxEntry).where(OutboxEntry.organization_id == organization_id)
        )
        with client_for(organization_id) as client:
            client.max_retries = 20
            markers: Counter[str] = Counter()
            for page in client.iter_pages("patients", params=[("q[]", "archived_at:*")]):
                markers.update(p["old_reference_id"] for p in page.items if p.get("old_reference_id"))
        once = all(markers.get(patient_id) == 1 for patient_id in ids)
    return {
        "seconds": seconds,
        "registering_seconds": registering_seconds,
        "left": int(left or 0),
        "markers_once": once,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The Cliniko writes benchmark's child processes.")
    parser.add_argument("mode", choices=("baseline", "app"))
    parser.add_argument("--base-url", default="")
    parser.add_argument("--org", default="")
    parser.add_argument("--count", type=int, default=CREATIONS)
    args = parser.parse_args(argv)
    report = run_baseline(args.base_url, args.count) if args.mode == "baseline" else run_app(args.org, args.count)
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
