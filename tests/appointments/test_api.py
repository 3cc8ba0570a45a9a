"""The appointments JSON API: upcoming appointments and their summary (shapes, priorities, the
clinic's days, validation), seed 002's token-scoped list, booking and changing one appointment,
the practitioner and type lists, 404 for another organization, and the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from clinic_app.appointments import booking
from clinic_app.appointments.models import Appointment
from clinic_app.extensions import db
from tests.appointments.builders import ACTOR, at, book, events, make_clinic, make_patient
from tests.factories import access_token_for, api_token_for

NOW = "2025-03-03 00:00"  # Monday 11:00 in Sydney


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(at(NOW), tick=False):
        yield


@pytest.fixture
def clinic(app, tenants):
    with app.app_context():
        return make_clinic(tenants.a.id)


@pytest.fixture
def api(app, tenants):
    """A client with a receptionist's bearer token for organization A."""
    token = access_token_for(app, tenants.user("receptionist"))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def within(app, work):
    with app.app_context():
        result = work()
        db.session.commit()
        return result


def seed_upcoming(app, clinic):
    """Bookings 6 h, exactly 24 h, 30 h, exactly 72 h and 5 days ahead, one cancelled, one past."""

    def work():
        ids = {
            "6h": book(clinic, "2025-03-03 06:00").id,
            "24h": book(clinic, "2025-03-04 00:00", patient_id=clinic.other_patient).id,
            "30h": book(clinic, "2025-03-04 06:00", appointment_type_id=clinic.initial).id,
            "72h": book(clinic, "2025-03-06 00:00", practitioner_id=clinic.other_practitioner).id,
            "5d": book(clinic, "2025-03-08 00:00").id,
            "cancelled": book(clinic, "2025-03-05 00:00").id,
            "past": book(clinic, "2025-03-02 20:00").id,
        }
        booking.cancel(clinic.organization_id, ids["cancelled"], reason="Unwell", actor=ACTOR)
        return ids

    return within(app, work)


def test_upcoming_lists_booked_appointments_with_priority(app, clinic, api, tenants):
    ids = seed_upcoming(app, clinic)
    response = api.get(f"/api/v1/appointments/{tenants.a.id}/upcoming?days_ahead=7&limit=50")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {
        "organization_id", "days_ahead", "appointments", "total_count", "has_more", "timestamp", "next_cursor"
    }  # fmt: skip
    assert body["organization_id"] == tenants.a.id and body["total_count"] == 5 and body["has_more"] is False
    assert body["next_cursor"] is None
    assert body["timestamp"] == "2025-03-03T00:00:00.000Z"
    listed = body["appointments"]
    assert [item["id"] for item in listed] == [ids["6h"], ids["24h"], ids["30h"], ids["72h"], ids["5d"]]
    assert [item["priority"] for item in listed] == ["high", "high", "medium", "medium", "low"]
    assert [item["hours_until"] for item in listed] == [6.0, 24.0, 30.0, 72.0, 120.0]
    assert [item["days_until"] for item in listed] == [0.3, 1.0, 1.3, 3.0, 5.0]
    first = listed[0]
    assert first == {
        "id": ids["6h"],
        "patient_id": clinic.patient,
        "patient_name": "Jane Smith",
        "practitioner_id": clinic.practitioner,
        "practitioner_name": "Dr Priya Kapoor",
        "appointment_type_id": clinic.standard,
        "appointment_type": "Standard consultation",
        "starts_at": "2025-03-03T06:00:00.000Z",
        "ends_at": "2025-03-03T06:30:00.000Z",
        "status": "booked",
        "priority": "high",
        "hours_until": 6.0,
        "days_until": 0.3,
    }
    short = api.get(f"/api/v1/appointments/{tenants.a.id}/upcoming?days_ahead=1&limit=1").get_json()
    assert short["total_count"] == 2 and short["has_more"] is True and len(short["appointments"]) == 1
    rest = api.get(
        f"/api/v1/appointments/{tenants.a.id}/upcoming?days_ahead=1&limit=1&cursor={short['next_cursor']}"
    ).get_json()
    assert [item["id"] for item in short["appointments"] + rest["appointments"]] == [ids["6h"], ids["24h"]]
    assert rest["has_more"] is False and rest["next_cursor"] is None
    # Seed 002's path: the token's organization.
    same = api.get("/api/v1/appointments/upcoming").get_json()
    assert same["organization_id"] == tenants.a.id and same["total_count"] == 5 and same["days_ahead"] == 7


