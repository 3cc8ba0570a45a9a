"""Done-when 2: the SSRF guard. Non-public addresses are refused when the URL names them and when
a public-looking name resolves to them at delivery time; the request goes to the address that
was checked; redirects are not followed; plain http is refused in production."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest

from clinic_app.core.audit import Actor
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.webhooks import delivery, endpoints, targets
from tests.factories import access_token_for
from tests.webhooks.conftest import add_endpoint, attempts, deliveries

INTERNAL = ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1"]


def _literal(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize(
    "address",
    [
        *INTERNAL,
        "192.168.1.1",
        "172.16.0.5",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 (an address refused, not bound)
        "fe80::1",
        "fd00::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "224.0.0.1",
        "203.0.113.9",
        "100.100.100.200",
    ],
)
def test_non_public_addresses_are_not_public(address):
    assert not targets.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "1.1.1.1"])
def test_public_addresses_are(address):
    assert targets.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", INTERNAL)
def test_a_url_naming_an_internal_address_is_refused_when_saved(make_app, tenants, address):
    app = make_app()  # nothing allow-listed
    token = access_token_for(app, tenants.user("admin"))
    response = app.test_client().post(
        f"/api/v1/webhooks/{tenants.a.id}/endpoints",
        json={"url": f"http://{_literal(address)}:8080/hook"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"][0]["field"] == "url"


@pytest.mark.parametrize("address", INTERNAL)
def test_a_public_name_resolving_to_an_internal_address_at_delivery_time_is_refused(
    app, tenants, receiver, monkeypatch, address
):
    seen: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        seen.append(host)
        return [address]  # the DNS answer changed after the URL was saved

    add_endpoint(app, tenants.a, "http://hooks.example.com/in")
    monkeypatch.setattr(targets, "resolver", resolve)
    token = access_token_for(app, tenants.user("admin"))
    client = app.test_client()
    sent = client.post(
        f"/api/v1/webhooks/{tenants.a.id}/trigger", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert sent.status_code == 202, sent.get_json()
    assert seen == ["hooks.example.com"]
    [attempt] = attempts(app)
    assert attempt.status_code is None and "non-public" in attempt.error
    assert receiver.requests == []
    [row] = deliveries(app)
    assert row.status == "pending" and row.attempts == 1  # tried again later, checked again then


def test_the_request_goes_to_the_address_that_was_checked(app, tenants, receiver, monkeypatch):
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]  # receiver.test is allow-listed; the system resolver has never heard of it

    monkeypatch.setattr(targets, "resolver", resolve)
    add_endpoint(app, tenants.a, f"http://receiver.test:{receiver.port}/hooks?source=clinic")
    with app.app_context():
        endpoint = endpoints.list_endpoints(tenants.a.id)[0]
        endpoints.send_test_event(tenants.a.id, endpoint.id, actor=Actor())
        db.session.commit()
    [request] = receiver.requests
    assert lookups == ["receiver.test"]  # one lookup, and the connection used its answer
    assert {k.lower(): v for k, v in request["headers"].items()}["host"] == f"receiver.test:{receiver.port}"
    assert request["path"] == "/hooks?source=clinic"


def test_a_redirect_is_not_followed(app, tenants, receiver):
    receiver.statuses = [302, 302]
    receiver.extra_headers = {"Location": "http://169.254.169.254/latest/meta-data"}
    add_endpoint(app, tenants.a, receiver.url)
    with app.app_context():
        endpoints.send_test_event(tenants.a.id, endpoints.list_endpoints(tenants.a.id)[0].id, actor=Actor())
        db.session.commit()
        assert delivery.deliver_due(utcnow() + timedelta(hours=1))["attempted"] == 1
    assert len(receiver.requests) == 2  # the two attempts; never a request to the Location
    assert [a.status_code for a in attempts(app)] == [302, 302]


def test_plain_http_is_refused_in_production(app):
    with app.app_context():
        app.config["PRODUCTION"] = True
        try:
            with pytest.raises(targets.TargetRefused, match="https"):
                targets.check_url("http://hooks.example.com/in")
            assert targets.check_url("https://hooks.example.com/in")[1] == "hooks.example.com"
        finally:
            app.config["PRODUCTION"] = False


@pytest.mark.parametrize("url", ["ftp://x.example/a", "https://user:pw@x.example/a", "https://x.example/a#f", "nope"])
def test_urls_that_are_not_plain_web_addresses_are_refused(app, url):
    with app.app_context(), pytest.raises(targets.TargetRefused):
        targets.check_url(url)


def test_under_test_a_public_host_outside_the_allow_list_is_not_called(app, monkeypatch):
    monkeypatch.setattr(targets, "resolver", lambda host, port: ["93.184.216.34"])
    with app.app_context(), pytest.raises(targets.TargetRefused, match="WEBHOOK_ALLOWED_HOSTS"):
        targets.resolve_target("https://hooks.example.com/in")
    with app.app_context():
        app.config["TESTING"] = False  # elsewhere a public address is what a webhook may reach
        try:
            target = targets.resolve_target("https://hooks.example.com/in")
        finally:
            app.config["TESTING"] = True
    assert str(target.address) == "93.184.216.34" and target.connect_url == "https://93.184.216.34:443/in"
    assert target.host_header == "hooks.example.com"
