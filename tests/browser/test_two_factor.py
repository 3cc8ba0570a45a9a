"""Two-factor sign-in in Chromium, as a new practice meets it: sign up, confirm the address with
the mailed code, sign in, set up an authenticator app from the QR page, sign in again with the
password and a code; a replayed code is refused, a recovery code works once; the owner requires
two-factor sign-in of admins, and an admin without it is sent to set it up at their next sign-in.
(Passkeys in Chromium: tests/browser/test_passkeys.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest

from clinic_app.accounts import service as accounts
from clinic_app.extensions import db
from clinic_app.mfa import totp
from clinic_app.orgs import service as orgs
from tests.browser.helpers import axe_violations
from tests.conftest import SmtpServer
from tests.factories import PASSWORD, make_user
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser

OWNER_EMAIL = "dana@fernhill.example"


@pytest.fixture
def mail() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(make_app: Any, mail: SmtpServer) -> Iterator[LiveServer]:
    app = make_app(JOBS_BACKEND="thread", SIGNUP_ENABLED=True, **mail.settings)
    with LiveServer(app) as running:
        yield running


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The server's TOTP clock (same process), moved a 30-second step at a time."""

    class Clock:
        now = 1_800_000_000.0

        def tick(self) -> None:
            self.now += totp.STEP_SECONDS

        def code(self, secret: str) -> str:
            return pyotp.TOTP(secret).at(self.now)

    state = Clock()
    monkeypatch.setattr(totp, "clock", lambda: state.now)
    return state


def _password_step(page: Any, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main form button[type=submit]")


def _code_step(page: Any, code: str) -> None:
    page.wait_for_url(lambda url: url.endswith("/login/verify"))
    page.fill("#code", code)
    page.click("main form button[type=submit]")


def _sign_out(page: Any) -> None:
    page.click("[data-nav=sign-out]")
    page.wait_for_url(lambda url: url.endswith("/login"))


def test_a_new_practice_turns_on_two_factor_sign_in(
    server: LiveServer, browser: Any, mail: SmtpServer, clock: Any
) -> None:
    base = server.url
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()

    # Sign up, confirm with the mailed code, sign in.
    page.goto(base + "/signup")
    page.fill("#name", "Dana Reid")
    page.fill("#email", OWNER_EMAIL)
    page.fill("#password", PASSWORD)
    page.fill("#practice_name", "Fernhill Physiotherapy")
    page.click("main form button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/confirm-email"))
    message = mail.wait_for(1, to=OWNER_EMAIL)[0]
    code = re.search(r"\b(\d{6})\b", message.get_content()).group(1)
    page.fill("#code", code)
    page.click("main form button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/login"))
    _password_step(page, base, OWNER_EMAIL)
    page.wait_for_url(lambda url: "/login" not in url)

    # The authenticator app, from the QR page.
    page.goto(base + "/account")
    page.click("[data-link=two-factor]")
    page.wait_for_url(lambda url: url.endswith("/account/security"))
    assert axe_violations(page) == []
    page.click("[data-action=totp-start]")
    page.wait_for_url(lambda url: url.endswith("/account/security/totp/setup"))
    assert page.locator("figure.qr svg").count() == 1
    assert axe_violations(page) == []
    page.click("details summary")
    secret = page.locator("#totp-secret").inner_text().strip()
    page.fill("#code", clock.code(secret))
    page.click("main form button[type=submit]")
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.click("text=I have saved them")
    page.wait_for_url(lambda url: url.endswith("/account/security"))
    assert "since" in page.locator("#totp-section").inner_text()
    _sign_out(page)

    # Password, then a code.
    clock.tick()
    used_code = clock.code(secret)
    _password_step(page, base, OWNER_EMAIL)
    page.wait_for_url(lambda url: url.endswith("/login/verify"))
    assert axe_violations(page) == []
    _code_step(page, used_code)
    page.wait_for_url(lambda url: "/login" not in url)
    _sign_out(page)

    # The same code again is refused; a recovery code works, once.
    _password_step(page, base, OWNER_EMAIL)
    _code_step(page, used_code)
    assert "already used" in page.locator("#verify-error").inner_text()
    _code_step(page, codes[0])
    page.wait_for_url(lambda url: "/login" not in url)
    _sign_out(page)
    _password_step(page, base, OWNER_EMAIL)
    _code_step(page, codes[0])
    assert "not right" in page.locator("#verify-error").inner_text()
    clock.tick()
    _code_step(page, clock.code(secret))
    page.wait_for_url(lambda url: "/login" not in url)

    # The owner requires two-factor sign-in of owners and admins.
    with server.app.app_context():
        owner = accounts.find_by_email(OWNER_EMAIL)
        organization_id = orgs.memberships_of(owner.id)[0].organization_id
        make_user("sam@fernhill.example", organization_id=organization_id, role="admin", name="Sam Admin")
        db.session.commit()
    page.goto(base + "/account/security")
    page.check("input[name=policy][value=admins]")
    page.click("#policy-section button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/account/security"))
    assert page.locator("input[name=policy][value=admins]").is_checked()

    admin = browser.new_context().new_page()
    _password_step(admin, base, "sam@fernhill.example")
    # The sign-in itself lands on the enrolment page, and so does any other page until then.
    admin.wait_for_url(lambda url: url.endswith("/account/security"))
    assert "Your organization requires two-factor sign-in" in admin.locator("main").inner_text()
    admin.goto(base + "/patients")
    admin.wait_for_url(lambda url: url.endswith("/account/security"))
    assert "Your organization requires two-factor sign-in" in admin.locator("main").inner_text()
    assert admin.locator("[data-action=totp-start]").is_visible()
    context.close()