@pytest.mark.parametrize(
    ("query", "field"),
    [("days_ahead=0", "days_ahead"), ("days_ahead=91", "days_ahead"), ("days_ahead=soon", "days_ahead"),
     ("limit=0", "limit"), ("limit=501", "limit")],
)  # fmt: skip
def test_upcoming_checks_its_ranges(app, clinic, api, tenants, query, field):
    response = api.get(f"/api/v1/appointments/{tenants.a.id}/upcoming?{query}")
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert [error["field"] for error in response.get_json()["errors"]] == [field]
    assert api.get(f"/api/v1/appointments/upcoming?{query}").status_code == 422


def test_the_summary_counts_per_clinic_day_type_and_practitioner(app, clinic, api, tenants):
    seed_upcoming(app, clinic)
    body = api.get(f"/api/v1/appointments/{tenants.a.id}/upcoming/summary?days_ahead=7").get_json()
    assert body["total_upcoming"] == 5 and body["time_zone"] == "Australia/Sydney"
    assert body["next_appointment_time"] == "2025-03-03T06:00:00.000Z"
    assert body["hours_until_next_appointment"] == 6.0 and body["next_appointment_priority"] == "high"
    days = {item["date"]: item["count"] for item in body["by_day"]}
    # Sydney days: 06:00Z Mon is Mon 17:00; 00:00Z and 06:00Z Tue are Tue 11:00 and 17:00; Thu; Sat.
    assert next(iter(days)) == "2025-03-03" and list(days)[-1] == "2025-03-10" and len(days) == 8
    assert days["2025-03-03"] == 1 and days["2025-03-04"] == 2 and days["2025-03-06"] == 1
    assert days["2025-03-08"] == 1 and days["2025-03-05"] == 0
    assert body["by_type"][0] == {
        "appointment_type_id": clinic.standard,
        "appointment_type": "Standard consultation",
        "count": 4,
    }
    assert {item["practitioner_id"]: item["count"] for item in body["by_practitioner"]} == {
        clinic.practitioner: 4,
        clinic.other_practitioner: 1,
    }
    empty = api.get(f"/api/v1/appointments/{tenants.a.id}/upcoming/summary?days_ahead=1")
    assert empty.get_json()["total_upcoming"] == 2


def test_another_organization_gets_404(app, clinic, tenants):
    ids = seed_upcoming(app, clinic)
    outsider = app.test_client()
    outsider.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {access_token_for(app, tenants.outsider)}"
    for path in (
        f"/api/v1/appointments/{tenants.a.id}/upcoming",
        f"/api/v1/appointments/{tenants.a.id}/upcoming/summary",
        f"/api/v1/appointments/{ids['6h']}",
    ):
        response = outsider.get(path)
        assert response.status_code == 404 and "Jane" not in response.get_data(as_text=True)
    assert outsider.patch(f"/api/v1/appointments/{ids['6h']}", json={"notes": "x"}).status_code == 404
    assert outsider.post(f"/api/v1/appointments/{ids['6h']}/cancel", json={"reason": "x"}).status_code == 404
    # Their own organization has nothing upcoming.
    assert outsider.get("/api/v1/appointments/upcoming").get_json()["total_count"] == 0


