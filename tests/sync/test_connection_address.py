"""The Cliniko address and the connection test: outside development and tests only Cliniko's own
https API is accepted (the sandbox keeps working where it runs), and a failed test says one
sentence whatever answered, or did not answer, at the address: the remote body is never echoed,
a closed port and an open one that is not Cliniko read the same, and a refused key is still said."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from clinic_app.core import audit
from clinic_app.core.errors import Conflict, Invalid, Unavailable
from clinic_app.extensions import db
from clinic_app.sync import connection as connections
from clinic_app.sync import service
from clinic_app.sync.models import ClinikoConnection
from tests.factories import access_token_for, page_csrf

FAST = {"requests_per_minute": 100_000, "backoff_base": 0.001, "backoff_cap": 0.01, "timeout": 5.0, "max_retries": 3}
SECRET_BODY = "internal-admin-console-7f3e9c"
KEY = "some-key-0123456789abcdef-au1"


@pytest.fixture
def app(make_app):
    return make_app(SYNC_CLIENT_OPTIONS=FAST)


def owner(tenants):
    return audit.Actor(user_id=tenants.user("owner").id)


class _Answer(BaseHTTPRequestHandler):
    """Whatever the server was told to answer, to every GET; counts the requests."""

    def do_GET(self) -> None:
        server = self.server
        server.requests += 1  # type: ignore[attr-defined]
        status, body, headers = server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        payload = body.encode()
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def remote() -> Iterator[ThreadingHTTPServer]:
    """A server on 127.0.0.1 that is not Cliniko; set ``.answer = (status, body, headers)``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.requests = 0  # type: ignore[attr-defined]
    server.answer = (404, f"<h1>Not here</h1><p>{SECRET_BODY}</p>", {"Content-Type": "text/html"})  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def address(port: int) -> str:
    return f"http://127.0.0.1:{port}/{{shard}}/v1"


# --- the address ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:5001/{shard}/v1",  # the sandbox, outside development
        "http://api.au1.cliniko.com/v1",  # Cliniko, but not over https
        "https://evil.example/v1",
        "https://api.au1.cliniko.com.evil.example/v1",
        "https://cliniko.com.evil.example/{shard}/v1",
        "https://evil.example/api.au1.cliniko.com/v1",
        "https://api.au1.cliniko.com:8443/v1",
        "https://someone@api.au1.cliniko.com/v1",
        "https://api.au1.cliniko.com/v2",
        "https://api.au1.cliniko.com/v1?next=https://evil.example",
        "https://10.0.0.5/v1",
    ],
)
def test_production_accepts_only_clinikos_own_https_address(app, tenants, template):
    app.config["PRODUCTION"] = True
    with app.app_context():
        with pytest.raises(Invalid) as refused:
            service.connect(tenants.a.id, KEY, base_url_template=template, actor=owner(tenants), test=False)
        assert refused.value.errors[0].field == "base_url"
        assert "https://api.{shard}.cliniko.com/v1" in refused.value.errors[0].message
        assert db.session.scalar(select(func.count()).select_from(ClinikoConnection)) == 0


@pytest.mark.parametrize(
    "template",
    ["https://api.{shard}.cliniko.com/v1", "https://api.uk2.cliniko.com/v1/", "https://API.au4.cliniko.com/v1"],
)
def test_production_takes_a_cliniko_shards_address(app, tenants, template):
    app.config["PRODUCTION"] = True
    with app.app_context():
        connection = service.connect(tenants.a.id, KEY, base_url_template=template, actor=owner(tenants), test=False)
        assert connection.base_url_template == template.rstrip("/")


def test_development_keeps_the_sandbox_address(app, tenants):
    assert app.config["PRODUCTION"] is False
    with app.app_context():
        sandbox = "http://127.0.0.1:5001/{shard}/v1"
        connection = service.connect(tenants.a.id, KEY, base_url_template=sandbox, actor=owner(tenants), test=False)
        assert connection.base_url_template == sandbox


def test_production_will_not_use_a_stored_address_that_is_not_clinikos(app, tenants):
    with app.app_context():
        service.connect(tenants.a.id, KEY, base_url_template=address(5001), actor=owner(tenants), test=False)
        db.session.commit()
        app.config["PRODUCTION"] = True
        with pytest.raises(Conflict, match="not Cliniko's own"):
            service.client_for(tenants.a.id)


