"""The active-patients list: each filter selects exactly the patients it should on the hand-built
caseload (tests/caseload/conftest.py) at a frozen clock, in next-appointment order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from clinic_app.appointments import timing as rules
from clinic_app.appointments.models import AppointmentType, Practitioner
from clinic_app.caseload import active, service
from clinic_app.caseload.active import ActiveFilters
from clinic_app.caseload.references import references
from clinic_app.core.audit import Actor, AuditEvent
from clinic_app.extensions import db
from clinic_app.figures.models import PatientAppointmentStats
from tests.caseload.conftest import NOW

ACTIVE_ORDER = ["alice", "ivy", "cara", "jon", "dan", "kim", "bob"]


def names(caseload, rows):
    return [caseload.name_of(row.patient_id) for row in rows]


def listed(app, caseload, **filters):
    with app.app_context():
        page = service.active_patients(caseload.org, ActiveFilters(**filters), page=1, actor=Actor(), now=NOW)
        db.session.commit()
        return names(caseload, page.rows), page.total


@pytest.mark.parametrize(
    ("activity", "expected"),
    [
        ("active", ACTIVE_ORDER),
        ("recently_active", ["kim", "bob"]),
        ("upcoming_only", ["ivy", "cara", "jon", "dan"]),
        ("inactive", ["hal", "fay", "eve"]),  # nothing booked: by last name (Cancelled, None, Old)
        ("with_recent", ["alice", "kim", "bob"]),
        ("with_upcoming", ["alice", "ivy", "cara", "jon", "dan"]),
        ("all", ["alice", "ivy", "cara", "jon", "dan", "hal", "kim", "fay", "eve", "bob"]),
    ],
)
def test_each_activity_selects_exactly_its_patients(app, caseload, activity, expected):
    # Gus is archived with a booking in 6 hours: no list shows him.
    assert listed(app, caseload, activity=activity) == (expected, len(expected))


@pytest.mark.parametrize(
    ("priority", "expected"),
    [("high", ["alice", "ivy"]), ("medium", ["cara", "jon"]), ("low", ["dan"])],  # 24 h is high, 72 h medium
)
def test_priority_filter(app, caseload, priority, expected):
    assert listed(app, caseload, priority=priority) == (expected, len(expected))


def test_appointment_type_matches_the_next_or_the_usual_type(app, caseload):
    # Alice (next and usual physio), Dan (next physio), Kim (usual physio, nothing booked).
    assert listed(app, caseload, appointment_type=caseload.types["physio"])[0] == ["alice", "dan", "kim"]
    assert listed(app, caseload, appointment_type=caseload.types["massage"])[0] == ["ivy", "cara", "jon", "bob"]


def test_practitioner_filter_is_who_sees_them_next(app, caseload):
    assert listed(app, caseload, practitioner=caseload.practitioners["p1"])[0] == ["alice", "ivy", "jon"]
    assert listed(app, caseload, practitioner=caseload.practitioners["p2"])[0] == ["cara", "dan"]


@pytest.mark.parametrize(
    ("days", "expected"),
    [(0, []), (1, ["alice", "ivy"]), (2, ["alice", "ivy", "cara"]), (3, ["alice", "ivy", "cara", "jon"])],
)
def test_upcoming_within_days_includes_the_last_moment(app, caseload, days, expected):
    assert listed(app, caseload, upcoming_within_days=days)[0] == expected


def test_filters_combine(app, caseload):
    p1 = caseload.practitioners["p1"]
    assert listed(app, caseload, priority="high", practitioner=p1)[0] == ["alice", "ivy"]
    assert listed(app, caseload, activity="upcoming_only", priority="medium", practitioner=p1)[0] == ["jon"]
    assert listed(app, caseload, activity="inactive", priority="high") == ([], 0)


@pytest.mark.parametrize("shift", [timedelta(0), timedelta(seconds=1), -timedelta(seconds=1), timedelta(hours=30)])
def test_sql_priority_agrees_with_the_rule(app, caseload, shift):
    """The filter's SQL and appointments.timing.priority give every patient the same priority,
    also one second either side of the 24 h and 72 h boundaries."""
    now = NOW + shift
    with app.app_context():
        stats = db.session.scalars(
            select(PatientAppointmentStats).where(
                PatientAppointmentStats.organization_id == caseload.org, PatientAppointmentStats.is_active.is_(True)
            )
        ).all()
        by_rule = {
            level: {s.patient_id for s in stats if rules.priority(s.next_appointment_at, now) == level}
            for level in ("high", "medium", "low")
        }
        for level, expected in by_rule.items():
            page = active.active_page(caseload.org, ActiveFilters(priority=level), now=now)
            assert {row.patient_id for row in page.rows} == expected, level
    if shift == -timedelta(seconds=1):  # Ivy is 24 h and 1 s away: medium; Jon 72 h 1 s: low
        assert caseload.patients["ivy"] in by_rule["medium"] and caseload.patients["jon"] in by_rule["low"]


def test_rows_carry_the_figures_the_page_shows(app, caseload):
    with app.app_context():
        page = active.active_page(caseload.org, ActiveFilters(), now=NOW)
    alice = page.rows[0]
    assert (alice.display_name, alice.priority, alice.recent, alice.upcoming, alice.total) == (
        "Alice Both",
        "high",
        1,
        1,
        2,
    )
    assert (alice.next_type, alice.primary_type, alice.practitioner) == (
        "Physiotherapy",
        "Physiotherapy",
        "Dr Priya Raman",
    )
    assert alice.next_appointment_at == NOW + timedelta(hours=12)
    assert alice.activity_status == "active"
    kim = page.rows[-2]
    assert (kim.display_name, kim.priority, kim.next_type, kim.primary_type) == (
        "Kim Edge",
        None,
        None,
        "Physiotherapy",
    )
    assert kim.activity_status == "recently_active"


def test_pages_split_the_list_without_gaps(app, caseload):
    with app.app_context():
        pages = [active.active_page(caseload.org, ActiveFilters(), page=n, page_size=3, now=NOW) for n in (1, 2, 3, 4)]
    assert [names(caseload, p.rows) for p in pages] == [ACTIVE_ORDER[0:3], ACTIVE_ORDER[3:6], ACTIVE_ORDER[6:], []]
    assert [(p.has_prev, p.has_next, p.pages, p.total) for p in pages[:3]] == [
        (False, True, 3, 7),
        (True, True, 3, 7),
        (True, False, 3, 7),
    ]
    assert (pages[1].first_shown, pages[1].last_shown) == (4, 6)
    assert pages[3].total == 7  # past the end: counted apart, still the whole list's


def test_every_page_of_a_filtered_list_counts_what_the_filter_selects(app, caseload):
    """The count comes with each page's rows and counts the filter's patients, not the page's."""
    with app.app_context():
        pages = [
            active.active_page(caseload.org, ActiveFilters(priority="medium"), page=n, page_size=1, now=NOW)
            for n in (1, 2, 3)
        ]
    assert [names(caseload, p.rows) for p in pages] == [["cara"], ["jon"], []]
    assert [p.total for p in pages] == [2, 2, 2]


