"""A passkey in Chromium, with its virtual authenticator (the DevTools WebAuthn domain): added on
the security page after a password sign-in, it then signs in from the sign-in page without a
password. WebAuthn refuses IP-address origins, so the app is opened as http://localhost:<port>
and that is its PUBLIC_URL (the relying party)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from clinic_app.extensions import db
from clinic_app.mfa import passkeys
from tests.browser.helpers import browser_sign_in
from tests.factories import build_tenants
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture
def localhost_server(make_app: Any) -> Iterator[LiveServer]:
    app = make_app(JOBS_BACKEND="thread")
    with LiveServer(app) as server:
        server.url = f"http://localhost:{server.server.server_port}"
        app.config["PUBLIC_URL"] = server.url  # the port is known once the server is bound
        yield server


def virtual_authenticator(page: Any) -> tuple[Any, str]:
    """A platform authenticator that holds discoverable passkeys and verifies its user."""
    session = page.context.new_cdp_session(page)
    session.send("WebAuthn.enable")
    added = session.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return session, added["authenticatorId"]


def test_a_passkey_added_on_the_security_page_signs_in_without_a_password(localhost_server: Any, page: Any) -> None:
    base = localhost_server.url
    with localhost_server.app.app_context():
        tenants = build_tenants()
        user = tenants.user("clinician")
        db.session.expunge_all()
    cdp, authenticator_id = virtual_authenticator(page)

    browser_sign_in(page, base, user.email)
    page.goto(base + "/account/security")
    assert page.locator("[data-empty=passkeys]").is_visible()
    page.fill("#passkey-name", "Work laptop")
    page.click("[data-passkey-action=register]")
    page.wait_for_selector("[data-passkey-name]")
    assert page.locator("[data-passkey-name]").inner_text() == "Work laptop"
    assert "Work laptop" in page.locator("#alerts").inner_text()
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
    assert len(stored) == 1 and stored[0]["isResidentCredential"]
    with localhost_server.app.app_context():
        (passkey,) = passkeys.list_for(user.id)
        assert passkey.credential_id == stored[0]["credentialId"].replace("+", "-").replace("/", "_").rstrip("=")

    page.click("[data-nav=sign-out]")
    page.wait_for_url(lambda url: url.endswith("/login"))
    page.click("[data-passkey-action=sign-in]")
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(base + "/account")
    assert user.email in page.content()
    with localhost_server.app.app_context():
        (passkey,) = passkeys.list_for(user.id)
        assert passkey.last_used_at is not None
    assert page.console_errors == []


def test_the_passkey_buttons_stay_hidden_without_webauthn(localhost_server: Any, new_page: Any) -> None:
    page = new_page()
    page.add_init_script("delete window.PublicKeyCredential;")
    page.goto(localhost_server.url + "/login")
    page.wait_for_load_state("load")
    assert not page.locator("[data-passkey-action=sign-in]").is_visible()
    # With WebAuthn, the same page offers it.
    other = new_page()
    other.goto(localhost_server.url + "/login")
    other.wait_for_selector("[data-passkey-action=sign-in]", state="visible")
