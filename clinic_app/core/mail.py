"""Outgoing e-mail: SMTP when ``SMTP_HOST`` is set, otherwise the console; and ``public_url``, the
only way a link in a message is built.

The console backend exists so the embedded default works with nothing to install: the message is
printed where the developer can copy a link from it. In production a message may carry a one-time
credential, so without SMTP it is never printed (stdout there is the log stream); one warning,
without recipient or body, says mail is not configured.

A link in a message (an invitation, a confirmation, a password reset) starts with the configured
``PUBLIC_URL``, never with the address the request came in on: the Host header is the caller's to
choose, and a link built from it would send a one-time secret wherever they pointed it.

``send_after_commit`` is how a request sends mail: the message waits for the unit of work to
commit and then leaves from this process's outbox thread, after the answer.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from email.message import EmailMessage
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from clinic_app.extensions import db

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


# --- the outbox: mail sent after the answer -----------------------------------------------------
#
# A message waits on the unit of work (nothing is sent for a request that rolls back) and is then
# handed to one thread of this process, which sends it through core.mail while the answer goes
# out. Not a background job: a job's arguments are stored (in the jobs table and in Redis), and
# these messages carry one-time secrets that are stored nowhere but in the mailbox. A message
# still queued when the process dies is lost; the person asks again.

_OUTBOX = "mail_outbox"
_outbox_lock = threading.Lock()
_outbox: ThreadPoolExecutor | None = None
_pending: set[Future[None]] = set()


def send_after_commit(to: str, subject: str, body: str) -> None:
    """Send a plain-text message once the current unit of work commits (never if it rolls back),
    from the outbox thread, so neither the mail server's speed nor its failure shows in the answer."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    db.session.info.setdefault(_OUTBOX, []).append((app, to, subject, body))


def wait_for_outbox(timeout: float = 10.0) -> bool:
    """Wait until every message handed to the outbox was sent (or failed); False on timeout."""
    with _outbox_lock:
        pending = list(_pending)
    return not wait_for_futures(pending, timeout=timeout).not_done


def _executor() -> ThreadPoolExecutor:
    global _outbox
    with _outbox_lock:
        if _outbox is None:
            _outbox = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clinic-outbox")
        return _outbox


def _deliver(app: Flask, to: str, subject: str, body: str) -> None:
    with app.app_context():
        try:
            send_mail(to, subject, body)
        except MailError:
            pass  # core.mail logged it (without the message)
        except Exception:
            log.exception("outbox message failed", extra={"event": "outbox_failed"})


def _forget(future: Future[None]) -> None:
    with _outbox_lock:
        _pending.discard(future)


@event.listens_for(Session, "after_commit")
def _hand_over(session: Session) -> None:
    if session.in_nested_transaction():
        return
    messages: list[tuple[Any, str, str, str]] = session.info.pop(_OUTBOX, [])
    for message in messages:
        future = _executor().submit(_deliver, *message)
        with _outbox_lock:
            _pending.add(future)
        future.add_done_callback(_forget)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_OUTBOX, None)


def _after_fork() -> None:
    # A forked child has no outbox thread (and the lock may have been held by one): it starts
    # afresh on first use.
    global _outbox, _outbox_lock
    _outbox_lock = threading.Lock()
    _outbox = None
    _pending.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
