"""The Dashboard page: cards whose links list exactly the patients they count, accessible SVG
charts with tables, the empty state of a new clinic, the htmx fragment, and who may see it."""

import html
import re

import pytest

ROW = re.compile(r'<tr[^>]*\bdata-patient-id="([^"]+)"')
NEXT = re.compile(r'rel="next" href="([^"]+)"')
CARD_LINK = re.compile(r'href="([^"]+)" data-card-link="([a-z_0-9]+)"')


def _listed(client, href):
    """Every patient id a list page shows, following its "next" links to the last page."""
    ids, url, pages = set(), href, 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        text = response.get_data(as_text=True)
        ids |= set(ROW.findall(text))
        found = NEXT.search(text)
        url = html.unescape(found.group(1)) if found else None
        pages += 1
        assert pages < 50
    return ids


def _card_links(text):
    return {key: html.unescape(href) for href, key in CARD_LINK.findall(text)}


def test_each_card_links_to_exactly_the_patients_it_counts(login_as, tenants, clinic, counted):
    client = login_as("clinician")
    page = client.get("/dashboard")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    links = _card_links(text)
    expected = counted(tenants.a.id)
    assert set(expected.ids) <= set(links), links
    for key, ids in expected.ids.items():
        assert ids, f"{key}: the generated clinic should have some"
        assert _listed(client, links[key]) == ids, key
        # The card shows the number of those patients (the 7-day card shows appointments).
        shown = re.search(rf'data-card-link="{key}"[^>]*>([^<]+)<', text).group(1)
        if key == "upcoming_7_days":
            assert shown == f"{expected.upcoming['appointments']:,}"
            assert f"for {len(ids)} patient" in text
        elif key == "engagement_rate":
            assert shown == f"{expected.summary['engagement_rate']:.1f}%"
        else:
            assert shown == f"{len(ids):,}", key
    assert links["total_patients"] == "/patients"
    assert links["patients_with_upcoming"] == "/caseload/active?activity=with_upcoming"
    assert links["upcoming_7_days"] == "/caseload/active?upcoming_within_days=7"


def test_charts_are_accessible_svg_with_tables(login_as, clinic):
    text = login_as("clinician").get("/dashboard").get_data(as_text=True)
    for chart in ("chart-weeks", "chart-patients", "chart-types"):
        svg = re.search(rf'<svg [^>]*id="{chart}".*?</svg>', text, re.S)
        assert svg, chart
        svg = svg.group(0)
        assert 'role="img"' in svg and f'aria-labelledby="{chart}-title {chart}-desc"' in svg
        assert re.search(rf'<title id="{chart}-title">[^<]+</title><desc id="{chart}-desc">[^<]+</desc>', svg)
        assert re.search(r'<rect data-series="[a-z_]+" data-value="[1-9]', svg), chart
        assert "<script" not in svg and "http" not in svg.replace("http://www.w3.org/2000/svg", "")
    for table in ("weeks", "patients", "types"):
        assert f'data-table="{table}"' in text
    assert text.count('<th scope="row">Week of ') == 24  # two weekly tables of 12 weeks


def test_the_weeks_chart_shows_the_recounted_numbers(login_as, tenants, clinic, counted):
    text = login_as("clinician").get("/dashboard").get_data(as_text=True)
    svg = re.search(r'<svg [^>]*id="chart-weeks".*?</svg>', text, re.S).group(0)
    bars = re.findall(r'<g data-bar="(\d+)">(.*?)</g>', svg, re.S)
    expected = counted(tenants.a.id).weeks
    assert len(bars) == 12
    for index, inner in bars:
        values = dict(re.findall(r'data-series="([a-z_]+)" data-value="(\d+)"', inner))
        week = expected[int(index)]
        for status in ("attended", "cancelled", "did_not_arrive", "booked"):
            assert int(values.get(status, 0)) == week[status]


def test_as_of_time_is_shown_in_the_organizations_zone(login_as, clinic):
    text = login_as("clinician").get("/dashboard").get_data(as_text=True)
    assert 'data-as-of="2026-04-15T02:30:00.000Z"' in text
    assert "15 Apr 2026, 12:30:00" in text and "Australia/Sydney" in text


def test_a_new_clinic_sees_an_empty_state(login_as, frozen):
    text = login_as("owner").get("/dashboard").get_data(as_text=True)
    assert 'data-empty="new-clinic"' in text
    assert 'href="/patients/new"' in text and 'href="/integrations"' in text
    assert "<svg" not in text  # no empty charts


def test_the_htmx_request_gets_the_fragment(login_as, clinic):
    response = login_as("clinician").get("/dashboard", headers={"HX-Request": "true"})
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in text
    assert text.lstrip().startswith('<section id="dashboard"') and 'data-card="active_patients"' in text
    assert "HX-Request" in response.headers.get("Vary", "")


def test_the_navigation_links_to_the_dashboard(login_as, frozen):
    text = login_as("receptionist").get("/patients").get_data(as_text=True)
    assert 'href="/dashboard" data-nav="dashboard"' in text


def test_links_are_shown_only_where_the_role_may_go(app, login_as, tenants, clinic):
    # Not connected to Cliniko: no Cliniko tile at all (issue 18).
    assert 'data-card="sync_status"' not in login_as("admin").get("/dashboard").get_data(as_text=True)
    from clinic_app.core import audit
    from clinic_app.sync.connection import connect

    with app.app_context():  # connected (no test of the key: nothing is called)
        connect(tenants.a.id, "sandbox-0123456789abcdef0123456789abcdef-au1", actor=audit.Actor(), test=False)
        from clinic_app.extensions import db

        db.session.commit()
    receptionist = login_as("receptionist").get("/dashboard").get_data(as_text=True)
    assert 'data-card-link="sync_status"' not in receptionist  # receptionists cannot open Sync
    assert 'data-card-value="sync_status"' in receptionist
    admin = login_as("admin").get("/dashboard").get_data(as_text=True)
    assert 'data-card-link="sync_status"' in admin


@pytest.mark.parametrize("path", ["/dashboard", "/api/v1/patients/dashboard-stats"])
def test_signed_out_visitors_are_turned_away(client, path, frozen):
    response = client.get(path)
    assert response.status_code in (302, 303, 401)
