"""Done-when 4 in a real browser: a web app on an allowed origin calls the API with a bearer token
(Chromium sends the preflight, then the request, and lets the page read the answer); another
origin cannot read it; and a signed-in browser's cookie does not carry a write cross-origin, even
from an allowed origin (the server's own refusal of such a request: tests/core/test_cors.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from clinic_app.core.audit import Actor
from clinic_app.extensions import db
from clinic_app.webhooks import endpoints, log
from tests.factories import PASSWORD, access_token_for


class PartnerSite:
    """Another origin: a blank page on its own port."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"<!doctype html><title>Partner</title><p>partner app</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def partner() -> Iterator[PartnerSite]:
    site = PartnerSite()
    yield site
    site.stop()


FETCH = """async ([url, token]) => {
  try {
    const answer = await fetch(url, {headers: token ? {Authorization: "Bearer " + token} : {}});
    return {status: answer.status, body: await answer.json()};
  } catch (error) {
    return {blocked: String(error)};
  }
}"""

POST_WITH_COOKIE = """async ([url]) => {
  try {
    const answer = await fetch(url, {method: "POST", credentials: "include",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({url: "https://hooks.example.com/x"})});
    return {status: answer.status};
  } catch (error) {
    return {blocked: String(error)};
  }
}"""


def test_a_web_app_on_an_allowed_origin_reads_the_api_with_a_token_and_no_other_can(
    live_server, page, partner, tenants
):
    app = live_server.app
    with app.app_context():
        log.set_cors_origins(tenants.a.id, [partner.origin], actor=Actor())
        endpoints.create_endpoint(
            tenants.a.id, endpoints.EndpointInput("https://hooks.example.com/in", "CRM", ()), actor=Actor()
        )
        db.session.commit()
    token = access_token_for(app, tenants.user("admin"))
    url = f"{live_server.url}/api/v1/webhooks/{tenants.a.id}/endpoints"

    page.goto(partner.origin)
    answer = page.evaluate(FETCH, [url, token])  # Authorization makes Chromium send a preflight first
    assert answer.get("status") == 200, answer
    assert [e["url"] for e in answer["body"]["endpoints"]] == ["https://hooks.example.com/in"]

    # The same page on another origin (localhost is not 127.0.0.1 to a browser) cannot read it.
    page.goto(partner.origin.replace("127.0.0.1", "localhost"))
    assert "blocked" in page.evaluate(FETCH, [url, token])


def test_a_signed_in_browsers_cookie_does_not_work_cross_origin(live_server, page, partner, tenants):
    app = live_server.app
    with app.app_context():
        log.set_cors_origins(tenants.a.id, [partner.origin], actor=Actor())
        db.session.commit()
    # The person signs in to the clinic app in this browser: its session cookie is set.
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", tenants.user("admin").email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)

    page.goto(partner.origin)
    url = f"{live_server.url}/api/v1/webhooks/{tenants.a.id}/endpoints"
    # With the cookie and no token: the preflight grants no credentials, so Chromium never sends
    # the write (and the server would refuse it: tests/core/test_cors.py), and nothing is written.
    assert "blocked" in page.evaluate(POST_WITH_COOKIE, [url])
    with app.app_context():
        assert endpoints.list_endpoints(tenants.a.id) == []
    # Without the cookie (fetch's default) the API sees no one: 401, readable by the allowed origin.
    assert page.evaluate(FETCH, [url, None])["status"] == 401
