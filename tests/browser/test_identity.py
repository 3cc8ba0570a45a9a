"""People in Chromium: each role signs in and sees only what its role allows; signing out really
ends the session (the back button shows nothing private); a second browser is cut off the moment
its user is deactivated."""

import pytest

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from tests.browser.helpers import browser_sign_in
from tests.factories import build_tenants

pytestmark = pytest.mark.browser

ADMIN_LINKS = {"staff", "api-tokens", "audit"}
EXPECTED_LINKS = {
    "owner": ADMIN_LINKS,
    "admin": ADMIN_LINKS,
    "clinician": set(),
    "receptionist": set(),
}


@pytest.fixture
def tenants(live_server):
    with live_server.app.app_context():
        return build_tenants()


@pytest.mark.parametrize("role", sorted(EXPECTED_LINKS))
def test_each_role_sees_its_navigation_and_signs_out(live_server, browser, tenants, role):
    context = browser.new_context()
    page = context.new_page()
    user = tenants.user(role)
    browser_sign_in(page, live_server.url, user.email)
    page.goto(live_server.url + "/account")
    assert user.email in page.content()
    shown = {link.get_attribute("data-nav") for link in page.locator("nav.mainnav [data-nav]").all()}
    assert shown & ADMIN_LINKS == EXPECTED_LINKS[role]
    assert "Harbour Physiotherapy" in page.locator("nav.mainnav").inner_text()
    # Every member may verify a report: every role has the link (in the footer, to keep the
    # navigation short); it is marked current on its page.
    assert page.locator("footer [data-footer=verify]").get_attribute("aria-current") is None
    page.click("footer [data-footer=verify]")
    page.wait_for_url(lambda url: url.endswith("/reports/verify"))
    assert page.locator("footer [data-footer=verify]").get_attribute("aria-current") == "page"
    assert page.locator("nav.mainnav [aria-current=page]").count() == 0

    page.click("[data-nav=sign-out]")
    page.wait_for_url(lambda url: url.endswith("/login"))
    assert "You have signed out." in page.content()
    page.go_back()
    page.wait_for_load_state()
    assert user.email not in page.content()
    assert "/login" in page.url
    page.goto(live_server.url + "/account")
    assert "/login" in page.url
    context.close()


def test_a_second_browser_is_cut_off_when_its_user_is_deactivated(live_server, browser, tenants):
    clinician = tenants.user("clinician")
    first, second = browser.new_context(), browser.new_context()
    page_one, page_two = first.new_page(), second.new_page()
    browser_sign_in(page_one, live_server.url, clinician.email)
    browser_sign_in(page_two, live_server.url, clinician.email)
    page_two.goto(live_server.url + "/patients")
    assert "Patients" in page_two.locator("h1").inner_text()

    with live_server.app.app_context():
        membership = orgs.active_membership(clinician.id, tenants.a.id)
        orgs.deactivate_membership(
            organization_id=tenants.a.id,
            membership_id=membership.id,
            actor=audit.Actor(user_id=tenants.user("owner").id),
        )
        db.session.commit()

    page_two.click("[data-nav=account]")
    page_two.wait_for_url(lambda url: "/login?next=/account" in url)
    assert page_two.locator("input#email").is_visible()
    page_one.goto(live_server.url + "/patients")
    assert "/login" in page_one.url
    first.close()
    second.close()
