"""Headers and logging every response gets."""

import json
import logging
import re

from clinic_app.core.logging import JSONFormatter


def test_security_headers_on_every_response(client):
    for path in ("/", "/health", "/no-such-page", "/docs"):
        response = client.get(path, headers={"Accept": "text/html"})
        csp = response.headers["Content-Security-Policy"]
        assert "unsafe-eval" not in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert "object-src 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store"
        assert "Strict-Transport-Security" not in response.headers  # only in production
        for name in ("X-Frame-Options", "X-Content-Type-Options", "Cache-Control", "X-Request-ID"):
            assert len(response.headers.getlist(name)) == 1, name  # added once, never twice


def test_hsts_in_production(make_app):
    app = make_app()
    app.config["PRODUCTION"] = True
    assert "max-age=" in app.test_client().get("/health").headers["Strict-Transport-Security"]


def test_csp_nonce_changes_per_request(client):
    nonces = {
        re.search(
            r"'nonce-([^']+)'", client.get("/", headers={"Accept": "text/html"}).headers["Content-Security-Policy"]
        ).group(1)
        for _ in range(3)
    }
    assert len(nonces) == 3


def test_static_files_are_cacheable_and_htmx_is_vendored(client):
    response = client.get("/static/vendor/htmx-2.0.11.min.js")
    assert response.status_code == 200
    assert b"htmx" in response.data[:2000]
    assert "immutable" in response.headers["Cache-Control"]
    response.close()


def test_request_id_is_returned_and_generated_when_absent_or_unsafe(client):
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = client.get("/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    unsafe = client.get("/health", headers={"X-Request-ID": "bad id; <script>"}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe)


def test_html_pages_vary_on_hx_request(client):
    assert "HX-Request" in client.get("/login").headers["Vary"]


def test_whether_a_view_or_hook_is_a_coroutine_is_asked_once_not_per_request(make_app, monkeypatch):
    import flask.app

    app = make_app()
    client = app.test_client()
    assert client.get("/health").status_code == 200  # every hook and the view seen once
    asked = []
    original = flask.app.iscoroutinefunction
    monkeypatch.setattr(flask.app, "iscoroutinefunction", lambda func: asked.append(func) or original(func))
    for _ in range(3):
        assert client.get("/health").status_code == 200
    assert asked == []
    new_view = app.ensure_sync(lambda: None)  # a callable not seen before is asked about, once
    assert len(asked) == 1 and callable(new_view)


def test_log_lines_carry_the_time_the_record_was_made():
    record = logging.LogRecord("clinic_app.request", logging.INFO, __file__, 1, "request", (), None)
    record.created = 1_733_600_000.9996  # 2024-12-07 19:33:20.9996 UTC
    assert json.loads(JSONFormatter().format(record))["time"] == "2024-12-07T19:33:20.999Z"


def test_request_log_line_is_json_with_request_id_and_no_query_string(client, caplog):
    caplog.set_level(logging.INFO, logger="clinic_app.request")
    client.get("/health?search=Jane+Citizen&token=secret", headers={"X-Request-ID": "log-test-1"})
    record = next(r for r in caplog.records if getattr(r, "event", None) == "request")
    line = json.loads(JSONFormatter().format(record))
    assert line["request_id"] == "log-test-1"
    assert line["path"] == "/health"
    assert line["status"] == 200
    assert "Jane" not in json.dumps(line) and "secret" not in json.dumps(line)


def test_links_that_work_as_credentials_never_reach_the_request_log(client, caplog):
    caplog.set_level(logging.INFO, logger="clinic_app.request")
    for path in ("/invitations/join_Z2hvc3QtaW52aXRhdGlvbi1zZWNyZXQ", "/set-password/c2V0LXBhc3N3b3JkLXNlY3JldA"):
        client.get(path)
    paths = [r.path for r in caplog.records if getattr(r, "event", None) == "request"]
    assert paths == ["/invitations/[secret]", "/set-password/[secret]"]


def test_forwarded_headers_are_ignored_unless_proxies_are_trusted(make_app, caplog):
    from flask import request

    from clinic_app.core.access import public

    seen = []

    @public
    def whoami():
        seen.append((request.remote_addr, request.scheme))
        return "ok"

    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    plain = make_app()
    plain.add_url_rule("/whoami", "whoami", whoami)
    plain.test_client().get("/whoami", headers=headers)
    trusted = make_app(TRUSTED_PROXIES="1")
    trusted.add_url_rule("/whoami", "whoami", whoami)
    trusted.test_client().get("/whoami", headers=headers)
    assert seen == [("127.0.0.1", "http"), ("203.0.113.9", "https")]


def test_curl_style_clients_get_json_errors_and_htmx_history_restores_get_full_pages(client):
    response = client.get("/no-such-page", headers={"Accept": "*/*"})
    assert response.mimetype == "application/problem+json"
    restore = client.get("/login", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)