def test_book_get_change_and_cancel(app, clinic, api):
    body = {
        "patient_id": clinic.patient,
        "practitioner_id": clinic.practitioner,
        "appointment_type_id": clinic.initial,
        "starts_at": "2025-03-04T10:00:00+11:00",
        "notes": "Left knee",
        "organization_id": "org_ignored",
    }
    created = api.post("/api/v1/appointments", json=body)
    assert created.status_code == 201, created.get_json()
    made = created.get_json()
    assert made["starts_at"] == "2025-03-03T23:00:00.000Z" and made["ends_at"] == "2025-03-04T00:00:00.000Z"
    assert made["patient"] == {"id": clinic.patient, "first_name": "Jane", "last_name": "Smith", "name": "Jane Smith"}
    assert made["appointment_type"]["duration_minutes"] == 60 and made["notes"] == "Left knee"
    assert (made["status"], made["source"], made["read_only"]) == ("booked", "app", False)
    clash = api.post("/api/v1/appointments", json={**body, "patient_id": clinic.other_patient})
    assert clash.status_code == 409 and clash.get_json()["conflicting_appointment_id"] == made["id"]
    assert clash.get_json()["errors"][0]["field"] == "starts_at"

    got = api.get(f"/api/v1/appointments/{made['id']}")
    assert got.status_code == 200 and got.get_json()["notes"] == "Left knee"
    moved = api.patch(f"/api/v1/appointments/{made['id']}", json={"starts_at": "2025-03-05T00:00:00Z", "notes": None})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["starts_at"] == "2025-03-05T00:00:00.000Z"
    assert moved.get_json()["ends_at"] == "2025-03-05T01:00:00.000Z" and moved.get_json()["notes"] is None
    arrived = api.patch(f"/api/v1/appointments/{made['id']}", json={"attendance": "arrived"})
    assert arrived.get_json()["patient_arrived"] is True and arrived.get_json()["status"] == "attended"

    other = api.post("/api/v1/appointments", json={**body, "starts_at": "2025-03-06T00:00:00Z"}).get_json()
    cancelled = api.post(f"/api/v1/appointments/{other['id']}/cancel", json={"reason": "Unwell"})
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert cancelled.get_json()["cancellation_reason"] == "Unwell"
    again = api.post(f"/api/v1/appointments/{other['id']}/cancel", json={"reason": "Again"})
    assert again.status_code == 409
    with app.app_context():
        assert len(events("appointment.booked")) == 2 and len(events("appointment.cancelled")) == 1
        assert [e.details["channel"] for e in events("appointment.viewed")] == ["api"]  # the GET only


def test_bad_bookings(app, clinic, api, tenants):
    archived = within(app, lambda: make_patient(clinic.organization_id, "Old", "Patient", archived=True))
    theirs = within(app, lambda: make_patient(tenants.b.id, "Their", "Patient"))
    base = {
        "patient_id": clinic.patient,
        "practitioner_id": clinic.practitioner,
        "appointment_type_id": clinic.standard,
        "starts_at": "2025-03-04T00:00:00Z",
    }
    naive = api.post("/api/v1/appointments", json={**base, "starts_at": "2025-03-04T10:00:00"})
    assert naive.status_code == 422 and naive.get_json()["errors"][0]["field"] == "starts_at"
    backwards = api.post("/api/v1/appointments", json={**base, "ends_at": "2025-03-03T23:00:00Z"})
    assert backwards.status_code == 422 and backwards.get_json()["errors"][0]["field"] == "ends_at"
    missing = api.post("/api/v1/appointments", json={"starts_at": "2025-03-04T00:00:00Z"})
    assert missing.status_code == 422
    assert {e["field"] for e in missing.get_json()["errors"]} == {
        "patient_id",
        "practitioner_id",
        "appointment_type_id",
    }
    assert api.post("/api/v1/appointments", json={**base, "patient_id": archived}).status_code == 422
    not_ours = api.post("/api/v1/appointments", json={**base, "patient_id": theirs})
    assert not_ours.status_code == 404 and "Their" not in not_ours.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Appointment)) == 0


def test_a_change_that_fails_changes_nothing(app, clinic, api):
    first = within(app, lambda: book(clinic, "2025-03-04 00:00", notes="keep").id)
    within(app, lambda: book(clinic, "2025-03-05 00:00", patient_id=clinic.other_patient))
    # The notes would change, but the move clashes: the whole request is refused.
    response = api.patch(
        f"/api/v1/appointments/{first}", json={"notes": "changed", "starts_at": "2025-03-05T00:00:00Z"}
    )
    assert response.status_code == 409
    with app.app_context():
        view = booking.view_appointment(clinic.organization_id, first, actor=ACTOR, record_view=False)
        assert view.notes == "keep" and view.appointment.starts_at == at("2025-03-04 00:00")
    dna_early = api.patch(f"/api/v1/appointments/{first}", json={"attendance": "did_not_arrive"})
    assert dna_early.status_code == 409


