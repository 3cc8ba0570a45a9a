"""The organization's Cliniko connection: connect (the key tested, then stored encrypted), test,
disconnect, a client with the stored key, and the connection's status as pages and the API show it.

The API key is encrypted at rest; only its hint (``••••••••abcd-au4``) is ever shown, logged or
audited. Functions only flush: the request or command commits.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

import httpx
from flask import current_app
from sqlalchemy import func, select

from clinic_app.core import audit, crypto
from clinic_app.core.errors import Conflict, FieldError, Invalid, Unavailable
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.figures.signals import figures_changed
from clinic_app.orgs import service as orgs
from clinic_app.sync.client import LIMIT_WINDOW_SECONDS, ClinikoClient
from clinic_app.sync.cliniko import DEFAULT_SHARD, ClinikoAuthError, ClinikoError, mask_key, shard_of
from clinic_app.sync.models import API_KEY_FIELD, ClinikoConnection, ClinikoLink
from clinic_app.sync.ratelimit import shared_limiter
from clinic_app.sync.runs import running_run

log = logging.getLogger("clinic_app.sync")

NOT_CONNECTED = "Cliniko is not connected for this organization. Connect it with an API key first."


def get_connection(organization_id: str) -> ClinikoConnection | None:
    return db.session.scalar(select(ClinikoConnection).where(ClinikoConnection.organization_id == organization_id))


def require_connection(organization_id: str) -> ClinikoConnection:
    connection = get_connection(organization_id)
    if connection is None:
        raise Conflict(NOT_CONNECTED)
    return connection


def _client(api_key: str, template: str | None) -> ClinikoClient:
    """A client with the app's options (``SYNC_CLIENT_OPTIONS``: pacing, retries, timeouts)."""
    options = {"requests_per_minute": current_app.config.get("CLINIKO_REQUESTS_PER_MINUTE", 200)}
    options |= current_app.config.get("SYNC_CLIENT_OPTIONS", {})
    if not {"clock", "sleep", "limiter"} & options.keys():
        # One budget per key in this process: the read-sync and the outbox share Cliniko's 200 a minute.
        fingerprint = hashlib.sha256(api_key.encode()).hexdigest()
        options["limiter"] = shared_limiter(fingerprint, options["requests_per_minute"], LIMIT_WINDOW_SECONDS)
    return ClinikoClient(api_key, base_url=template, **options)


def client_for(organization_id: str) -> ClinikoClient:
    """A client with the organization's stored key. Raises Conflict when not connected (or, in
    production, when the stored address is not Cliniko's own), Unavailable when the stored key
    cannot be decrypted."""
    connection = require_connection(organization_id)
    template = connection.base_url_template
    if template is not None and current_app.config.get("PRODUCTION", False) and not is_cliniko_address(template):
        raise Conflict("The stored Cliniko address is not Cliniko's own. Connect Cliniko again with the API key.")
    vault = crypto.vault_for(organization_id)
    key = vault.decrypt(API_KEY_FIELD, connection.api_key_enc, target_id=connection.id)
    if not isinstance(key, str):
        raise Unavailable("The stored Cliniko API key cannot be read. Connect Cliniko again with the key.")
    return _client(key, template)


def _clean_key(api_key: str) -> str:
    key = (api_key or "").strip()
    if not key or len(key) > 200 or any(ch.isspace() for ch in key):
        raise Invalid(errors=[FieldError("api_key", "Paste the API key from Cliniko (My Info -> Manage API keys).")])
    return key


# Cliniko's API lives on one host per shard: api.au1.cliniko.com, api.uk2.cliniko.com ...
CLINIKO_HOST = re.compile(r"^api\.[a-z]{2}[0-9]{1,2}\.cliniko\.com$")
CLINIKO_EXAMPLE = "https://api.{shard}.cliniko.com/v1"
UNREACHABLE = "Could not reach Cliniko at that address. Check the address and try again."


