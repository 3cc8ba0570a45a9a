"""The dashboard's figures against an independent recount, the week series in the organization's
time zone, and the snapshot (reused, invalidated, recounted when time moves on)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from clinic_app.core.time import zone_named
from clinic_app.dashboard import figures, service
from clinic_app.dashboard.models import DashboardSnapshot
from clinic_app.extensions import db
from clinic_app.figures import service as patient_figures
from tests.dashboard.conftest import NOW
from tests.dashboard.dataset import add_appointment, add_patient, assert_matches, recount


def test_figures_equal_an_independent_recount(app_context, clinic, tenants):
    payload = service.figures_for(tenants.a.id, now=NOW)
    expected = recount(tenants.a.id, NOW, "Australia/Sydney")
    assert_matches(payload, expected)
    # The generated clinic has something in every figure (else the comparison proves little).
    assert all(
        expected.summary[name]
        for name in ("active_patients", "patients_with_upcoming", "patients_with_recent", "total_all_appointments")
    )
    assert expected.upcoming["appointments"] and expected.attendance["did_not_arrive"]
    assert expected.attendance["late_cancelled"] and sum(week["cancelled"] for week in expected.weeks)
    assert sum(week["new_patients"] for week in expected.weeks) and sum(w["returning_patients"] for w in expected.weeks)


def test_another_organization_counts_only_its_own(app_context, clinic, tenants):
    a = service.figures_for(tenants.a.id, now=NOW)
    b = service.figures_for(tenants.b.id, now=NOW)
    assert_matches(b, recount(tenants.b.id, NOW, "Australia/Melbourne"))
    assert b["summary"]["total_patients"] != a["summary"]["total_patients"]


def test_a_new_clinic_has_zeros_and_says_so(app_context, tenants, frozen):
    summary = service.figures_for(tenants.a.id, now=NOW)["summary"]
    assert summary["total_patients"] == summary["active_patients"] == summary["total_all_appointments"] == 0
    assert summary["engagement_rate"] == summary["avg_total_per_patient"] == summary["sync_percentage"] == 0.0
    assert summary["integration_status"] == "Not Connected"
    assert summary["activity_status"] == "Inactive"
    assert summary["last_sync_time"] is None
    payload = service.figures_for(tenants.a.id, now=NOW)
    assert payload["attendance"]["rate"] == 1.0 and payload["attendance"]["appointments"] == 0
    assert len(payload["weeks"]) == 12 and payload["appointment_types"] == []


# --- weeks in the organization's time zone ------------------------------------------------------


def test_weeks_start_at_local_monday_midnight_across_a_dst_change(app_context, tenants):
    # Sydney: daylight saving ends Sunday 5 April 2026 at 03:00 (UTC+11 -> UTC+10).
    now = datetime(2026, 4, 8, 1, 0, tzinfo=UTC)  # Wednesday 8 April, 11:00 local
    with time_machine.travel(now, tick=False):
        org = tenants.a.id
        ada = add_patient(org, "Ada", "Lovelace")
        # Local Monday 30 March 00:10 (UTC+11) is Sunday 29 March 13:10 UTC: the week of 30 March.
        add_appointment(org, ada, datetime(2026, 3, 29, 13, 10, tzinfo=UTC))
        # Local Sunday 5 April 23:50 (UTC+10) is 13:50 UTC: still the week of 30 March (169 hours long).
        add_appointment(org, ada, datetime(2026, 4, 5, 13, 50, tzinfo=UTC), did_not_arrive=True)
        # Local Monday 6 April 00:00 (UTC+10) is Sunday 5 April 14:00 UTC: the week of 6 April.
        add_appointment(org, ada, datetime(2026, 4, 5, 14, 0, tzinfo=UTC), cancelled_at=now - timedelta(days=9))
        # Local Sunday 29 March 23:59 (UTC+11): the week before.
        add_appointment(org, ada, datetime(2026, 3, 29, 12, 59, tzinfo=UTC))
        patient_figures.recompute(org, now=now)
        weeks = service.figures_for(org, now=now)["weeks"]
    by_start = {week["week_start"]: week for week in weeks}
    assert weeks[-1]["week_start"] == "2026-04-06" and len(weeks) == 12
    assert by_start["2026-03-30"]["starts_at"] == "2026-03-29T13:00:00.000Z"  # midnight at UTC+11
    assert by_start["2026-03-30"]["ends_at"] == "2026-04-05T14:00:00.000Z"  # midnight at UTC+10
    assert by_start["2026-03-30"]["attended"] == 1 and by_start["2026-03-30"]["did_not_arrive"] == 1
    assert by_start["2026-04-06"]["cancelled"] == 1 and by_start["2026-04-06"]["attended"] == 0
    assert by_start["2026-03-23"]["attended"] == 1
    # Ada's first appointment (not cancelled) was in the week of 23 March: new there, returning after.
    assert by_start["2026-03-23"]["new_patients"] == 1
    assert by_start["2026-03-30"]["new_patients"] == 0 and by_start["2026-03-30"]["returning_patients"] == 1
    assert by_start["2026-04-06"]["patients"] == 0  # only a cancelled appointment that week


def test_week_boundaries_follow_each_organizations_zone():
    now = datetime(2026, 10, 7, 12, 0, tzinfo=UTC)  # daylight saving began in Sydney on 4 October
    sydney = figures.week_starts(now, zone_named("Australia/Sydney"))
    utc = figures.week_starts(now, zone_named("UTC"))
    assert [b.isoformat() for b in sydney[-3:]] == [
        "2026-09-28T00:00:00+10:00",
        "2026-10-05T00:00:00+11:00",
        "2026-10-12T00:00:00+11:00",
    ]
    assert sydney[-2].astimezone(UTC) - sydney[-3].astimezone(UTC) == timedelta(hours=167)  # it lost an hour
    assert utc[-2] == datetime(2026, 10, 5, tzinfo=UTC) and len(utc) == 13


# --- the snapshot -------------------------------------------------------------------------------


def _snapshot(org):
    return db.session.execute(
        select(DashboardSnapshot.version, DashboardSnapshot.computed_version, DashboardSnapshot.valid_until).where(
            DashboardSnapshot.organization_id == org
        )
    ).one()


@pytest.fixture
def quiet(app_context, tenants, frozen):
    """A small clinic whose figures time leaves alone for the next 90 seconds but one: a booking
    starts 40 seconds after NOW."""
    org = tenants.a.id
    ada, bo = add_patient(org, "Ada", "Lovelace"), add_patient(org, "Bo", "Diddley")
    add_appointment(org, ada, NOW - timedelta(days=3))
    add_appointment(org, bo, NOW + timedelta(seconds=40))
    patient_figures.recompute(org, now=NOW)
    db.session.commit()
    return org


def _untold_patient(org, monkeypatch):
    """A patient added without telling the dashboard (registering one tells it, see
    test_patient_changes.py): what the snapshot must not notice until it is invalidated or stale."""
    with monkeypatch.context() as patch:
        patch.setattr(service, "invalidate", lambda organization_id: None)
        add_patient(org, "Newly", "Registered")


def test_the_snapshot_is_reused_until_invalidated(quiet, monkeypatch):
    first = service.figures_for(quiet, now=NOW)
    assert first["summary"]["total_patients"] == 2
    _untold_patient(quiet, monkeypatch)
    assert service.figures_for(quiet, now=NOW + timedelta(seconds=20))["summary"]["total_patients"] == 2
    service.invalidate(quiet)
    again = service.figures_for(quiet, now=NOW + timedelta(seconds=20))
    assert again["summary"]["total_patients"] == 3
    version, computed_version, _valid = _snapshot(quiet)
    assert version == computed_version


def test_time_alone_makes_it_stale(quiet, monkeypatch):
    service.figures_for(quiet, now=NOW)
    # Bo's booking starts at NOW + 40 s, before the next minute boundary: the snapshot ends there.
    assert _snapshot(quiet).valid_until == NOW + timedelta(seconds=40)
    assert service.figures_for(quiet, now=NOW + timedelta(seconds=39))["upcoming"]["appointments"] == 1
    patient_figures.refresh_stale_figures(NOW + timedelta(seconds=41))  # the periodic task, as the clock reaches it
    later = service.figures_for(quiet, now=NOW + timedelta(seconds=41))
    assert later["upcoming"]["appointments"] == 0 and later["summary"]["patients_with_recent"] == 2
    assert later["computed_at"] == "2026-04-15T02:30:41.000Z"
    # Nothing left that time changes soon: the next minute boundary bounds it.
    assert _snapshot(quiet).valid_until == datetime(2026, 4, 15, 2, 31, tzinfo=UTC)
    _untold_patient(quiet, monkeypatch)
    assert service.figures_for(quiet, now=NOW + timedelta(seconds=59))["summary"]["total_patients"] == 2
    assert service.figures_for(quiet, now=NOW + timedelta(seconds=60))["summary"]["total_patients"] == 3


def test_recomputed_statistics_invalidate_the_snapshot(app_context, clinic, tenants):
    org = tenants.a.id
    before = service.figures_for(org, now=NOW)["summary"]
    patient = clinic.patient_ids[-1]
    add_appointment(org, patient, NOW + timedelta(days=3))
    patient_figures.recompute(org, [patient], now=NOW)  # what booking and the sync do
    after = service.figures_for(org, now=NOW)["summary"]
    assert after["total_upcoming_appointments"] == before["total_upcoming_appointments"] + 1
    assert_matches(service.figures_for(org, now=NOW), recount(org, NOW, "Australia/Sydney"))


def test_an_older_count_never_replaces_a_newer_one(quiet):
    service.figures_for(quiet, now=NOW)
    version = _snapshot(quiet).version
    # A slow request read `version`; meanwhile the data changed and another request recounted.
    service.invalidate(quiet)
    fresh = service.figures_for(quiet, now=NOW)
    service._store(quiet, version, {"stale": True}, NOW, NOW + timedelta(minutes=1))  # the slow one ends
    assert service.figures_for(quiet, now=NOW) == fresh


def test_a_count_from_before_an_invalidation_is_not_served(quiet):
    service.figures_for(quiet, now=NOW)
    old_version = _snapshot(quiet).version
    service.invalidate(quiet)  # data changed while a slow request was counting with old_version
    service._store(quiet, old_version, {"stale": True}, NOW, NOW + timedelta(minutes=1))
    payload = service.figures_for(quiet, now=NOW)
    assert "stale" not in payload and payload["summary"]["organization_id"] == quiet


def test_a_rolled_back_invalidation_changes_nothing(quiet):
    service.figures_for(quiet, now=NOW)
    db.session.commit()
    before = _snapshot(quiet)
    service.invalidate(quiet)
    db.session.rollback()
    assert _snapshot(quiet) == before


def test_upcoming_within_seven_days_includes_exactly_seven_days(app_context, tenants, frozen):
    org = tenants.a.id
    ada, bo, cy = (add_patient(org, name, "Test") for name in ("Ada", "Bo", "Cy"))
    add_appointment(org, ada, NOW + timedelta(days=7))
    add_appointment(org, bo, NOW + timedelta(days=7, seconds=1))
    add_appointment(org, cy, NOW + timedelta(hours=2), cancelled_at=NOW - timedelta(hours=1))
    patient_figures.recompute(org, now=NOW)
    upcoming = service.figures_for(org, now=NOW)["upcoming"]
    assert (upcoming["appointments"], upcoming["patients"]) == (1, 1)
    assert upcoming["until"] == "2026-04-22T02:30:00.000Z"


def test_many_types_are_summed_as_other(app_context, tenants, frozen):
    from clinic_app.appointments.models import AppointmentType

    org = tenants.a.id
    ada = add_patient(org, "Ada", "Lovelace")
    for number in range(10):
        kind = AppointmentType(organization_id=org, name=f"Type {number:02d}")
        db.session.add(kind)
        db.session.flush()
        for _ in range(number + 1):
            add_appointment(org, ada, NOW - timedelta(days=1), appointment_type_id=kind.id)
    types = figures.by_type(org, NOW, zone_named("Australia/Sydney"))
    assert len(types) == figures.TYPES_SHOWN
    assert [t["name"] for t in types[:2]] == ["Type 09", "Type 08"]
    assert types[-1] == {"appointment_type_id": None, "name": "Other types", "appointments": 1 + 2 + 3}
    assert sum(t["appointments"] for t in types) == sum(range(1, 11))


def test_times_are_utc_iso_with_z(app_context, clinic, tenants):
    payload = service.figures_for(tenants.a.id, now=NOW)
    assert payload["summary"]["generated_at"] == "2026-04-15T02:30:00.000Z"
    assert payload["computed_at"].endswith("Z") and payload["upcoming"]["until"].endswith("Z")
    assert all(week["starts_at"].endswith("Z") for week in payload["weeks"])


def test_two_requests_finding_it_stale_at_once(app, tenants, monkeypatch):
    """PostgreSQL: one counts, the other answers with the figures there are meanwhile. SQLite:
    both count. Either way nothing fails and one current snapshot remains."""
    import threading

    with app.app_context():
        org = tenants.a.id
        add_patient(org, "Ada", "Lovelace")
        service.figures_for(org, now=NOW)
        add_patient(org, "Bo", "Diddley")
        service.invalidate(org)
        db.session.commit()
        postgres = db.engine.dialect.name == "postgresql"
    counting, release = threading.Event(), threading.Event()
    count, counts = figures.patient_figures, []

    def slow_count(organization_id, now):
        counts.append(organization_id)
        if len(counts) == 1:
            counting.set()
            assert release.wait(20)
        return count(organization_id, now)

    monkeypatch.setattr(figures, "patient_figures", slow_count)
    answers, errors = {}, []

    def request(name):
        try:
            with app.app_context():
                answers[name] = service.figures_for(org, now=NOW)["summary"]["total_patients"]
                db.session.commit()
        except Exception as error:  # reported below
            errors.append(error)

    first = threading.Thread(target=request, args=("first",))
    first.start()
    assert counting.wait(20)
    second = threading.Thread(target=request, args=("second",))
    second.start()
    second.join(30)
    release.set()
    first.join(30)
    assert errors == []
    assert answers == ({"first": 2, "second": 1} if postgres else {"first": 2, "second": 2})
    assert len(counts) == (1 if postgres else 2)
    with app.app_context():
        rows = db.session.scalars(select(DashboardSnapshot).where(DashboardSnapshot.organization_id == org)).all()
        assert len(rows) == 1 and rows[0].computed_version == rows[0].version
        assert service.figures_for(org, now=NOW)["summary"]["total_patients"] == 2
