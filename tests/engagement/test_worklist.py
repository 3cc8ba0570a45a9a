"""The worklist's order, filters and pages (service level)."""

from datetime import UTC, datetime, timedelta

from clinic_app.appointments import service as appointments
from clinic_app.core import audit
from clinic_app.engagement import export, worklist
from clinic_app.patients import service as patients
from tests.engagement.conftest import make_appointment, make_patient

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
LONG_AGO = NOW - 400 * DAY


def build(org):
    """Five patients: two high, two medium, one booked (low), one archived high."""
    people = {}
    for name, last_visit, no_shows in (
        ("High-old", 200, 0),  # high: more than 90 days
        ("High-misses", 10, 4),  # high: 4 misses, 1 of 5 attended
        ("Medium-a", 70, 0),  # medium: more than 60 days
        ("Medium-b", 45, 2),  # medium: 2 misses, 1 of 3 attended
    ):
        patient = make_patient(org, name, "Test", registered=LONG_AGO)
        make_appointment(org, patient, NOW - last_visit * DAY)
        for index in range(no_shows):
            make_appointment(org, patient, NOW - (index + 2) * DAY, did_not_arrive=True)
        people[name] = patient
    booked = make_patient(org, "Booked", "Test", registered=LONG_AGO)
    make_appointment(org, booked, NOW + DAY)
    people["Booked"] = booked
    archived = make_patient(org, "Archived", "Test", registered=LONG_AGO)
    make_appointment(org, archived, NOW - 300 * DAY)
    patients.archive_patient(org, archived.id, actor=audit.Actor())
    people["Archived"] = archived
    appointments.recompute_stats(org, now=NOW)
    return people


def names(rows):
    return [row.first_name for row in rows]


def test_ranked_by_priority_then_score_and_filtered(app_context, tenants):
    org = tenants.a.id
    people = build(org)
    page = worklist.worklist_page(org, now=NOW)
    # Both highs are at the high floor (65): High-old has 50 day points; High-misses 30 for four
    # misses + 16 for attending 1 of 5. Equal scores go by patient id. Medium-b: 15 day points
    # + 20 for two misses + 13 for attending 1 of 3 = 48; Medium-a: 30 day points.
    highs = sorted(["High-old", "High-misses"], key=lambda name: people[name].id)
    assert [(row.first_name, row.risk_level, row.risk_score, row.action_priority) for row in page.rows] == [
        (highs[0], "high", 65, 1),
        (highs[1], "high", 65, 1),
        ("Medium-b", "medium", 48, 2),
        ("Medium-a", "medium", 30, 2),
    ]
    assert names(worklist.worklist_page(org, risk="high", now=NOW).rows) == names(page.rows)[:2]
    assert names(worklist.worklist_page(org, risk="medium", now=NOW).rows) == ["Medium-b", "Medium-a"]
    assert names(worklist.worklist_page(org, risk="low", now=NOW).rows) == ["Booked"]  # archived left out
    assert len(worklist.worklist_page(org, risk="all", now=NOW).rows) == 5
    assert worklist.worklist_page(org, risk="nonsense", now=NOW).risk == "at_risk"


def test_keyset_pages_cover_the_list_once(app_context, tenants):
    org = tenants.a.id
    build(org)
    everyone = names(worklist.worklist_page(org, risk="all", now=NOW).rows)
    seen, cursor = [], None
    while True:
        page = worklist.worklist_page(org, risk="all", cursor=cursor, limit=2, now=NOW)
        seen += names(page.rows)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == everyone
    rows, total = worklist.worklist_offset(org, risk="all", limit=2, offset=2, now=NOW)
    assert (names(rows), total) == (everyone[2:4], 5)
    # A cursor this page did not make starts again from the top.
    assert names(worklist.worklist_page(org, risk="all", cursor="bogus", now=NOW).rows) == everyone


def test_csv_cells_cannot_become_formulas(app_context, tenants):
    org = tenants.a.id
    make_appointment(org, make_patient(org, "=HYPERLINK(1)", "@Sum", registered=LONG_AGO), NOW - 100 * DAY)
    make_appointment(org, make_patient(org, "+1", "-Minus", registered=LONG_AGO), NOW - 100 * DAY)
    appointments.recompute_stats(org, now=NOW)
    text, count = export.csv_text(worklist.all_rows(org, now=NOW), appointments.organization_zone(org))
    lines = text.splitlines()
    assert count == 2 and lines[0].startswith("patient_id,last_name,first_name,risk_level")
    assert "'=HYPERLINK(1)" in text and "'@Sum" in text and "'+1" in text and "'-Minus" in text
    assert ",=" not in text and ",@" not in text and ",+" not in text and ",-M" not in text
    assert export.safe_cell("plain") == "plain" and export.safe_cell(None) == ""
