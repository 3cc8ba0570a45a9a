"""Seed 003's /api/v1/admin endpoints over a clinic synced from the sandbox: active patients and
contacts by the one activity rule, paged and audited, the summary and dashboard figures, force
sync with duplicate prevention, and who may call what."""

import pytest
from sqlalchemy import func, select

from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from clinic_app.figures.models import PatientAppointmentStats
from clinic_app.patients.models import Patient
from clinic_app.sync import service
from clinic_app.sync.models import ClinikoLink, SyncRun
from tests.factories import access_token_for

FAST = {"requests_per_minute": 100_000, "backoff_base": 0.01, "backoff_cap": 0.05, "timeout": 5.0, "max_retries": 3}


@pytest.fixture
def app(make_app):
    return make_app(SYNC_CLIENT_OPTIONS=FAST)


@pytest.fixture
def synced(app, tenants, make_cliniko_sandbox):
    """Organization A connected to a sandbox of 30 patients and synced once."""
    server = make_cliniko_sandbox(patients=30, appointments=120)
    with app.app_context():
        owner = audit.Actor(user_id=tenants.user("owner").id)
        service.connect(tenants.a.id, server.clinic.api_key, base_url_template=server.base_url_template, actor=owner)
        db.session.commit()
        run, _ = service.start_sync(tenants.a.id, "comprehensive", actor=owner)
        db.session.commit()
        assert db.session.get(SyncRun, run.id, populate_existing=True).status == "completed"
    return server


def bearer(app, user):
    return {"Authorization": f"Bearer {access_token_for(app, user)}"}


def stats_where(app, *conditions):
    with app.app_context():
        return set(db.session.scalars(select(PatientAppointmentStats.patient_id).where(*conditions)))


def test_active_patients_are_the_rule_s_active_patients_page_by_page(app, tenants, synced):
    org, client, headers = tenants.a.id, app.test_client(), bearer(app, tenants.user("clinician"))
    expected = stats_where(app, PatientAppointmentStats.is_active.is_(True))
    assert expected, "the sandbox clinic should have active patients"
    seen, cursor, pages = [], None, 0
    while True:
        query = f"?limit=3&cursor={cursor}" if cursor else "?limit=3"
        answer = client.get(f"/api/v1/admin/active-patients/{org}{query}", headers=headers)
        body = answer.get_json()
        assert answer.status_code == 200, body
        assert body["organization_id"] == org and body["total_count"] == len(expected) and body["limit"] == 3
        seen += body["active_patients"]
        pages += 1
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        cursor = body["next_cursor"]
    assert [item["id"] for item in seen] and {item["id"] for item in seen} == expected
    assert len(seen) == len(expected) and pages == -(-len(expected) // 3)

    documented = {"id", "contact_id", "contact_name", "contact_phone", "recent_appointment_count"}
    documented |= {"upcoming_appointment_count", "total_appointment_count", "last_appointment_date"}
    documented |= {"recent_appointments", "created_at", "updated_at"}
    with app.app_context():
        links = dict(
            db.session.execute(
                select(ClinikoLink.local_id, ClinikoLink.cliniko_id).where(ClinikoLink.resource == "patients")
            ).all()
        )
        for item in seen:
            assert documented <= item.keys()
            stats = db.session.scalar(
                select(PatientAppointmentStats).where(PatientAppointmentStats.patient_id == item["id"])
            )
            assert item["recent_appointment_count"] == stats.recent_attended
            assert item["upcoming_appointment_count"] == stats.upcoming
            assert item["recent_appointment_count"] > 0 or item["upcoming_appointment_count"] > 0
            assert len(item["recent_appointments"]) == min(stats.recent_attended, 10)
            assert all(a["status"] == "attended" for a in item["recent_appointments"])
            assert item["cliniko_patient_id"] == links[item["id"]] and item["contact_id"] == item["id"]
            assert item["contact_phone"] is None or item["contact_phone"].startswith("+")
        # Reading contact details is recorded, naming every patient shown.
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "patient.listed", AuditEvent.organization_id == org)
        ).all()
        shown = [pid for event in events for pid in event.details["patient_ids"]]
    assert sorted(shown) == sorted(item["id"] for item in seen)
    assert {event.details["list"] for event in events} == {"active_patients"}


def test_contacts_with_appointments_and_a_bad_cursor(app, tenants, synced):
    org, client, headers = tenants.a.id, app.test_client(), bearer(app, tenants.user("receptionist"))
    body = client.get(f"/api/v1/admin/contacts/{org}/with-appointments?limit=100", headers=headers).get_json()
    expected = stats_where(app, PatientAppointmentStats.total > 0)
    assert (
        body["total_count"] == len(expected)
        and {c["contact_id"] for c in body["contacts_with_appointments"]} == expected
    )
    contact = body["contacts_with_appointments"][0]
    assert {"contact_id", "name", "phone", "email", "cliniko_patient_id", "recent_appointment_count"} <= contact.keys()
    assert {"upcoming_appointment_count", "last_appointment_date", "recent_appointments"} <= contact.keys()
    bad = client.get(f"/api/v1/admin/contacts/{org}/with-appointments?cursor=bm9wZQ", headers=headers)
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "cursor"