def is_cliniko_address(template: str) -> bool:
    """Whether ``template`` (``{shard}`` allowed) is Cliniko's own API: https, a Cliniko shard's
    host, the default port, the path ``/v1``, nothing else."""
    try:
        url = httpx.URL(template.strip().rstrip("/").replace("{shard}", DEFAULT_SHARD))
    except httpx.InvalidURL:
        return False
    return (
        url.scheme == "https"
        and CLINIKO_HOST.match(url.host or "") is not None
        and url.port in (None, 443)
        and url.path == "/v1"
        and not url.query
        and not url.fragment
        and not url.userinfo
    )


def _clean_template(template: str | None) -> str | None:
    """A non-default API address. Production accepts only Cliniko's own (``is_cliniko_address``);
    development and tests also take any http(s) address (the sandbox's)."""
    if template is None or not template.strip():
        return None
    text = template.strip().rstrip("/")
    if current_app.config.get("PRODUCTION", False):
        if len(text) > 300 or not is_cliniko_address(text):
            message = f"Give Cliniko's https address, e.g. {CLINIKO_EXAMPLE}."
            raise Invalid(errors=[FieldError("base_url", message)])
        return text
    try:
        url = httpx.URL(text.replace("{shard}", DEFAULT_SHARD))
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("https", "http") or not url.host or len(text) > 300:
        raise Invalid(errors=[FieldError("base_url", f"Give an http(s) address, e.g. {CLINIKO_EXAMPLE}.")])
    return text


def _try(client: ClinikoClient) -> dict[str, Any]:
    """``client.test_connection()`` with Cliniko's errors as domain errors.

    A refused key (401) is said as such; every other failure, whether nothing listens at the
    address, something else answers there, or Cliniko is down, is the one sentence ``UNREACHABLE``
    with the same status: what a remote server says is never echoed, and the answer does not tell
    a closed port from an open one."""
    try:
        return client.test_connection()
    except ClinikoAuthError as error:
        raise Invalid(errors=[FieldError("api_key", str(error))]) from None
    except ClinikoError as error:
        _log_unreachable(error)
        raise Unavailable(UNREACHABLE) from None
    finally:
        client.close()


def _log_unreachable(error: ClinikoError) -> None:
    # The kind of failure and the status, for whoever runs the servers; never the body.
    log.warning(
        "cliniko connection test failed",
        extra={"event": "cliniko_test_failed", "error": type(error).__name__, "status": error.status_code},
    )


def connect(
    organization_id: str,
    api_key: str,
    *,
    base_url_template: str | None = None,
    actor: audit.Actor,
    test: bool = True,
) -> ClinikoConnection:
    """Store (or replace) the organization's Cliniko key, encrypted, after proving it works
    (unless ``test`` is off). Records ``cliniko.connected`` with the shard and key hint.

    Raises Invalid (key refused, e.g. the wrong shard; or a bad address), Unavailable (Cliniko
    unreachable), Conflict (a sync is running), NotFound (no such organization). Nothing is
    stored when it raises.
    """
    orgs.get_organization(organization_id)
    key, template = _clean_key(api_key), _clean_template(base_url_template)
    if running_run(organization_id) is not None:
        raise Conflict("A sync is running. Wait for it to finish (or cancel it) before changing the key.")
    found = _try(_client(key, template)) if test else {"businesses": []}
    sealed = crypto.vault_for(organization_id).encrypt(API_KEY_FIELD, key) or ""
    connection = get_connection(organization_id)
    replaced = connection is not None
    if replaced and test and _business_ids(connection.businesses) != _business_ids(found["businesses"]):
        # Another Cliniko account: "changed since the last sync" means nothing for it, so the
        # next incremental reads everything.
        connection.last_incremental_cursor = None
    if connection is None:
        connection = ClinikoConnection(organization_id=organization_id, api_key_enc=sealed)
        db.session.add(connection)
    now = utcnow()
    connection.api_key_enc = sealed
    connection.key_hint, connection.shard, connection.base_url_template = mask_key(key), shard_of(key), template
    connection.businesses = found["businesses"]
    connection.time_zone = next((b["time_zone"] for b in found["businesses"] if b.get("time_zone")), None)
    connection.connected_by_id, connection.connected_at = actor.user_id, now
    connection.last_tested_at, connection.last_test_ok = (now, True) if test else (None, None)
    db.session.flush()
    audit.record(
        "cliniko.connected",
        organization_id=organization_id,
        actor=actor,
        target_type="cliniko_connection",
        target_id=connection.id,
        details={"shard": connection.shard, "key_hint": connection.key_hint, "tested": test, "replaced": replaced},
    )
    figures_changed.send(__name__, organization_id=organization_id, patient_ids=None)  # the Cliniko tile appears
    return connection


