"""A real webhook receiver on 127.0.0.1 (allow-listed), endpoints made through the service, and
helpers to read the delivery log."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask

from clinic_app.core.audit import Actor
from clinic_app.extensions import db
from clinic_app.webhooks import endpoints
from clinic_app.webhooks.models import WebhookAttempt, WebhookDelivery


class Receiver:
    """An HTTP server that keeps every request (path, headers, body) and answers with the next
    status of ``statuses`` (then 200)."""

    def __init__(self) -> None:
        receiver = self
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.extra_headers: dict[str, str] = {}
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                for name, value in receiver.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def app(make_app: Any) -> Flask:
    return make_app(WEBHOOK_ALLOWED_HOSTS="127.0.0.1,receiver.test")


def add_endpoint(app: Flask, organization: Any, url: str, *, event_types: list[str] | None = None) -> tuple[str, str]:
    """An endpoint of ``organization`` (every event unless ``event_types``); returns (id, secret)."""
    with app.app_context():
        data = endpoints.validate_input(url, "Test receiver", event_types or [])
        endpoint, secret = endpoints.create_endpoint(organization.id, data, actor=Actor())
        db.session.commit()
        return endpoint.id, secret


def deliveries(app: Flask) -> list[WebhookDelivery]:
    with app.app_context():
        rows = list(db.session.scalars(db.select(WebhookDelivery).order_by(WebhookDelivery.created_at)))
        db.session.expunge_all()
        return rows


def attempts(app: Flask) -> list[WebhookAttempt]:
    with app.app_context():
        rows = list(db.session.scalars(db.select(WebhookAttempt).order_by(WebhookAttempt.created_at)))
        db.session.expunge_all()
        return rows
