"""A phone-sized screen (390 x 844) in Chromium: the pages with wide tables and the week calendar
scroll them inside their own box, never the page sideways; the navigation folds behind a menu
button that the keyboard opens and closes; without JavaScript the navigation stays open."""

import pytest
from playwright.sync_api import expect

from tests.browser.clinic_day import build_clinic_day
from tests.browser.helpers import browser_sign_in, horizontal_overflow

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}

# Whether an element is wider inside than the box it scrolls in.
SCROLLS_INSIDE = "(element) => element.scrollWidth > element.clientWidth"


@pytest.fixture
def day(live_server):
    return build_clinic_day(live_server.app)


def test_wide_tables_and_the_week_scroll_inside_their_box_not_the_page(live_server, new_page, day):
    base = live_server.url
    pages = {
        "clinician": [
            ("patients", "/patients", "#patient-results .table-scroll"),
            ("today", "/today", "#today-day .table-scroll"),
            ("week", f"/appointments?practitioner={day.practitioner_id}&view=week", "[data-calendar]"),
        ],
        "admin": [("staff", "/staff", ".staff-members .table-scroll")],
    }
    for role, visits in pages.items():
        page = new_page(viewport=PHONE)
        browser_sign_in(page, base, day.user(role).email)
        for name, path, scroller in visits:
            page.goto(base + path)
            box = page.locator(scroller).first
            box.wait_for()
            # The content is wider than the screen (so the test means something) ...
            assert box.evaluate(SCROLLS_INSIDE), f"{name}: nothing here is wider than the screen"
            # ... and only its box scrolls sideways, not the page.
            scroll_width, client_width = horizontal_overflow(page)
            assert scroll_width <= client_width, f"{name} scrolls sideways: {scroll_width} > {client_width}"
        assert page.console_errors == []


def test_the_keyboard_opens_and_closes_the_menu(live_server, new_page, day):
    page = new_page(viewport=PHONE)
    browser_sign_in(page, live_server.url, day.user("admin").email)
    page.goto(live_server.url + "/patients")
    button = page.locator("[data-menu-button]")
    nav = page.locator("nav.mainnav")
    patients_link = nav.locator("[data-nav='patients']")

    # Folded: a short top bar, the navigation out of sight (and out of the tab order).
    expect(button).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_have_attribute("aria-controls", "main-nav")
    assert page.locator("#main-nav").count() == 1
    expect(patients_link).to_be_hidden()
    assert page.locator(".topbar").bounding_box()["height"] < 100

    # Tab reaches the button (after the skip link and the brand); Enter opens the navigation.
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.hasAttribute('data-menu-button')"):
            break
    assert page.evaluate("document.activeElement.hasAttribute('data-menu-button')")
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(patients_link).to_be_visible()
    scroll_width, client_width = horizontal_overflow(page)
    assert scroll_width <= client_width  # the open menu fits the screen too
    # The next Tab goes into the navigation.
    page.keyboard.press("Tab")
    assert page.evaluate("document.getElementById('main-nav').contains(document.activeElement)")

    # Escape closes it and puts the focus back on the button; Space opens it again.
    page.keyboard.press("Escape")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(patients_link).to_be_hidden()
    assert page.evaluate("document.activeElement.hasAttribute('data-menu-button')")
    page.keyboard.press("Space")
    expect(button).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # Home, then Today
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url.endswith("/today"))
    expect(button).to_have_attribute("aria-expanded", "false")  # a new page starts folded
    assert page.console_errors == []


def test_without_javascript_the_navigation_stays_open(live_server, new_page, day):
    page = new_page(viewport=PHONE, java_script_enabled=False)
    browser_sign_in(page, live_server.url, day.user("admin").email)
    page.goto(live_server.url + "/patients")
    expect(page.locator("[data-menu-button]")).to_be_hidden()
    link = page.locator("nav.mainnav [data-nav='today']")
    expect(link).to_be_visible()
    link.click()
    page.wait_for_url(lambda url: url.endswith("/today"))
    scroll_width, client_width = horizontal_overflow(page)
    assert scroll_width <= client_width
