"""Benchmark scenarios that need data: a clinic with many patients and a signed-in member.

Imported by bench/catalog.py, which registers the benchmarks; this module only prepares data and
returns the headers wrk sends (a session cookie, and ``HX-Request`` for fragments).
"""

from __future__ import annotations

import re
import time
import urllib.parse
import urllib.request
from typing import Any

from sqlalchemy import text

from clinic_app.accounts import service as accounts
from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from devtools.scale.patients import seed_scale

PATIENTS = 100_000
EMAIL = "bench.reception@clinic.example"
PASSWORD = "bench reception passphrase"

_sessions: dict[str, str] = {}


def _seed(ctx: Any) -> None:
    app = ctx.flask_app()
    with app.app_context():
        if accounts.find_by_email(EMAIL) is not None:
            return
        organization = orgs.create_organization(name="Bench Clinic", time_zone="Australia/Sydney", region="AU")
        user = accounts.create_user(email=EMAIL, display_name="Bench Reception", password=PASSWORD)
        orgs.add_membership(organization_id=organization.id, user=user, role="receptionist", actor=audit.Actor())
        db.session.commit()
        started = time.perf_counter()
        seed_scale(organization.id, PATIENTS, seed=7)
        print(f"  seeded {PATIENTS} patients in {time.perf_counter() - started:.1f} s", flush=True)
        # What autovacuum does to a table in steady use: statistics, and the visibility map that
        # lets the covering name indexes answer without reading rows. Measuring a table loaded
        # seconds ago would measure the bulk load instead.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE patients, patient_identifiers"))


def sign_in(base_url: str, email: str = EMAIL, password: str = PASSWORD) -> str:
    """Sign in through the real log-in form and return the Cookie header value."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    page = opener.open(base_url + "/login", timeout=30)
    cookies = "; ".join(c.split(";", 1)[0] for c in page.headers.get_all("Set-Cookie") or [])
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.read().decode())
    if token is None:
        raise RuntimeError("no CSRF token on the log-in page")
    form = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": token.group(1)}).encode()
    login_url = base_url + "/login"  # the harness's own 127.0.0.1 server
    request = urllib.request.Request(login_url, data=form, headers={"Cookie": cookies}, method="POST")  # noqa: S310

    class _Stop(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        urllib.request.build_opener(urllib.request.ProxyHandler({}), _Stop()).open(request, timeout=30)
    except urllib.error.HTTPError as answer:  # the 303 after a successful log-in
        if answer.code != 303:
            raise RuntimeError(f"log-in answered {answer.code}") from None
        return "; ".join(c.split(";", 1)[0] for c in answer.headers.get_all("Set-Cookie") or [])
    raise RuntimeError("log-in did not redirect")


def patients_session(ctx: Any) -> dict[str, str]:
    """100,000 patients in one clinic and a receptionist's session cookie."""
    _seed(ctx)
    if ctx.app_url not in _sessions:
        _sessions[ctx.app_url] = sign_in(ctx.app_url)
    return {"Cookie": _sessions[ctx.app_url]}


def patients_fragment_session(ctx: Any) -> dict[str, str]:
    return {**patients_session(ctx), "HX-Request": "true"}
