"""The webhooks API (seed 000's paths) and the endpoint's life: the secret shown once and stored
encrypted, rotation signing with both secrets for 24 hours, 410 and exhausted retries disabling
the endpoint and telling the admins, retry now, status, templates, analytics."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from clinic_app.appointments import booking
from clinic_app.core.audit import Actor
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.webhooks import delivery
from clinic_app.webhooks.models import WebhookEndpoint
from tests.appointments.builders import make_clinic
from tests.factories import access_token_for
from tests.patients.conftest import raw_rows
from tests.webhooks.conftest import attempts, deliveries


@pytest.fixture
def api(app, tenants) -> Any:
    client = app.test_client()
    token = access_token_for(app, tenants.user("admin"))
    base = f"/api/v1/webhooks/{tenants.a.id}"

    def call(method: str, path: str, **kwargs: Any) -> Any:
        return client.open(base + path, method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    return call


def _create(api, receiver, **extra) -> dict[str, Any]:
    response = api("POST", "/endpoints", json={"url": receiver.url, "description": "CRM", **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_the_secret_is_shown_once_and_kept_encrypted(app, api, receiver):
    created = _create(api, receiver, event_types=["patient.created"])
    assert created["secret"].startswith("whsec_")
    assert created["event_types"] == ["patient.created"] and created["enabled"] is True
    listed = api("GET", "/endpoints").get_json()["endpoints"]
    assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]
    assert "secret" not in api("GET", f"/endpoints/{created['id']}").get_json()
    [row] = raw_rows(app, "webhook_endpoints")
    assert created["secret"] not in str(row) and row["secret"].startswith("v1:")


def test_unknown_event_types_and_bad_urls_are_422_naming_the_field(api):
    response = api("POST", "/endpoints", json={"url": "https://hooks.example.com/x", "event_types": ["patient.eaten"]})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "event_types"
    response = api("POST", "/endpoints", json={"url": "gopher://hooks.example.com/x"})
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "url"


def test_patch_and_delete(api, receiver):
    created = _create(api, receiver)
    changed = api("PATCH", f"/endpoints/{created['id']}", json={"enabled": False, "description": "Paused"})
    assert changed.status_code == 200
    assert changed.get_json()["enabled"] is False and changed.get_json()["url"] == receiver.url
    assert api("DELETE", f"/endpoints/{created['id']}").status_code == 204
    assert api("GET", f"/endpoints/{created['id']}").status_code == 404


def test_after_a_rotation_both_secrets_verify_for_24_hours(app, api, receiver):
    created = _create(api, receiver)
    rotated = api("POST", f"/endpoints/{created['id']}/rotate-secret").get_json()
    assert rotated["secret"] != created["secret"] and rotated["previous_secret_expires_at"]
    assert api("POST", "/trigger", json={"endpoint_id": created["id"]}).status_code == 202
    [request] = receiver.requests
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (created["secret"], rotated["secret"]):
        assert Webhook(secret).verify(request["body"], request["headers"])["type"] == "webhook.test"

    with app.app_context():  # a day later the old secret no longer signs
        endpoint = db.session.get(WebhookEndpoint, created["id"])
        endpoint.previous_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    api("POST", "/trigger", json={"endpoint_id": created["id"]})
    latest = receiver.requests[-1]
    assert len(latest["headers"]["webhook-signature"].split(" ")) == 1
    Webhook(rotated["secret"]).verify(latest["body"], latest["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(latest["body"], latest["headers"])


def test_a_410_disables_the_endpoint_and_tells_the_admins(app, api, receiver, smtp_server, tenants):
    created = _create(api, receiver)
    receiver.statuses = [410]
    api("POST", "/trigger", json={})
    endpoint = api("GET", f"/endpoints/{created['id']}").get_json()
    assert endpoint["enabled"] is False and "410" in endpoint["disabled_reason"]
    messages = smtp_server.wait_for(2)  # the owner and the practice admin
    recipients = {str(m["To"]) for m in messages}
    assert tenants.user("owner").email in recipients and tenants.user("admin").email in recipients
    assert tenants.user("clinician").email not in recipients
    assert "disabled" in messages[0].get_content()
    # A disabled endpoint gets nothing more, and a retry is refused until it is enabled again.
    [row] = deliveries(app)
    assert api("POST", f"/retry/{row.id}").status_code == 409
    assert len(receiver.requests) == 1


def test_running_out_of_attempts_fails_the_delivery_and_disables_the_endpoint(app, api, receiver, smtp_server):
    created = _create(api, receiver)
    receiver.statuses = [503] * delivery.MAX_ATTEMPTS
    api("POST", "/trigger", json={})
    with app.app_context():
        for _ in range(delivery.MAX_ATTEMPTS - 1):
            [row] = deliveries(app)
            delivery.deliver_due(row.next_attempt_at)
    [row] = deliveries(app)
    assert row.status == "failed" and row.attempts == delivery.MAX_ATTEMPTS
    assert api("GET", f"/endpoints/{created['id']}").get_json()["enabled"] is False
    smtp_server.wait_for(2)


def test_retry_now_and_status(app, api, receiver):
    created = _create(api, receiver)
    receiver.statuses = [500]
    api("POST", "/trigger", json={"endpoint_id": created["id"]})
    [row] = deliveries(app)
    status = api("GET", f"/status/{row.id}").get_json()
    assert status["status"] == "pending" and [a["status_code"] for a in status["attempt_log"]] == [500]
    retried = api("POST", f"/retry/{row.id}")
    assert retried.status_code == 202
    done = api("GET", f"/status/{row.id}").get_json()
    assert done["status"] == "delivered" and done["attempts"] == 2
    assert api("POST", f"/retry/{row.id}").status_code == 409  # delivered already


def test_analytics_success_rate_p95_and_last_failure(app, api, receiver):
    created = _create(api, receiver)
    receiver.statuses = [500]
    for _ in range(4):
        api("POST", "/trigger", json={})
    with app.app_context():
        delivery.deliver_due(utcnow() + timedelta(minutes=1))
    [row] = api("GET", "/analytics").get_json()["endpoints"]
    assert row["endpoint_id"] == created["id"]
    assert row["attempts"] == 5 and row["succeeded"] == 4 and row["success_rate"] == 80.0
    assert row["p95_latency_ms"] == max(a.latency_ms for a in attempts(app))
    assert row["last_failure"] == "HTTP 500" and row["last_failure_at"]


def test_templates_list_every_event_type_with_a_thin_example(api):
    templates = api("GET", "/templates").get_json()
    names = {t["event_type"] for t in templates["templates"]}
    assert {"patient.created", "appointment.booked", "report.signed", "webhook.test"} <= names
    assert templates["signature_headers"] == ["webhook-id", "webhook-timestamp", "webhook-signature"]


def test_logs_page_with_a_cursor(api, receiver):
    _create(api, receiver)
    for _ in range(3):
        api("POST", "/trigger", json={})
    first = api("GET", "/logs?limit=2").get_json()
    assert len(first["logs"]) == 2 and first["next_cursor"]
    second = api("GET", f"/logs?limit=2&cursor={first['next_cursor']}").get_json()
    assert len(second["logs"]) == 1 and second["next_cursor"] is None
    assert not {e["id"] for e in first["logs"]} & {e["id"] for e in second["logs"]}
    assert api("GET", "/logs?cursor=%21%21").status_code == 422


def test_another_organization_and_weaker_roles_are_kept_out(app, tenants, api, receiver):
    created = _create(api, receiver)
    outsider = access_token_for(app, tenants.outsider)
    clinician = access_token_for(app, tenants.user("clinician"))
    client = app.test_client()
    for path in (f"/endpoints/{created['id']}", "/logs", "/analytics"):
        url = f"/api/v1/webhooks/{tenants.a.id}{path}"
        assert client.get(url, headers={"Authorization": f"Bearer {outsider}"}).status_code == 404
        assert client.get(url, headers={"Authorization": f"Bearer {clinician}"}).status_code == 403
    own = f"/api/v1/webhooks/{tenants.b.id}/endpoints/{created['id']}"
    assert client.get(own, headers={"Authorization": f"Bearer {outsider}"}).status_code == 404


def test_appointment_changes_become_appointment_events(app, tenants, api, receiver):
    _create(api, receiver, event_types=["appointment.booked", "appointment.cancelled"])
    with app.app_context():
        clinic = make_clinic(tenants.a.id)  # its patients are registered: no patient.* event is wanted
        start = (utcnow() + timedelta(days=7)).replace(microsecond=0)
        booked = booking.book(
            tenants.a.id,
            patient_id=clinic.patient,
            practitioner_id=clinic.practitioner,
            appointment_type_id=clinic.standard,
            starts_at=start,
            actor=Actor(),
        )
        db.session.commit()
        booking.cancel(tenants.a.id, booked.id, reason="Unwell", actor=Actor())
        db.session.commit()
        appointment_id, patient_id = booked.id, clinic.patient
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert [(b["type"], b["data"]) for b in bodies] == [
        ("appointment.booked", {"appointment_id": appointment_id, "patient_id": patient_id}),
        ("appointment.cancelled", {"appointment_id": appointment_id, "patient_id": patient_id}),
    ]