def test_summary_and_dashboard_figures(app, tenants, synced):
    org, client, headers = tenants.a.id, app.test_client(), bearer(app, tenants.user("admin"))
    summary = client.get(f"/api/v1/admin/active-patients/{org}/summary", headers=headers).get_json()
    with app.app_context():
        stats = PatientAppointmentStats
        active = db.session.scalars(select(stats).where(stats.is_active.is_(True))).all()
        live = db.session.scalar(select(func.count()).select_from(Patient).where(Patient.archived.is_(False)))
    assert summary["total_active_patients"] == len(active)
    assert summary["patients_with_recent_appointments"] == sum(1 for s in active if s.recent_attended)
    assert summary["patients_with_upcoming_appointments"] == sum(1 for s in active if s.upcoming)
    assert summary["avg_total_appointments"] == round(sum(s.total for s in active) / len(active), 1)
    assert summary["last_sync_date"] is not None

    dashboard = client.get(f"/api/v1/admin/sync/dashboard/{org}", headers=headers).get_json()
    metrics = dashboard["contact_metrics"]
    assert metrics == {"total_contacts": live, "cliniko_linked": live, "unlinked": 0, "link_percentage": 100.0}
    assert dashboard["active_patient_metrics"]["total_active"] == len(active)
    assert dashboard["service_status"] == {
        "cliniko_configured": True,
        "sync_enabled": False,
        "is_active": True,
        "sync_running": False,
    }
    assert dashboard["health_indicators"] == {
        "has_contacts": True,
        "has_active_patients": True,
        "recent_sync": True,
        "high_link_rate": True,
    }


def test_force_sync_starts_one_and_never_two(app, tenants, synced):
    org, client, headers = tenants.a.id, app.test_client(), bearer(app, tenants.user("admin"))
    first = client.post(f"/api/v1/admin/sync/schedule/{org}", headers=headers).get_json()
    assert {"organization_id", "sync_scheduled", "message", "timestamp"} <= first.keys()
    assert first["sync_scheduled"] is True and first["message"] == "Sync started successfully"
    with app.app_context():
        run = SyncRun(organization_id=org, mode="incremental", status="running", steps=["patients"])
        db.session.add(run)
        db.session.commit()
        running_id = run.id
    second = client.post(f"/api/v1/admin/sync/schedule/{org}?mode=basic", headers=headers).get_json()
    assert second["sync_scheduled"] is False and second["sync_id"] == running_id
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(SyncRun)) == 3
        )  # the first sync, the forced, the running


ADMIN_PATHS = [
    ("POST", "/api/v1/admin/sync/schedule/{org}"),
    ("GET", "/api/v1/admin/active-patients/{org}"),
    ("GET", "/api/v1/admin/active-patients/{org}/summary"),
    ("GET", "/api/v1/admin/contacts/{org}/with-appointments"),
    ("GET", "/api/v1/admin/sync/dashboard/{org}"),
]


def test_401_without_credentials_404_for_another_organization_and_roles(app, tenants):
    client, org = app.test_client(), tenants.a.id
    outsider, receptionist = bearer(app, tenants.outsider), bearer(app, tenants.user("receptionist"))
    for method, template in ADMIN_PATHS:
        path = template.format(org=org)
        assert client.open(path, method=method).status_code == 401, path
        other = client.open(path, method=method, headers=outsider)
        assert other.status_code == 404 and other.mimetype == "application/problem+json", path
    assert client.get(f"/api/v1/admin/active-patients/{org}", headers=receptionist).status_code == 200
    assert client.get(f"/api/v1/admin/sync/dashboard/{org}", headers=receptionist).status_code == 403
    assert client.post(f"/api/v1/admin/sync/schedule/{org}", headers=receptionist).status_code == 403
    empty = client.get(f"/api/v1/admin/active-patients/{org}", headers=receptionist).get_json()
    assert empty["active_patients"] == [] and empty["total_count"] == 0 and empty["has_more"] is False


def test_admin_endpoints_are_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for method, template in ADMIN_PATHS:
        operation = spec["paths"][template.replace("{org}", "{organization_id}")][method.lower()]
        assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert operation["x-permission"] in {"sync:run", "patients:read", "dashboard:read", "sync:read"}
    listing = spec["paths"]["/api/v1/admin/active-patients/{organization_id}"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"organization_id", "limit", "cursor"}
