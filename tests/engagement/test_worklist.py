"""The worklist's order, filters and pages, forward and back (service level)."""

import math
from datetime import UTC, datetime, timedelta

from clinic_app.core import audit
from clinic_app.core.time import organization_zone
from clinic_app.engagement import worklist, worklist_csv
from clinic_app.figures import contacts
from clinic_app.figures import service as figures
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
    figures.recompute(org, now=NOW)
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
    figures.recompute(org, now=NOW)
    text, count = worklist_csv.csv_text(worklist.all_rows(org, now=NOW), organization_zone(org))
    lines = text.splitlines()
    assert count == 2 and lines[0].startswith("patient_id,last_name,first_name,risk_level")
    assert "'=HYPERLINK(1)" in text and "'@Sum" in text and "'+1" in text and "'-Minus" in text
    assert ",=" not in text and ",@" not in text and ",+" not in text and ",-M" not in text
    assert worklist_csv.safe_cell("plain") == "plain" and worklist_csv.safe_cell(None) == ""


def walk_forward(org, risk, limit, pages):
    """The first ``pages`` pages, following next_cursor."""
    seen = [worklist.worklist_page(org, risk=risk, limit=limit, now=NOW)]
    while len(seen) < pages:
        assert seen[-1].next_cursor is not None
        seen.append(worklist.worklist_page(org, risk=risk, cursor=seen[-1].next_cursor, limit=limit, now=NOW))
    return seen


def walk_back(org, risk, limit, page):
    """From ``page`` back to the first page, following prev_cursor."""
    seen = [page]
    while seen[-1].prev_cursor is not None:
        seen.append(worklist.worklist_page(org, risk=risk, before=seen[-1].prev_cursor, limit=limit, now=NOW))
    return seen[::-1]


def many(org):
    """Seven high-risk patients (equal scores: ordered by patient id) and four medium, plus one booked."""
    for index, days in enumerate((95, 95, 120, 150, 150, 200, 300)):
        make_appointment(org, make_patient(org, f"High{index}", "Test", registered=LONG_AGO), NOW - days * DAY)
    for index, days in enumerate((65, 70, 70)):
        make_appointment(org, make_patient(org, f"Medium{index}", "Test", registered=LONG_AGO), NOW - days * DAY)
    misses = make_patient(org, "Medium3", "Test", registered=LONG_AGO)  # a higher score: 48
    make_appointment(org, misses, NOW - 45 * DAY)
    for index in range(2):
        make_appointment(org, misses, NOW - (index + 2) * DAY, did_not_arrive=True)
    booked = make_patient(org, "Booked", "Test", registered=LONG_AGO)
    make_appointment(org, booked, NOW + DAY)
    figures.recompute(org, now=NOW)


def test_previous_walks_back_to_the_first_page_with_the_same_rows(app_context, tenants):
    org = tenants.a.id
    many(org)
    for risk, limit, expected_pages in (("at_risk", 3, 4), ("all", 3, 4), ("high", 2, 4), ("medium", 1, 4)):
        everyone = names(worklist.worklist_page(org, risk=risk, limit=50, now=NOW).rows)
        forward = walk_forward(org, risk, limit, 3)
        assert [names(page.rows) for page in forward] == [everyone[i : i + limit] for i in range(0, 3 * limit, limit)]
        back = walk_back(org, risk, limit, forward[-1])
        assert len(back) == 3, risk
        assert [names(page.rows) for page in back] == [names(page.rows) for page in forward], risk
        # Previous is absent on the first page, present on every other; the first page read
        # backwards says where the next page starts just as the one read forwards does.
        assert [page.prev_cursor is None for page in back] == [True, False, False]
        assert back[0].next_cursor == forward[0].next_cursor and back[1].next_cursor == forward[1].next_cursor
        pages = math.ceil(len(everyone) / limit)
        assert pages == expected_pages
        last = walk_forward(org, risk, limit, pages)[-1]
        assert last.next_cursor is None and last.prev_cursor is not None
        assert names(walk_back(org, risk, limit, last)[0].rows) == everyone[:limit]


def test_previous_after_patients_leave_the_top_of_the_list(app_context, tenants):
    org = tenants.a.id
    many(org)
    everyone = names(worklist.worklist_page(org, risk="all", limit=50, now=NOW).rows)
    third = walk_forward(org, "all", 3, 3)[-1]
    page_two = worklist.worklist_page(org, risk="all", before=third.prev_cursor, limit=3, now=NOW)
    assert names(page_two.rows) == everyone[3:6] and page_two.prev_cursor is not None
    # Two of the first three patients are contacted meanwhile: one row is left before page two,
    # so Previous from it shows a whole first page (not a page of one), without a Previous.
    for row in worklist.worklist_page(org, risk="all", limit=2, now=NOW).rows:
        contacts.record_contact(org, row.patient_id, outcome="reached_booked", actor=audit.Actor(), now=NOW)
    first = worklist.worklist_page(org, risk="all", before=page_two.prev_cursor, limit=3, now=NOW)
    assert names(first.rows) == [everyone[2], *everyone[3:5]]
    assert first.prev_cursor is None and first.next_cursor is not None


def test_a_bad_before_reads_the_first_page_and_the_first_page_has_no_previous(app_context, tenants):
    org = tenants.a.id
    many(org)
    first = worklist.worklist_page(org, risk="all", limit=3, now=NOW)
    assert first.prev_cursor is None and first.next_cursor is not None
    for bad in ("bogus", "1.x.pat", ""):
        page = worklist.worklist_page(org, risk="all", before=bad, limit=3, now=NOW)
        assert names(page.rows) == names(first.rows) and page.prev_cursor is None
    # Given both, cursor wins.
    both = worklist.worklist_page(org, risk="all", cursor=first.next_cursor, before=first.next_cursor, limit=3, now=NOW)
    assert names(both.rows) == names(walk_forward(org, "all", 3, 2)[-1].rows)
