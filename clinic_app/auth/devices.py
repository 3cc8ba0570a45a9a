"""The devices a person signs in from: a readable name for a user agent ("Chrome 131 on Windows"),
and a mail when they sign in from one their account has not used before.

A device is the browser, the system and the hardware named by the user agent, never their
versions: a browser that updates itself is the same device. It is stored as a keyed hash (the
user agent is the caller's to write, and the list of a person's devices is nobody's business), one
row per person and device, inserted with ``INSERT … ON CONFLICT DO NOTHING``: of two sign-ins
racing from the same new device exactly one inserts the row, and only that one mails.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from flask import current_app, url_for
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from ua_parser import parse

from clinic_app.accounts.models import User
from clinic_app.auth.models import KnownDevice
from clinic_app.core import audit
from clinic_app.core.credentials import keyed_hash
from clinic_app.core.db import new_id
from clinic_app.core.mail import public_url, send_after_commit
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

UNKNOWN = "Unknown device"
LABEL_MAX = 120
NEW_DEVICE_SUBJECT = "New sign-in to your account"

# The parser's names for mobile builds of a browser, as people call them.
_BROWSER_NAMES = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
}
# Safari's version follows the system's, so it tells a person nothing.
_VERSIONLESS = {"Safari"}
_SYSTEM_NAMES = {"Mac OS X": "macOS", "Chrome OS": "ChromeOS"}
# On these systems the hardware (iPhone, iPad) says more than the system's name.
_BY_HARDWARE = {"iOS", "iPadOS"}
_CLIENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,39}")


@dataclass(frozen=True)
class Device:
    label: str  # what a person reads: "Chrome 131 on Windows", "API client (python-httpx)"
    key: str  # what makes it the same device: browser, system and hardware, no versions


def _tidy(text: str) -> str:
    """Printable characters only, one line, within the label's column (the user agent is the
    caller's to write, and the label goes into an e-mail)."""
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] not in ("C", "Z") or ch == " ")
    return " ".join(kept.split())[:LABEL_MAX] or UNKNOWN


def describe(user_agent: str | None) -> Device:
    """The device a user agent names, for people and for recognising it next time."""
    text = (user_agent or "").strip()
    if not text:
        return Device(UNKNOWN, "unknown")
    found = parse(text[:500])
    browser, system, hardware = found.user_agent, found.os, found.device
    if text.startswith("Mozilla/") and browser is not None and browser.family != "Other":
        name = _BROWSER_NAMES.get(browser.family, browser.family)
        version = browser.major if browser.major and name not in _VERSIONLESS else None
        system_name = system.family if system is not None and system.family != "Other" else None
        hardware_name = hardware.family if hardware is not None and hardware.family != "Other" else None
        if system_name in _BY_HARDWARE and hardware_name:
            place = hardware_name
        else:
            place = _SYSTEM_NAMES.get(system_name or "", system_name)
        label = name + (f" {version}" if version else "") + (f" on {place}" if place else "")
        return Device(_tidy(label), f"browser|{browser.family}|{system_name or ''}|{hardware_name or ''}")
    client = _CLIENT_NAME.match(text)
    if client is None:
        return Device(UNKNOWN, "unknown")
    return Device(f"API client ({client.group(0)})", f"client|{client.group(0).lower()}")


def device_label(user_agent: str | None) -> str:
    """A readable name for the device behind a user agent: "Chrome 131 on Windows", "Safari on
    iPhone", "API client (python-httpx)" for programs, "Unknown device" when it says nothing."""
    return describe(user_agent).label


def _device_hash(device: Device) -> str:
    return keyed_hash(current_app.config["SECRET_KEY"], device.key)


def _insert_if_new(user_id: str, device_hash: str, label: str) -> str | None:
    """Insert the person's device row unless it exists; the new row's id, or None when it was
    already there (also when a racing sign-in inserted it a moment ago)."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    now = utcnow()
    return db.session.scalar(
        dialect.insert(KnownDevice)
        .values(
            id=new_id(KnownDevice.id_prefix),
            user_id=user_id,
            device_hash=device_hash,
            label=label,
            first_seen_at=now,
            last_seen_at=now,
        )
        .on_conflict_do_nothing(index_elements=["user_id", "device_hash"])
        .returning(KnownDevice.id)
    )


def note_sign_in(user: User, *, ip_address: str | None, user_agent: str | None) -> None:
    """Remember the device of a sign-in (browser or API log-in) that just succeeded. From a device
    new to the account, when the account has signed in from another before (so not at the very
    first sign-in), mail the person and audit ``auth.new_device``. Joins the caller's unit of work:
    nothing is kept or sent if it rolls back. Needs a request context (the mail's link)."""
    device = describe(user_agent)
    device_hash = _device_hash(device)
    inserted = _insert_if_new(user.id, device_hash, device.label)
    if inserted is None:
        db.session.execute(
            update(KnownDevice)
            .where(KnownDevice.user_id == user.id, KnownDevice.device_hash == device_hash)
            .values(last_seen_at=utcnow(), label=device.label)
            .execution_options(synchronize_session=False)
        )
        return
    others = db.session.scalar(
        select(func.count()).select_from(KnownDevice).where(KnownDevice.user_id == user.id, KnownDevice.id != inserted)
    )
    if not others:
        return
    audit.record(
        "auth.new_device",
        organization_id=None,
        actor=audit.Actor(user_id=user.id),
        target_type="user",
        target_id=user.id,
        details={"device": device.label},
    )
    _mail_new_device(user, device.label, ip_address)


def _mail_new_device(user: User, label: str, ip_address: str | None) -> None:
    when = utcnow().strftime("%d %b %Y at %H:%M UTC")
    body = (
        f"Hello {user.display_name},\n\n"
        f"Your account {user.email} was just signed in to from a device it has not used before:\n\n"
        f"    Device: {label}\n"
        f"    IP address: {ip_address or 'unknown'}\n"
        f"    Time: {when}\n\n"
        "If this was you, there is nothing to do.\n\n"
        "If it was not you, change your password now (that signs out every other device):\n"
        f"{public_url(url_for('accounts.account'))}\n\n"
        "You can see and sign out every device signed in to your account here:\n"
        f"{public_url(url_for('auth.account_sessions'))}\n"
    )
    send_after_commit(user.email, NEW_DEVICE_SUBJECT, body)
