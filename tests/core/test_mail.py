"""Outgoing mail: console in development, SMTP when configured, silent (but said) in production."""

from __future__ import annotations

import base64
import logging
import smtplib
import socketserver
import threading
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from flask import Flask

from clinic_app.config import ConfigError, load_config
from clinic_app.core.mail import MailError, send_mail

SECRET_LINK = "http://localhost/set-password/very-secret-one-time-value"
KEY = "k1:" + base64.urlsafe_b64encode(b"k" * 32).decode()


def mail_app(tmp_path: Any, **environ: str) -> Flask:
    """A bare app with the real settings parser (no database needed)."""
    env = {"APP_ENV": "test", "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "s" * 40, "FIELD_ENCRYPTION_KEYS": KEY}
    env.update(environ)
    app = Flask(__name__)
    app.config.update(load_config(env))
    return app


class _SMTPSink(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 for smtplib to deliver one message."""

    def handle(self) -> None:
        self._reply("220 sink ESMTP")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith("EHLO"):
                self._reply("250-sink", "250 8BITMIME")
            elif command.startswith(("MAIL FROM", "RCPT TO", "RSET", "NOOP")):
                self._reply("250 OK")
            elif command == "DATA":
                self._reply("354 go ahead")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data[1:] if data.startswith(b"..") else data)
                self.server.received.append(b"".join(lines))  # type: ignore[attr-defined]
                self._reply("250 queued")
            elif command == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 not implemented")

    def _reply(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())


@pytest.fixture
def smtp_sink() -> Iterator[Any]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPSink)
    server.daemon_threads = True
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_settings_have_safe_defaults(tmp_path):
    config = mail_app(tmp_path).config
    assert config["SMTP_HOST"] is None
    assert config["SMTP_PORT"] == 587
    assert config["SMTP_STARTTLS"] is True
    assert config["MAIL_FROM"] == "clinic@localhost"
    with pytest.raises(ConfigError, match="SMTP_STARTTLS"):
        mail_app(tmp_path, SMTP_STARTTLS="maybe")
    with pytest.raises(ConfigError, match="MAIL_FROM"):
        mail_app(tmp_path, MAIL_FROM="nobody")


def test_without_smtp_development_prints_the_message(tmp_path, capsys):
    app = mail_app(tmp_path)
    with app.app_context():
        assert send_mail("nina@example.com", "Your account", f"Use {SECRET_LINK}") is True
    out = capsys.readouterr().out
    assert "To: nina@example.com" in out and "Subject: Your account" in out and SECRET_LINK in out
    assert "From: clinic@localhost" in out


def test_without_smtp_production_prints_nothing_and_logs_one_line(tmp_path, capsys, caplog):
    app = mail_app(
        tmp_path,
        APP_ENV="production",
        DATABASE_URL="postgresql://postgres@127.0.0.1/never-connected",
        PUBLIC_URL="https://clinic.example.com",
    )
    assert app.config["PRODUCTION"] is True
    with caplog.at_level(logging.INFO, logger="clinic_app.mail"), app.app_context():
        assert send_mail("nina@example.com", "Your account", f"Use {SECRET_LINK}") is False
    captured = capsys.readouterr()
    assert SECRET_LINK not in captured.out and SECRET_LINK not in captured.err
    records = [r for r in caplog.records if r.name == "clinic_app.mail"]
    assert len(records) == 1 and "not configured" in records[0].getMessage()
    assert SECRET_LINK not in caplog.text and "nina@example.com" not in caplog.text


def test_with_smtp_the_message_is_delivered_to_the_server(tmp_path, smtp_sink, capsys):
    port = smtp_sink.server_address[1]
    app = mail_app(
        tmp_path, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_STARTTLS="false", MAIL_FROM="front@clinic.example"
    )
    with app.app_context():
        assert send_mail("nina@example.com", "Your account", f"Hello Nina.\n.\nUse {SECRET_LINK}") is True
    assert len(smtp_sink.received) == 1
    message = message_from_bytes(smtp_sink.received[0])
    assert message["To"] == "nina@example.com"
    assert message["From"] == "front@clinic.example"
    assert message["Subject"] == "Your account"
    assert SECRET_LINK in message.get_payload(decode=True).decode()
    assert SECRET_LINK not in capsys.readouterr().out  # SMTP configured: nothing on the console


def test_with_smtp_starttls_comes_before_login_and_sending(tmp_path, monkeypatch):
    calls: list[tuple[str, Any]] = []

    class FakeSMTP:
        def __init__(self, host: str, port: int, timeout: float) -> None:
            calls.append(("connect", (host, port)))

        def __enter__(self) -> FakeSMTP:
            return self

        def __exit__(self, *exc: Any) -> None:
            calls.append(("quit", None))

        def starttls(self, context: Any = None) -> None:
            calls.append(("starttls", context is not None))

        def login(self, user: str, password: str) -> None:
            calls.append(("login", (user, password)))

        def send_message(self, message: Any) -> None:
            calls.append(("send", message["To"]))

    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    app = mail_app(
        tmp_path,
        APP_ENV="production",
        DATABASE_URL="postgresql://postgres@127.0.0.1/never-connected",
        PUBLIC_URL="https://clinic.example.com",
        SMTP_HOST="127.0.0.1",
        SMTP_USERNAME="mailer",
        SMTP_PASSWORD="pw",
    )
    with app.app_context():
        assert send_mail("nina@example.com", "Hi", "Body") is True
    assert calls == [
        ("connect", ("127.0.0.1", 587)),
        ("starttls", True),
        ("login", ("mailer", "pw")),
        ("send", "nina@example.com"),
        ("quit", None),
    ]


def test_an_unreachable_mail_server_raises_mail_error(tmp_path):
    # Bind a port and close it again, so nothing listens there.
    with socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler) as probe:
        port = probe.server_address[1]
    app = mail_app(tmp_path, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_STARTTLS="false")
    with app.app_context(), pytest.raises(MailError):
        send_mail("nina@example.com", "Hi", "Body")