def test_listing_is_audited_with_the_patients_shown(app, caseload):
    listed(app, caseload, priority="high")
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.listed")).all()[-1]
    assert event.details["list"] == "active_patients"
    assert event.details["patient_ids"] == caseload.ids("alice", "ivy")
    assert event.details["filters"] == {"activity": "active", "priority": "high"}


def test_parse_filters_names_each_bad_value_and_keeps_the_good_ones(app, caseload, tenants):
    with app.app_context():
        from tests.caseload.conftest import add_practitioner

        theirs = add_practitioner(tenants.b.id, "Other", "Clinic").id
        db.session.commit()
        filters, errors = active.parse_filters(
            references(caseload.org),
            {
                "activity": "everyone",
                "priority": "urgent",
                "practitioner": theirs,  # organization B's: not a choice here
                "appointment_type": caseload.types["physio"],
                "upcoming_within_days": "-1",
            },
        )
    assert filters == ActiveFilters(appointment_type=caseload.types["physio"])
    assert sorted(e.field for e in errors) == ["activity", "practitioner", "priority", "upcoming_within_days"]


def test_references_are_this_organizations_types_and_practitioners_in_name_order(app, tenants):
    from tests.caseload.conftest import add_practitioner, add_type

    with app.app_context():
        org = tenants.a.id
        ids = {
            "zed": add_type(org, "Zed review").id,
            "acute": add_type(org, "Acute care").id,
            "old": add_type(org, "Massage").id,
            "walsh": add_practitioner(org, "Ann", "Walsh", title="Dr").id,
            "costa": add_practitioner(org, "Ben", "Costa").id,
            "costa_a": add_practitioner(org, "Amy", "Costa").id,
            "gone": add_practitioner(org, "Cal", "Brown").id,
        }
        add_type(tenants.b.id, "Elsewhere")
        add_practitioner(tenants.b.id, "Other", "Clinic")
        for model, key in ((AppointmentType, "old"), (Practitioner, "gone")):
            db.session.get(model, ids[key]).archived_at = NOW
        db.session.flush()
        names = references(org)
    assert list(names.types.values()) == ["Acute care", "Massage", "Zed review"]
    assert list(names.practitioners.values()) == ["Cal Brown", "Amy Costa", "Ben Costa", "Dr Ann Walsh"]
    assert names.archived == {ids["old"], ids["gone"]}
    assert names.type_choices() == [(ids["acute"], "Acute care"), (ids["zed"], "Zed review")]
    assert [name for _id, name in names.practitioner_choices()] == ["Amy Costa", "Ben Costa", "Dr Ann Walsh"]
