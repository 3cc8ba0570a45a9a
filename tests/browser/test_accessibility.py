"""Accessibility in Chromium: axe-core finds nothing wrong on the sign-in page, the consultation
page, the booking page (with search results shown), the patient record and the report review
page, wide and at phone width; the keyboard focus ring has at least 3:1 contrast against the
page (WCAG 2.2 non-text contrast)."""

import pytest

from tests.browser.clinic_day import build_clinic_day
from tests.browser.helpers import axe_violations, browser_sign_in

pytestmark = pytest.mark.browser

WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def describe(violations):
    return "\n".join(f"{rule['id']} ({rule['impact']}): {rule['help']} → {rule['nodes'][:5]}" for rule in violations)


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["wide", "phone"])
def test_axe_finds_no_violations_on_the_main_pages(live_server, new_page, viewport):
    day = build_clinic_day(live_server.app)
    base = live_server.url
    page = new_page(viewport=viewport, bypass_csp=True)  # the checker is injected as an inline script

    page.goto(base + "/login")
    assert describe(axe_violations(page)) == ""

    browser_sign_in(page, base, day.user("clinician").email)
    page.goto(f"{base}/consultations/{day.session_id}")
    page.locator("#stop-notes").wait_for()  # the in-progress page: its two forms are there
    page.locator("#transcript-text").wait_for()
    assert page.locator("label[for='stop-notes']").count() == 1
    assert page.locator("label[for='transcript-text']").count() == 1
    assert describe(axe_violations(page)) == ""

    page.goto(f"{base}/appointments/new")
    page.fill("#patient_q", "davis")
    page.locator("[data-patient-option]").nth(1).wait_for()
    assert describe(axe_violations(page)) == ""

    page.goto(f"{base}/patients/{day.patient_id}")
    assert describe(axe_violations(page)) == ""

    page.goto(f"{base}/reports/{day.report_id}")
    page.locator("[data-section-form]").first.wait_for()
    assert describe(axe_violations(page)) == ""
    assert page.console_errors == []


def contrast(first, second):
    def luminance(rgb):
        channels = [c / 255 for c in rgb]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


RING = """() => {
    const element = document.activeElement;
    const style = getComputedStyle(element);
    const rgb = (value) => value.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
    return {
        tag: element.tagName,
        visible: element.matches(":focus-visible"),
        style: style.outlineStyle,
        width: parseFloat(style.outlineWidth),
        offset: parseFloat(style.outlineOffset),
        color: rgb(style.outlineColor),
        alpha: (style.outlineColor.match(/rgba\\(.*,\\s*([\\d.]+)\\)/) || [null, "1"])[1],
        page: rgb(getComputedStyle(document.body).backgroundColor),
    };
}"""


def test_the_keyboard_focus_ring_has_enough_contrast(live_server, page):
    page.goto(live_server.url + "/login")
    seen = set()
    for _ in range(12):
        page.keyboard.press("Tab")
        ring = page.evaluate(RING)
        if ring["tag"] == "BODY":
            break  # past the last control
        seen.add(ring["tag"])
        assert ring["visible"]
        assert ring["style"] == "solid"
        assert ring["width"] >= 2
        assert float(ring["alpha"]) == 1
        # Set off from the element, the ring sits on the page (and on white cards).
        assert ring["offset"] >= 1
        assert contrast(ring["color"], ring["page"]) >= 3
        assert contrast(ring["color"], (255, 255, 255)) >= 3
    assert {"A", "INPUT", "BUTTON"} <= seen  # links, fields and buttons all have it
