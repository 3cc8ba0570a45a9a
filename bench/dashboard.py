"""Dashboard benchmarks (issues 6 and 21): the dashboard JSON, the active-patients page and the
re-engagement worklist's first page of one clinic in a database of 10,000,000 appointments
shared by 20 organizations (400,000 patients: 20,000 and 500,000 appointments each).

The measured clinic ("Bench Dashboard Clinic", a fixed id so the JSON path can name it) and 19
others are seeded once per bench database with the app's own bulk loader::

    flask seed-scale --org <id> --organizations 20 --patients 400000 --appointments 10000000 --seed 7

(run as a child process with the server's production environment; the measured clinic is the
first of the 20 and gets an even share), then vacuumed and analysed as autovacuum would a table in
steady use. A clinician signs in through the real log-in form for the pages; the JSON is read with
an API token scoped ``dashboard:read``, as an integration would. docs/performance.md has the
queries, their indexes and their plans at this size.

Targets (issue 21): p95 under 50 ms for the dashboard JSON at 10,000,000 appointments, under 15 ms
for the active-patients page and the worklist's first page. The harness prints p50/p95 and the
ratio to the bare baseline.

Other sizes come from the environment: issue 6's single clinic of 100,000 patients and 1,000,000
appointments, or a quick smoke run::

    BENCH_DASHBOARD_ORGANIZATIONS=1 BENCH_DASHBOARD_PATIENTS=100000 BENCH_DASHBOARD_APPOINTMENTS=1000000 ...
    BENCH_DASHBOARD_ORGANIZATIONS=1 BENCH_DASHBOARD_PATIENTS=500 BENCH_DASHBOARD_APPOINTMENTS=5000 \\
        .venv/bin/python bench/run.py --only dashboard_json --seconds 1 --warmup 0
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from sqlalchemy import text

from bench import scenarios
from bench.harness import BenchError
from bench.settings import ROOT
from clinic_app.accounts import service as accounts
from clinic_app.auth import api_tokens
from clinic_app.core import audit, crypto
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.orgs.models import Organization

PATIENTS = int(os.environ.get("BENCH_DASHBOARD_PATIENTS", "400000"))
APPOINTMENTS = int(os.environ.get("BENCH_DASHBOARD_APPOINTMENTS", "10000000"))
ORGANIZATIONS = int(os.environ.get("BENCH_DASHBOARD_ORGANIZATIONS", "20"))
SEED_TIMEOUT_S = float(os.environ.get("BENCH_DASHBOARD_SEED_TIMEOUT", "3600"))

ORGANIZATION_ID = "org_BenchDashboardClinic0001"
EMAIL = "bench.clinician@dashboard.example"
PASSWORD = "bench clinician passphrase"

DASHBOARD_PATH = f"/api/v1/dashboard/{ORGANIZATION_ID}"
ACTIVE_PATIENTS_PATH = "/caseload/active"
WORKLIST_PATH = "/engagement"

_seeded: set[str] = set()
_tokens: dict[str, str] = {}
_sessions: dict[str, str] = {}


def _create_clinic(ctx: Any) -> bool:
    """The organization and its clinician; False when an earlier benchmark already made them."""
    with ctx.flask_app().app_context():
        if db.session.get(Organization, ORGANIZATION_ID) is not None:
            return False
        # Built by hand only to fix its id (the JSON path names it); otherwise as create_organization.
        db.session.add(
            Organization(
                id=ORGANIZATION_ID,
                name="Bench Dashboard Clinic",
                slug="bench-dashboard-clinic",
                time_zone="Australia/Sydney",
                region="AU",
                settings={},
            )
        )
        db.session.flush()
        crypto.ensure_keys(ORGANIZATION_ID)
        user = accounts.create_user(email=EMAIL, display_name="Bench Clinician", password=PASSWORD)
        orgs.add_membership(organization_id=ORGANIZATION_ID, user=user, role="clinician", actor=audit.Actor())
        db.session.commit()
    return True


def _seed_scale(ctx: Any) -> None:
    """``flask seed-scale`` in a child process with the server's environment."""
    argv = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "devtools",
        "seed-scale",
        "--org",
        ORGANIZATION_ID,
        "--patients",
        str(PATIENTS),
        "--appointments",
        str(APPOINTMENTS),
        "--organizations",
        str(ORGANIZATIONS),
        "--seed",
        "7",
    ]
    print(
        f"  flask seed-scale --organizations {ORGANIZATIONS} --patients {PATIENTS} --appointments {APPOINTMENTS} "
        "(this takes a while)",
        flush=True,
    )
    started = time.perf_counter()
    try:
        done = subprocess.run(
            argv, cwd=ROOT, env=ctx.app_env, capture_output=True, text=True, timeout=SEED_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"seed-scale ran past {SEED_TIMEOUT_S:.0f}s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise BenchError(f"seed-scale failed:\n{tail}")
    print(f"  seeded in {time.perf_counter() - started:.1f} s", flush=True)


def sizes() -> str:
    """The seeded sizes, for the benchmarks' descriptions."""
    shared = f" in {ORGANIZATIONS} organizations (one measured)" if ORGANIZATIONS > 1 else ""
    return f"{PATIENTS:,} patients / {APPOINTMENTS:,} appointments{shared}"


def _vacuum(ctx: Any) -> None:
    with ctx.flask_app().app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(
            text("VACUUM ANALYZE patients, patient_identifiers, appointments, patient_appointment_stats, audit_events")
        )
        # And write the load's dirty pages out now: left to the checkpointer, gigabytes of them
        # would be flushed during the measurements, and every commit's WAL flush would queue
        # behind them (a database in steady use has no such backlog).
        conn.execute(text("CHECKPOINT"))


def seed(ctx: Any) -> None:
    """Once per bench database: the clinic, its clinician, the patients and appointments."""
    if ctx.database_url in _seeded:
        return
    if _create_clinic(ctx):
        _seed_scale(ctx)
        _vacuum(ctx)
    _seeded.add(ctx.database_url)


def token_headers(ctx: Any) -> dict[str, str]:
    """The seeded clinic and a bearer token of its clinician, scoped ``dashboard:read``."""
    seed(ctx)
    if ctx.database_url not in _tokens:
        with ctx.flask_app().app_context():
            _token, plain = api_tokens.create_api_token(
                organization_id=ORGANIZATION_ID,
                name="Bench dashboard",
                scopes=["dashboard:read"],
                expires_in_days=1,
                creator=accounts.find_by_email(EMAIL),
                creator_role="clinician",
            )
            db.session.commit()
        _tokens[ctx.database_url] = plain
    return {"Authorization": f"Bearer {_tokens[ctx.database_url]}"}


def session_headers(ctx: Any) -> dict[str, str]:
    """The seeded clinic and its clinician's session cookie (full pages, not fragments)."""
    seed(ctx)
    if ctx.app_url not in _sessions:
        _sessions[ctx.app_url] = scenarios.sign_in(ctx.app_url, EMAIL, PASSWORD)
    return {"Cookie": _sessions[ctx.app_url]}
