"""Cliniko sync benchmarks (issue 5): whole comprehensive syncs from the sandbox Cliniko.

Each benchmark starts ``flask cliniko-sandbox`` as a child process on 127.0.0.1, then runs per round

* the baseline: a bare ``ClinikoClient`` in its own process reading every page of every list the
  sync reads, storing nothing (``python -m bench.sync_walk``), so the ratio says what the sync adds
  over pure transfer;
* the candidate: a fresh organization, connected with ``flask cliniko-connect``, synced with
  ``flask sync run --mode comprehensive --wait``; the job runs in that command's own process (the
  in-process job backend), so the process measured is the one doing the work.

Before each target the sandbox is reset (records as built, request counts cleared, the rate-limit
window closed), so each is counted alone and neither starts inside the other's window. After the
sync the organization's patients and appointments are counted in the bench database and compared
with the sandbox's own counts: a sync that is fast but wrong fails.

Registered in bench/catalog.py; see bench/README.md for what the numbers mean.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.harness import BenchContext, BenchError, http_request, stop_process_group
from bench.kinds import ChildMeasure, Measure, RunSample, Verdict
from bench.profiling import under_py_spy
from bench.settings import HOST, RESULTS_DIR, ROOT, STARTUP_TIMEOUT_S
from clinic_app.appointments.models import Appointment
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.patients.models import Patient
from clinic_app.sync import service

# The client's pacing when the sandbox does not limit: high enough never to wait, so the sync is
# measured, not the limiter. Cliniko's own 200 per minute is the app's default, kept for the
# rate-limited benchmark.
UNPACED_PER_MINUTE = 1_000_000
COMMAND_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class SyncWorkload:
    """A sandbox clinic to sync and the targets the issue sets for it."""

    name: str
    patients: int
    appointments: int
    seed: int = 42
    rate_limit: int | None = None  # the sandbox's requests per 60-second window (429 beyond)
    client_per_minute: int | None = UNPACED_PER_MINUTE  # None: the app's own pacing (Cliniko's 200)
    max_seconds: float | None = None
    max_rss_mb: float | None = None
    # Issue 21: the sync's work time within this many times the bare walk's (same round), and its
    # peak memory under the second budget.
    max_work_ratio: float | None = None
    transfer_rss_mb: float | None = None
    ideal_factor: float | None = None  # rate limited: time within this many times requests ÷ limit
    timeout_s: float = 600.0


SEED_WORKLOAD = SyncWorkload(
    name="sync_seed_workload",
    patients=650,
    appointments=1000,
    max_seconds=5.0,
    max_work_ratio=2.0,
    transfer_rss_mb=200.0,
)
LARGE_WORKLOAD = SyncWorkload(
    name="sync_10k_100k",
    patients=10_000,
    appointments=100_000,
    max_seconds=60.0,
    max_rss_mb=400.0,
    max_work_ratio=2.0,
    transfer_rss_mb=200.0,
    timeout_s=900.0,
)
# The smallest clinic whose sync needs more than one window of 200 requests (20 patient pages,
# 200 appointment pages and 4 reference lists: 224), so a full minute of waiting is measured.
RATE_LIMITED_WORKLOAD = SyncWorkload(
    name="sync_rate_limited",
    patients=2_000,
    appointments=20_000,
    rate_limit=200,
    client_per_minute=None,
    ideal_factor=1.1,
)


# --- the sandbox, in its own process --------------------------------------------------------


class Sandbox:
    """``flask cliniko-sandbox`` on a port it picks itself (``--port 0``), read back from its output."""

    def __init__(self, workload: SyncWorkload, env: dict[str, str]) -> None:
        self.workload = workload
        self.env = env
        self.log_path = RESULTS_DIR / f"{workload.name}-sandbox.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.base_url_template = ""
        self.api_key = ""

    def start(self) -> None:
        workload = self.workload
        argv = [sys.executable, "-m", "flask", "--app", "devtools", "cliniko-sandbox", "--host", HOST, "--port", "0"]
        argv += ["--patients", str(workload.patients), "--appointments", str(workload.appointments)]
        argv += ["--seed", str(workload.seed)]
        if workload.rate_limit:
            argv += ["--rate-limit", str(workload.rate_limit)]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: Ctrl-C reaches the harness, which stops it
            )  # fmt: skip
        shown = self.log_path.relative_to(ROOT)
        print(f"[{workload.name}] started the sandbox Cliniko (pid {self.process.pid}), log {shown}")
        self._read_address()

    def _read_address(self) -> None:
        """Wait for the base URL and key it prints, then for its control endpoint to answer."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise BenchError(f"the sandbox exited (code {self.process.returncode}):\n{self._log_tail()}")
            text = self.log_path.read_text(errors="replace")
            template = re.search(r"^Base URL template:\s+(\S+)", text, re.MULTILINE)
            key = re.search(r"^API key:\s+(\S+)", text, re.MULTILINE)
            if template and key:
                self.base_url_template, self.api_key = template.group(1), key.group(1)
                if not self.base_url_template.startswith(f"http://{HOST}:"):
                    raise BenchError(f"the sandbox is not on {HOST}: {self.base_url_template}")
                self.url = self.base_url_template.split("/{shard}", 1)[0]
                self.counts()
                return
            time.sleep(0.2)
        raise BenchError(f"the sandbox printed no address within {STARTUP_TIMEOUT_S:.0f}s:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").strip().splitlines()[-20:])

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process, "sandbox")
            self.process = None

    def control(self, path: str, method: str = "GET") -> dict[str, Any]:
        """A ``/_sandbox/...`` control endpoint (Basic auth with the key; never counted as API use)."""
        credentials = base64.b64encode(f"{self.api_key}:".encode()).decode()
        status, body = http_request(
            self.url + path, method=method, headers={"Authorization": f"Basic {credentials}"}, timeout=60
        )
        if status != 200:
            raise BenchError(f"sandbox {method} {path} answered {status}: {body[:200].decode(errors='replace')}")
        return json.loads(body)

    def counts(self) -> dict[str, Any]:
        return self.control("/_sandbox/counts")

    def stats(self) -> dict[str, Any]:
        return self.control("/_sandbox/stats")

    def reset(self) -> None:
        """Records as built, request counts cleared, the rate-limit window closed."""
        self.control("/_sandbox/reset", method="POST")