def _business_ids(businesses: list[dict[str, Any]] | None) -> set[str]:
    return {str(business.get("id")) for business in businesses or []}


def disconnect(organization_id: str, *, actor: audit.Actor) -> None:
    """Forget the key (synced records stay). Raises Conflict when not connected or a sync runs."""
    connection = require_connection(organization_id)
    if running_run(organization_id) is not None:
        raise Conflict("A sync is running. Cancel it before disconnecting Cliniko.")
    hint = connection.key_hint
    db.session.delete(connection)
    db.session.flush()
    audit.record(
        "cliniko.disconnected",
        organization_id=organization_id,
        actor=actor,
        target_type="cliniko_connection",
        target_id=connection.id,
        details={"key_hint": hint},
    )
    figures_changed.send(__name__, organization_id=organization_id, patient_ids=None)  # the Cliniko tile goes


def test_connection(organization_id: str, *, actor: audit.Actor | None = None) -> dict[str, Any]:
    """Try the stored key now. Returns ``{"ok", "shard", "businesses", "error"}`` (never raises
    for Cliniko's answer, so the failed test is recorded on the connection). Raises Conflict when
    not connected."""
    connection = require_connection(organization_id)
    result: dict[str, Any] = {"ok": False, "shard": connection.shard, "businesses": connection.businesses}
    result["error"] = None
    try:
        with client_for(organization_id) as client:
            result.update(ok=True, businesses=client.test_connection()["businesses"])
    except ClinikoAuthError as error:
        result["error"] = str(error)
    except ClinikoError as error:
        _log_unreachable(error)
        result["error"] = UNREACHABLE  # as in ``_try``: nothing the remote end said, one sentence
    connection.last_tested_at, connection.last_test_ok = utcnow(), result["ok"]
    if result["ok"]:
        connection.businesses = result["businesses"]
    audit.record(
        "cliniko.tested",
        organization_id=organization_id,
        actor=actor,
        target_type="cliniko_connection",
        target_id=connection.id,
        outcome=audit.SUCCESS if result["ok"] else audit.FAILURE,
    )
    return result


def connection_status(organization_id: str) -> dict[str, Any]:
    """What an admin page or the status API shows (times are aware UTC datetimes; no key)."""
    connection = get_connection(organization_id)
    running = running_run(organization_id)
    status: dict[str, Any] = {
        "organization_id": organization_id,
        "cliniko_connected": connection is not None,
        "running_sync_id": running.id if running else None,
    }
    if connection is None:
        return status
    linked = db.session.scalar(
        select(func.count()).where(ClinikoLink.organization_id == organization_id, ClinikoLink.resource == "patients")
    )
    return status | {
        "api_region": connection.shard,
        "key_hint": connection.key_hint,
        "custom_base_url": connection.base_url_template is not None,
        "businesses": connection.businesses,
        "time_zone": connection.time_zone,
        "sync_enabled": connection.scheduled_sync_enabled,
        "sync_interval_minutes": connection.sync_interval_minutes,
        "connected_at": connection.connected_at,
        "last_tested_at": connection.last_tested_at,
        "credentials_valid": connection.last_test_ok,
        "last_sync": connection.last_successful_sync_at,
        "total_patients": int(linked or 0),
    }
