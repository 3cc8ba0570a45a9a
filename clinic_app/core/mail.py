"""Outgoing e-mail: SMTP when ``SMTP_HOST`` is set, otherwise the console; and ``public_url``, the
only way a link in a message is built.

The console backend exists so the embedded default works with nothing to install: the message is
printed where the developer can copy a link from it. In production a message may carry a one-time
credential, so without SMTP it is never printed (stdout there is the log stream); one warning,
without recipient or body, says mail is not configured.

A link in a message (an invitation, a confirmation, a password reset) starts with the configured
``PUBLIC_URL``, never with the address the request came in on: the Host header is the caller's to
choose, and a link built from it would send a one-time secret wherever they pointed it.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from flask import current_app

log = logging.getLogger("clinic_app.mail")

SMTP_TIMEOUT_SECONDS = 15


def public_url(path: str) -> str:
    """``path`` (a site path such as ``url_for(...)`` returns) as an absolute link on the configured
    ``PUBLIC_URL``. Raises ValueError for anything but a path: a full address would bypass it."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        raise ValueError("public_url takes a path on this site, such as url_for(...) returns")
    return current_app.config["PUBLIC_URL"] + path


class MailError(Exception):
    """The mail server could not be reached or refused the message."""


def send_mail(to: str, subject: str, body: str) -> bool:
    """Send a plain-text message.

    Returns True when it was handed to the mail server (or, outside production, printed to the
    console) and False when it could not be sent because mail is not configured (production
    without ``SMTP_HOST``). Raises MailError when the mail server fails.
    """
    config = current_app.config
    message = EmailMessage()
    message["From"] = config.get("MAIL_FROM") or "clinic@localhost"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if config.get("SMTP_HOST"):
        _send_smtp(message, config)
        return True
    if config.get("PRODUCTION"):
        log.warning("mail is not configured (set SMTP_HOST): message not sent", extra={"event": "mail_not_configured"})
        return False
    _print_to_console(message)
    return True


def _send_smtp(message: EmailMessage, config: Any) -> None:
    host, port = config["SMTP_HOST"], config.get("SMTP_PORT") or 587
    try:
        with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
            if config.get("SMTP_STARTTLS", True):
                smtp.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USERNAME"):
                smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as error:
        log.error(
            "mail server failed", extra={"event": "mail_failed", "smtp_host": host, "error": type(error).__name__}
        )
        raise MailError(f"The mail server {host}:{port} did not accept the message.") from error
    log.info("mail sent", extra={"event": "mail_sent", "smtp_host": host})


def _print_to_console(message: EmailMessage) -> None:
    print(
        "----- e-mail (console backend: set SMTP_HOST to send real mail) -----\n"
        f"From: {message['From']}\nTo: {message['To']}\nSubject: {message['Subject']}\n\n"
        f"{message.get_content().rstrip()}\n"
        "----- end of e-mail -----",
        flush=True,
    )