def prepare(workload: SyncWorkload) -> Callable[[BenchContext], contextlib.AbstractContextManager[SyncJob]]:
    """The ``prepare`` of a RunBenchmark: a sandbox serving ``workload`` while the runs last."""

    @contextlib.contextmanager
    def started(ctx: BenchContext) -> Iterator[SyncJob]:
        sandbox = Sandbox(workload, ctx.app_env)
        try:
            sandbox.start()
            yield SyncJob(ctx, workload, sandbox)
        finally:
            sandbox.stop()

    return started


# --- the two jobs -----------------------------------------------------------------------------


class SyncJob:
    """The baseline walk and the candidate sync against one running sandbox."""

    def __init__(self, ctx: BenchContext, workload: SyncWorkload, sandbox: Sandbox) -> None:
        self.ctx, self.workload, self.sandbox = ctx, workload, sandbox
        self.rounds = 0
        self.baseline_work: float | None = None  # this round's walk (the harness runs it first)

    def baseline(self, measure: Measure) -> RunSample:
        """The transfer alone: a bare client reads what the sync reads, at the same pacing."""
        argv = [sys.executable, "-m", "bench.sync_walk", "--base-url", self.sandbox.base_url_template]
        if self.workload.client_per_minute is not None:
            argv += ["--per-minute", str(self.workload.client_per_minute)]
        self.sandbox.reset()
        child = measure(
            "baseline", argv, env=self.ctx.app_env, stdin=self.sandbox.api_key + "\n", timeout_s=self.workload.timeout_s
        )
        if child.returncode != 0:
            raise BenchError(f"the baseline walk failed (exit {child.returncode}):\n{child.output_tail}")
        reports = [line for line in child.output_tail.splitlines() if line.startswith("{")]
        if not reports:
            raise BenchError(f"the baseline walk printed no report:\n{child.output_tail}")
        report = json.loads(reports[-1])
        served = self.sandbox.stats()
        facts = {
            "requests served": served["requests"],
            "answered 429": served["by_status"].get("429", 0),
            "records read": sum(report["records"].values()),
        }
        self.baseline_work = report["seconds"]
        return RunSample(child=child, work_seconds=report["seconds"], facts=facts)

    def candidate(self, measure: Measure) -> RunSample:
        """A fresh organization's comprehensive sync, then its targets and a count of what it stored."""
        self.rounds += 1
        organization_id = self._new_organization()
        self._connect(organization_id)
        self.sandbox.reset()
        child = measure(
            "app", self._sync_command(organization_id), env=self._sync_env(), timeout_s=self.workload.timeout_s
        )
        served = self.sandbox.stats()
        expected = self.sandbox.counts()
        run, stored = self._outcome(organization_id)
        finished = run is not None and run["finished_at"] is not None
        work = (run["finished_at"] - run["created_at"]).total_seconds() if finished else child.seconds
        outcomes = ("created", "updated", "unchanged", "failed")
        facts = {
            "requests served": served["requests"],
            "answered 429": served["by_status"].get("429", 0),
            "sync pages": run["pages"] if run else None,
            "created/updated/unchanged/failed": "/".join(str(run[k]) for k in outcomes) if run else None,
            "stored": f"{stored['patients']} patients ({stored['archived']} archived), "
            f"{stored['appointments']} appointments",
        }
        verdicts = [self._completed(run, child)]
        verdicts += self._targets(work, child, served)
        verdicts += _equal_counts(stored, expected)
        return RunSample(child=child, work_seconds=work, facts=facts, verdicts=tuple(verdicts))

    # -- candidate steps --

    def _new_organization(self) -> str:
        with self.ctx.flask_app().app_context():
            organization = orgs.create_organization(
                name=f"Bench sync {self.workload.name} {self.rounds}", time_zone="Australia/Sydney", region="AU"
            )
            db.session.commit()
            return organization.id

    def _connect(self, organization_id: str) -> None:
        """``flask cliniko-connect``, key on standard input, as an operator does for the sandbox.

        It runs with APP_ENV=development because production accepts only https Cliniko addresses
        (and syncs only with Cliniko's own); the sync runs so too (``_sync_env``).
        """
        argv = [sys.executable, "-m", "flask", "--app", "wsgi", "cliniko-connect", "--org", organization_id]
        argv += ["--base-url", self.sandbox.base_url_template]
        try:
            done = subprocess.run(
                argv, cwd=ROOT, env={**self.ctx.app_env, "APP_ENV": "development"}, input=self.sandbox.api_key + "\n",
                capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise BenchError(f"flask cliniko-connect took longer than {COMMAND_TIMEOUT_S:.0f}s") from None
        if done.returncode != 0 or "Connected to Cliniko" not in done.stdout:
            output = (done.stdout + done.stderr).strip().splitlines()
            raise BenchError(f"flask cliniko-connect failed (exit {done.returncode}):\n" + "\n".join(output[-20:]))

    def _sync_command(self, organization_id: str) -> list[str]:
        app = "wsgi"
        if self.workload.client_per_minute is not None:
            # No setting names the client's pacing; the app factory takes it as an override.
            options = {"SYNC_CLIENT_OPTIONS": {"requests_per_minute": self.workload.client_per_minute}}
            app = f"clinic_app:create_app({options!r})"
        command = [sys.executable, "-m", "flask", "--app", app, "sync", "run", "--org", organization_id]
        command = [*command, "--mode", "comprehensive", "--wait"]
        spy = os.environ.get("BENCH_SYNC_PYSPY")  # a folder: profile instead (bench/README)
        return under_py_spy(command, Path(spy) / f"{self.workload.name}.folded") if spy else command

    def _sync_env(self) -> dict[str, str]:
        # The job runs in the command's own process (not on an RQ worker), so the child measured is
        # the one doing the work; no scheduler may start a second sync meanwhile.
        # APP_ENV=development: production refuses to sync with any address but Cliniko's own, and the
        # sandbox is plain http on 127.0.0.1 (the database, secrets and settings stay the bench's).
        return {
            **self.ctx.app_env,
            "APP_ENV": "development",
            "JOBS_BACKEND": "thread",
            "SYNC_SCHEDULER_ENABLED": "false",
        }

    def _outcome(self, organization_id: str) -> tuple[dict[str, Any] | None, dict[str, int]]:
        """The organization's latest sync run and what the bench database now holds for it."""
        with self.ctx.flask_app().app_context():
            runs = service.history(organization_id, limit=1)
            run = None
            if runs:
                fields = ("status", "created_at", "finished_at", "pages", "created", "updated", "unchanged", "failed")
                run = {name: getattr(runs[0], name) for name in fields} | {"error_detail": runs[0].error_detail}

            def count(model: Any, *conditions: Any) -> int:
                query = select(func.count()).select_from(model).where(model.organization_id == organization_id)
                return int(db.session.scalar(query.where(*conditions)) or 0)

            stored = {
                "patients": count(Patient),
                "archived": count(Patient, Patient.archived.is_(True)),
                "appointments": count(Appointment),
            }
            db.session.rollback()
        return run, stored

    # -- verdicts --

    def _completed(self, run: dict[str, Any] | None, child: ChildMeasure) -> Verdict:
        if run is None:
            return Verdict("sync completed", False, f"no sync run was recorded; output:\n{child.output_tail}")
        passed = run["status"] == "completed" and child.returncode == 0
        detail = f"status {run['status']}, {run['failed']} records failed"
        if not passed:
            detail += f"; {run['error_detail'] or ''}\n{child.output_tail}"
        return Verdict("sync completed", passed, detail)

    def _targets(self, work: float, child: ChildMeasure, served: dict[str, Any]) -> list[Verdict]:
        workload, verdicts = self.workload, []
        if workload.max_seconds is not None:
            verdicts.append(
                Verdict(f"sync under {workload.max_seconds:g} s", work < workload.max_seconds, f"{work:.2f} s")
            )
        if workload.max_rss_mb is not None:
            verdicts.append(
                Verdict(
                    f"peak memory under {workload.max_rss_mb:g} MB",
                    child.peak_rss_mb < workload.max_rss_mb,
                    f"{child.peak_rss_mb:.1f} MB",
                )
            )
        if workload.max_work_ratio is not None:
            walk = self.baseline_work
            ratio = work / walk if walk else None
            verdicts.append(
                Verdict(
                    f"work time within {workload.max_work_ratio:g}x of the bare walk's",
                    ratio is not None and ratio <= workload.max_work_ratio,
                    f"{ratio:.2f}x ({work:.2f} s against {walk:.2f} s)" if ratio is not None else "no baseline walk",
                )
            )
        if workload.transfer_rss_mb is not None:
            verdicts.append(
                Verdict(
                    f"peak memory under {workload.transfer_rss_mb:g} MB",
                    child.peak_rss_mb < workload.transfer_rss_mb,
                    f"{child.peak_rss_mb:.1f} MB",
                )
            )
        if workload.rate_limit is not None and workload.ideal_factor is not None:
            verdicts += _paced_verdicts(work, served, workload.rate_limit, workload.ideal_factor)
        return verdicts


def _paced_verdicts(work: float, served: dict[str, Any], limit: int, factor: float) -> list[Verdict]:
    """Time against the ideal (requests needed ÷ the limit per minute), and that the workload needed
    more than one window at all (otherwise no waiting was measured)."""
    needed = int(served["by_status"].get("200", 0))
    ideal = needed / limit * 60.0
    refused = served["by_status"].get("429", 0)
    return [
        Verdict(
            f"needs more than {limit} requests (a full minute of waiting)",
            needed > limit,
            f"{needed} requests answered 200",
        ),
        Verdict(
            f"time within {factor:g}x of requests ÷ {limit} per minute",
            ideal > 0 and work <= factor * ideal,
            f"{work:.1f} s for {needed} requests; ideal {ideal:.1f} s; {work / ideal if ideal else 0:.2f}x; "
            f"{refused} answered 429",
        ),
    ]


def _equal_counts(stored: dict[str, int], expected: dict[str, Any]) -> list[Verdict]:
    patients, appointments = expected["patients"], expected["appointments"]
    hidden = patients["archived"] + patients["deleted"]
    return [
        Verdict(
            "patients equal the sandbox's",
            stored["patients"] == patients["total"] and stored["archived"] == hidden,
            f"{stored['patients']} stored ({stored['archived']} archived); sandbox {patients['total']} "
            f"({hidden} archived or deleted)",
        ),
        Verdict(
            "appointments equal the sandbox's",
            stored["appointments"] == appointments["total"],
            f"{stored['appointments']} stored; sandbox {appointments['total']}",
        ),
    ]