def test_the_page_offers_no_address_in_production_and_ignores_one_sent(app, login_as, remote, monkeypatch):
    app.config["PRODUCTION"] = True
    tried: list[str] = []

    def try_offline(client):  # Cliniko itself is not reachable from the tests: note where it would go
        tried.append(client.base_url)
        client.close()
        return {"businesses": []}

    monkeypatch.setattr(connections, "_try", try_offline)
    admin = login_as("admin")
    assert 'name="base_url"' not in admin.get("/integrations").get_data(as_text=True)
    token = page_csrf(admin, "/integrations")
    admin.post(
        "/integrations/connect",
        data={"csrf_token": token, "api_key": KEY, "base_url": address(remote.server_port)},
        headers={"HX-Request": "true"},
    )
    assert tried == ["https://api.au1.cliniko.com/v1"] and remote.requests == 0


# --- the connection test --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        (404, f"<h1>Not here</h1><p>{SECRET_BODY}</p>", {"Content-Type": "text/html"}),
        (200, f"<html>{SECRET_BODY}</html>", {"Content-Type": "text/html"}),
        (200, f'{{"hello": "{SECRET_BODY}"}}', {"Content-Type": "application/json"}),
        (200, f'["{SECRET_BODY}"]', {"Content-Type": "application/json"}),
        (302, SECRET_BODY, {"Location": f"http://{SECRET_BODY}.example/"}),
        (403, f'{{"error": "{SECRET_BODY}"}}', {"Content-Type": "application/json"}),
        (503, SECRET_BODY, {}),
    ],
    ids=["404-html", "200-html", "200-json-object", "200-json-list", "302", "403", "503"],
)
def test_an_open_port_that_is_not_cliniko_reads_like_a_closed_one(app, tenants, remote, answer):
    remote.answer = answer
    with app.app_context():
        with pytest.raises(Unavailable) as open_port:
            service.connect(tenants.a.id, KEY, base_url_template=address(remote.server_port), actor=owner(tenants))
        with pytest.raises(Unavailable) as closed:
            service.connect(tenants.a.id, KEY, base_url_template=address(closed_port()), actor=owner(tenants))
    assert open_port.value.detail == closed.value.detail == service.UNREACHABLE
    assert open_port.value.status == closed.value.status == 503
    assert SECRET_BODY not in open_port.value.detail


def test_the_stored_key_test_says_the_same_sentence(app, client, tenants, remote):
    with app.app_context():
        service.connect(
            tenants.a.id, KEY, base_url_template=address(remote.server_port), actor=owner(tenants), test=False
        )
        db.session.commit()
        result = service.test_connection(tenants.a.id, actor=owner(tenants))
        db.session.commit()
    assert result["ok"] is False and result["error"] == service.UNREACHABLE
    answer = client.get(
        f"/api/v1/cliniko/test-connection/{tenants.a.id}",
        headers={"Authorization": f"Bearer {access_token_for(app, tenants.user('owner'))}"},
    )
    body = answer.get_data(as_text=True)
    assert answer.get_json()["error"] == service.UNREACHABLE and SECRET_BODY not in body


def test_the_connect_form_shows_the_sentence_not_the_remote_body(app, login_as, remote):
    admin = login_as("admin")
    token = page_csrf(admin, "/integrations")
    response = admin.post(
        "/integrations/connect",
        data={"csrf_token": token, "api_key": KEY, "base_url": address(remote.server_port)},
        headers={"HX-Request": "true"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "Could not reach Cliniko at that address." in html and SECRET_BODY not in html


def test_a_refused_key_is_still_said_without_the_body(app, tenants, remote):
    remote.answer = (401, f'{{"error": "{SECRET_BODY}"}}', {"Content-Type": "application/json"})
    with app.app_context(), pytest.raises(Invalid) as refused:
        service.connect(tenants.a.id, KEY, base_url_template=address(remote.server_port), actor=owner(tenants))
    (error,) = refused.value.errors
    assert error.field == "api_key" and "the API key was refused" in error.message
    assert SECRET_BODY not in error.message
