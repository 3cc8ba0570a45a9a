"""The Integrations page: full page and htmx fragment, adding an endpoint shows its secret once,
the actions on an endpoint, retry now from the log, and the CORS origins form."""

from __future__ import annotations

import re

from tests.factories import csrf_from
from tests.webhooks.conftest import add_endpoint, deliveries


def _csrf(client) -> str:
    return csrf_from(client.get("/settings/integrations").get_data(as_text=True))


def test_the_page_and_its_fragment(app, tenants, login_as):
    client = login_as("admin")
    page = client.get("/settings/integrations")
    assert page.status_code == 200 and "<html" in page.get_data(as_text=True)
    assert "Webhook endpoints" in page.get_data(as_text=True)
    fragment = client.get("/settings/integrations", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)


def test_weaker_roles_are_refused(login_as):
    assert login_as("clinician").get("/settings/integrations").status_code == 403


def test_adding_an_endpoint_shows_the_secret_once(app, tenants, login_as, receiver):
    client = login_as("admin")
    data = {"csrf_token": _csrf(client), "url": receiver.url, "description": "CRM", "event_types": ["patient.created"]}
    added = client.post("/settings/integrations/endpoints", data=data, headers={"HX-Request": "true"})
    assert added.status_code == 201
    html = added.get_data(as_text=True)
    secret = re.search(r'id="webhook-secret">(whsec_[^<]+)<', html).group(1)
    assert secret not in client.get("/settings/integrations").get_data(as_text=True)


def test_a_bad_url_re_renders_the_form_with_the_message(login_as):
    client = login_as("admin")
    bad = client.post(
        "/settings/integrations/endpoints", data={"csrf_token": _csrf(client), "url": "http://10.0.0.1/x"}
    )
    assert bad.status_code == 422 and "not a public address" in bad.get_data(as_text=True)


def test_test_event_toggle_and_retry_from_the_page(app, tenants, login_as, receiver):
    endpoint_id, _secret = add_endpoint(app, tenants.a, receiver.url)
    client = login_as("admin")
    token = _csrf(client)
    receiver.statuses = [500]
    sent = client.post(f"/settings/integrations/endpoints/{endpoint_id}/test", data={"csrf_token": token})
    assert sent.status_code == 200 and len(receiver.requests) == 1
    [row] = deliveries(app)
    retried = client.post(f"/settings/integrations/deliveries/{row.id}/retry", data={"csrf_token": token})
    assert retried.status_code == 200 and len(receiver.requests) == 2
    [row] = deliveries(app)
    assert row.status == "delivered"
    off = client.post(f"/settings/integrations/endpoints/{endpoint_id}/toggle", data={"csrf_token": token})
    assert "Disabled" in off.get_data(as_text=True)
    refused = client.post(f"/settings/integrations/endpoints/{endpoint_id}/test", data={"csrf_token": token})
    assert refused.status_code == 409 and len(receiver.requests) == 2


def test_cors_origins_are_saved_and_bad_ones_refused(app, tenants, login_as):
    client = login_as("admin")
    token = _csrf(client)
    saved = client.post(
        "/settings/integrations/cors", data={"csrf_token": token, "cors_origins": "https://app.example.com\n"}
    )
    assert saved.status_code == 200 and "https://app.example.com" in saved.get_data(as_text=True)
    bad = client.post("/settings/integrations/cors", data={"csrf_token": token, "cors_origins": "*"})
    assert bad.status_code == 422
    wild = client.post(
        "/settings/integrations/cors", data={"csrf_token": token, "cors_origins": "https://app.example.com/path"}
    )
    assert wild.status_code == 422


def test_another_organizations_endpoint_is_404(app, tenants, login_as, receiver):
    endpoint_id, _secret = add_endpoint(app, tenants.a, receiver.url)
    client = login_as("outsider")
    token = _csrf(client)
    assert (
        client.post(f"/settings/integrations/endpoints/{endpoint_id}/test", data={"csrf_token": token}).status_code
        == 404
    )
    assert receiver.requests == []
