"""The worklist page: who may open it, the full page and the htmx fragment, filters, empty state,
"Mark contacted" (htmx and plain form, errors), the CSV export, the nav link, and paging forward
and back."""

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from clinic_app.core.audit import AuditEvent
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from tests.engagement.conftest import days_ago, make_appointment, make_patient
from tests.factories import page_csrf

HTMX = {"HX-Request": "true"}
DAY = timedelta(days=1)


@pytest.fixture
def people(app, tenants):
    """In organization A: Ada (high: no visit for 120 days), Bo (medium: 45 days), Cy (booked)."""
    with app.app_context():
        org, now = tenants.a.id, utcnow()
        made = {}
        for first, days in (("Ada", 120), ("Bo", 45), ("Cy", 5)):
            patient = make_patient(org, first, "Testperson", registered=now - 400 * DAY)
            make_appointment(org, patient, days_ago(org, days, now))
            made[first] = patient.id
        make_appointment(org, db.session.get(type(patient), made["Cy"]), days_ago(org, -3, now))
        figures.recompute(org, now=now)
        db.session.commit()
        return made


def test_access(client, login_as, people):
    assert client.get("/engagement").status_code == 302  # to the sign-in page
    for role in ("owner", "admin", "clinician", "receptionist"):
        assert login_as(role).get("/engagement").status_code == 200
    assert login_as("outsider").get("/engagement").get_data(as_text=True).count("worklist-row-") == 0


def test_full_page_lists_patients_with_reasons_and_links(login_as, people):
    response = login_as("clinician").get("/engagement")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html and 'data-nav="engagement"' in html
    assert html.index(f"worklist-row-{people['Ada']}") < html.index(f"worklist-row-{people['Bo']}")
    assert f"worklist-row-{people['Cy']}" not in html  # booked: low risk, not at risk
    assert "No visit since" in html and "(more than 90 days)" in html
    assert f'href="/patients/{people["Ada"]}"' in html
    assert "Mark contacted" in html


def test_htmx_fragment_and_filters(login_as, people):
    client = login_as("clinician")
    html = client.get("/engagement?risk=medium", headers=HTMX).get_data(as_text=True)
    assert "<html" not in html and 'id="worklist"' in html
    assert f"worklist-row-{people['Bo']}" in html and f"worklist-row-{people['Ada']}" not in html
    low = client.get("/engagement?risk=low", headers=HTMX).get_data(as_text=True)
    assert f"worklist-row-{people['Cy']}" in low


def test_empty_state(login_as, tenants):
    html = login_as("clinician").get("/engagement").get_data(as_text=True)
    assert 'data-empty="no-patients"' in html and "Nobody to re-engage" in html


def test_mark_contacted_with_htmx_removes_the_row_and_audits(app, login_as, people):
    client = login_as("clinician")
    token = page_csrf(client, "/engagement")
    response = client.post(
        f"/engagement/patients/{people['Ada']}/contact",
        data={"csrf_token": token, "outcome": "left_message", "note": "Voicemail, will try Friday"},
        headers=HTMX,
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<tr" not in html and 'hx-swap-oob="true"' in html and "Contact recorded" in html
    assert f"worklist-row-{people['Ada']}" not in client.get("/engagement").get_data(as_text=True)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "engagement.contacted"))
        assert event.patient_id == people["Ada"] and event.details["outcome"] == "left_message"
        assert "Voicemail" not in str(event.details)