def test_practitioners_and_types(app, clinic, api, tenants):
    from clinic_app.appointments import practitioners as setup

    within(app, lambda: setup.set_type_archived(tenants.a.id, clinic.initial, True, actor=ACTOR))
    people = api.get("/api/v1/practitioners").get_json()
    assert people["total_count"] == 2 and people["organization_id"] == tenants.a.id
    assert [p["name"] for p in people["practitioners"]] == ["Dr Priya Kapoor", "Dr Tom Walsh"]
    assert people["practitioners"][0]["source"] == "app" and people["practitioners"][0]["archived"] is False
    kinds = api.get("/api/v1/appointment-types").get_json()
    assert [k["name"] for k in kinds["appointment_types"]] == ["Standard consultation"]
    every = api.get("/api/v1/appointment-types?include_archived=true").get_json()
    assert {k["name"]: k["archived"] for k in every["appointment_types"]} == {
        "Initial consultation": True,
        "Standard consultation": False,
    }


def test_an_api_token_needs_the_appointments_scopes(app, clinic, tenants):
    reader = api_token_for(app, tenants.a.id, ["appointments:read"], creator=tenants.user("owner"))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {reader}"}
    assert client.get("/api/v1/appointments/upcoming", headers=headers).status_code == 200
    refused = client.post(
        "/api/v1/appointments",
        headers=headers,
        json={
            "patient_id": clinic.patient,
            "practitioner_id": clinic.practitioner,
            "appointment_type_id": clinic.standard,
            "starts_at": "2025-03-04T00:00:00Z",
        },
    )
    assert refused.status_code == 403


def test_the_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path, method in (
        ("/api/v1/appointments/{organization_id}/upcoming", "get"),
        ("/api/v1/appointments/{organization_id}/upcoming/summary", "get"),
        ("/api/v1/appointments/upcoming", "get"),
        ("/api/v1/appointments", "post"),
        ("/api/v1/appointments/{appointment_id}", "get"),
        ("/api/v1/appointments/{appointment_id}", "patch"),
        ("/api/v1/appointments/{appointment_id}/cancel", "post"),
        ("/api/v1/practitioners", "get"),
        ("/api/v1/appointment-types", "get"),
    ):
        assert method in paths[path], path
    upcoming = paths["/api/v1/appointments/{organization_id}/upcoming"]["get"]
    assert {p["name"] for p in upcoming["parameters"]} == {"organization_id", "days_ahead", "limit", "cursor"}
    assert "422" in upcoming["responses"] and "404" in upcoming["responses"]
    assert "409" in paths["/api/v1/appointments"]["post"]["responses"]


def test_times_move_with_the_clock(app, clinic, api, tenants):
    within(app, lambda: book(clinic, "2025-03-03 06:00"))
    assert api.get("/api/v1/appointments/upcoming").get_json()["total_count"] == 1
    with time_machine.travel(at(NOW) + timedelta(hours=7), tick=False):
        later = app.test_client()
        later.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {access_token_for(app, tenants.user('receptionist'))}"
        assert later.get("/api/v1/appointments/upcoming").get_json()["total_count"] == 0


def test_cancelling_needs_a_reason(app, clinic, api):
    appointment = within(app, lambda: book(clinic, "2025-03-04 00:00").id)
    for body in ({}, {"reason": "  "}):
        response = api.post(f"/api/v1/appointments/{appointment}/cancel", json=body)
        assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "reason"
    too_long = api.post(f"/api/v1/appointments/{appointment}/cancel", json={"reason": "x" * 501})
    assert too_long.status_code == 422
    with app.app_context():
        assert db.session.get(Appointment, appointment).cancelled_at is None
