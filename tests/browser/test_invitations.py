"""A practice admin invites a new clinician in Chromium; the invited person opens the e-mailed
link, creates their account and signs in. The invitation page passes axe, wide and at phone width."""

import re

import pytest

from tests.browser.helpers import axe_violations, browser_sign_in
from tests.factories import build_tenants

pytestmark = pytest.mark.browser

NEW_PASSWORD = "copper lantern meadow quietly"


def test_invite_accept_and_sign_in(live_server, new_page, capsys):
    with live_server.app.app_context():
        tenants = build_tenants()
    base = live_server.url
    admin = new_page(viewport={"width": 1280, "height": 800})
    browser_sign_in(admin, base, tenants.user("admin").email)
    admin.goto(base + "/staff")
    capsys.readouterr()
    admin.fill("#email", "nina.new@example.com")
    admin.fill("#display_name", "Nina New")
    admin.select_option("#role", "clinician")
    admin.click("text=Send invitation")
    admin.locator("[data-member-added]").wait_for()
    row = admin.locator("[data-invitation-row]")
    assert row.count() == 1 and "nina.new@example.com" in row.inner_text()
    assert "/invitations/join_" not in admin.content()  # the link went to the mailbox only

    # The e-mailed link starts with PUBLIC_URL; its path is what the live server answers.
    secret = re.search(r"/invitations/(join_[\w-]+)", capsys.readouterr().out).group(1)
    invitee = new_page(viewport={"width": 390, "height": 844}, bypass_csp=True)
    invitee.goto(f"{base}/invitations/{secret}")
    assert invitee.locator("h1").inner_text() == "Join Harbour Physiotherapy"
    assert axe_violations(invitee) == []
    assert invitee.input_value("#display_name") == "Nina New"
    invitee.fill("#new_password", NEW_PASSWORD)
    invitee.fill("#confirm", NEW_PASSWORD)
    invitee.click("text=Create account and join")
    invitee.wait_for_url(lambda url: "/login" in url)
    browser_sign_in(invitee, base, "nina.new@example.com", NEW_PASSWORD)
    invitee.goto(base + "/patients")
    assert invitee.locator("h1").inner_text() == "Patients"

    admin.goto(base + "/staff")
    assert "Nina New" in admin.locator("#members").inner_text()
    assert admin.locator("[data-invitation-row]").count() == 0