def test_mark_contacted_errors_re_render_the_row(login_as, people):
    client = login_as("receptionist")
    token = page_csrf(client, "/engagement")
    response = client.post(
        f"/engagement/patients/{people['Bo']}/contact", data={"csrf_token": token, "outcome": ""}, headers=HTMX
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="worklist-row-{people["Bo"]}"' in html and "Choose one of the outcomes." in html
    assert 'aria-invalid="true"' in html and '<details class="contact-form" open' in html


def test_mark_contacted_without_javascript_redirects(login_as, people):
    client = login_as("admin")
    token = page_csrf(client, "/engagement")
    response = client.post(
        f"/engagement/patients/{people['Bo']}/contact", data={"csrf_token": token, "outcome": "no_answer"}
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/engagement")
    assert f"worklist-row-{people['Bo']}" not in client.get("/engagement").get_data(as_text=True)


def test_another_organizations_patient_is_404(login_as, people):
    client = login_as("outsider")
    token = page_csrf(client, "/account")
    response = client.post(
        f"/engagement/patients/{people['Ada']}/contact",
        data={"csrf_token": token, "outcome": "no_answer"},
        headers=HTMX,
    )
    assert response.status_code == 404


def test_csv_export_is_audited(app, login_as, people):
    response = login_as("owner").get("/engagement/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["patient_id"] for row in rows] == [people["Ada"], people["Bo"]]
    assert rows[0]["risk_level"] == "high" and rows[0]["days_since_last_contact"] == "120"
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "engagement.exported"))
        assert event.details == {"risk": "at_risk", "rows": 2}


@pytest.fixture
def crowd(app, tenants):
    """In organization A: 56 high-risk patients (no visit for 91 to 146 days) and 12 medium ones
    (61 to 72 days): more than two pages of 25 whether filtered to high risk or not."""
    with app.app_context():
        org, now = tenants.a.id, utcnow()
        for index in range(68):
            days = 91 + index if index < 56 else 5 + index
            patient = make_patient(org, f"P{index:02d}", "Crowd", registered=now - 400 * DAY)
            make_appointment(org, patient, days_ago(org, days, now))
        figures.recompute(org, now=now)
        db.session.commit()


def rows_of(html: str) -> list[str]:
    return re.findall(r'<tr id="worklist-row-([^"]+)"', html)


def link(html: str, page: str) -> str | None:
    """The href of the pager's "first", "previous" or "next" link, or None when there is none."""
    match = re.search(rf'<a [^>]*href="([^"]+)" data-page="{page}"', html)
    return match.group(1).replace("&amp;", "&") if match else None


@pytest.mark.parametrize(("risk", "sizes"), [(None, [25, 25, 18]), ("high", [25, 25, 6])])
def test_previous_walks_back_to_the_first_page_with_the_same_rows(login_as, crowd, risk, sizes):
    client = login_as("receptionist")
    # The filter is chosen on the page (its select sends only the risk), then paged through.
    url = "/engagement" + (f"?risk={risk}" if risk else "")
    forward = []
    for number in range(3):
        html = client.get(url, headers=HTMX if number else {}).get_data(as_text=True)
        forward.append(rows_of(html))
        assert (link(html, "previous") is None) == (number == 0)  # no Previous on the first page
        assert (link(html, "first") is None) == (number == 0)
        url = link(html, "next")
        assert (url is None) == (number == 2)  # no Next on the last page
        if url:
            assert "cursor=" in url and "offset" not in url and (f"risk={risk}" in url if risk else "risk=" not in url)
    assert [len(rows) for rows in forward] == sizes
    assert len({row for rows in forward for row in rows}) == sum(sizes)

    back = [forward[2]]
    url = link(html, "previous")
    while url is not None:
        assert "before=" in url
        html = client.get(url, headers=HTMX).get_data(as_text=True)
        assert "<html" not in html and 'id="worklist"' in html
        back.insert(0, rows_of(html))
        url = link(html, "previous")
    assert back == forward  # the same rows in the same order, page for page
    assert link(html, "first") is None and link(html, "next") is not None
    # Without JavaScript the links are ordinary pages too.
    page_two = client.get(link(html, "next")).get_data(as_text=True)
    assert "<html" in page_two and rows_of(page_two) == forward[1]
    full_previous = client.get(link(page_two, "previous")).get_data(as_text=True)
    assert "<html" in full_previous and rows_of(full_previous) == forward[0]


def test_a_bad_before_shows_the_first_page(login_as, crowd):
    client = login_as("clinician")
    first = rows_of(client.get("/engagement").get_data(as_text=True))
    html = client.get("/engagement?before=not-a-cursor").get_data(as_text=True)
    assert rows_of(html) == first and link(html, "previous") is None
