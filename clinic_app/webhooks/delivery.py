"""Delivering the outbox: at least once, in order per endpoint where possible, with backoff.

A worker claims a due delivery with one conditional UPDATE (``claimed_until``), so two workers
never send the same attempt, and a worker killed mid-way leaves a claim that lapses: the delivery
is tried again (receivers de-duplicate on ``webhook-id``). No transaction stays open while the
HTTP request runs. Due deliveries are taken oldest first, so one endpoint gets its events in the
order they happened unless one of them is waiting for a retry (which does not hold the others
up for days).

Retries follow ``SCHEDULE`` (about three days in all). A 2xx is success; a 410 disables the
endpoint at once; running out of attempts fails the delivery and disables the endpoint; both
tell the organization's owners and practice admins by e-mail.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, or_, select, update

from clinic_app.core import audit, crypto, tls
from clinic_app.core.jobs import JobContext, job_function
from clinic_app.core.mail import send_after_commit
from clinic_app.core.periodic import every_tick
from clinic_app.core.permissions import ADMIN, OWNER
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.webhooks import outbox, signing, targets
from clinic_app.webhooks.models import (
    DELIVERED,
    FAILED,
    PENDING,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

log = logging.getLogger("clinic_app.webhooks")

# Wait after attempt n failed (n = 1, 2, ...): about 3 days 3 hours from the first to the last.
SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(SCHEDULE) + 1
CLAIM = timedelta(minutes=2)  # longer than one request can take (TIMEOUT)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
BATCH = 200
RETENTION = timedelta(days=30)  # the log and its analytics look back this far
EXCERPT = 500
SECRET_FIELD = "webhook_endpoints.secret"  # noqa: S105 (a column name, not a secret)
PREVIOUS_SECRET_FIELD = "webhook_endpoints.previous_secret"  # noqa: S105 (a column name)


@dataclass(frozen=True)
class Outcome:
    status_code: int | None = None
    excerpt: str | None = None
    error: str | None = None
    latency_ms: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def secrets_in_force(endpoint: WebhookEndpoint, now: datetime | None = None) -> list[str]:
    """The endpoint's current secret, and the previous one during its 24 hours of grace."""
    vault = crypto.vault_for(endpoint.organization_id)
    found = [vault.decrypt(SECRET_FIELD, endpoint.secret, target_id=endpoint.id)]
    if endpoint.previous_secret and endpoint.previous_expires_at and endpoint.previous_expires_at > (now or utcnow()):
        found.append(vault.decrypt(PREVIOUS_SECRET_FIELD, endpoint.previous_secret, target_id=endpoint.id))
    return [value for value in found if isinstance(value, str)]


def send(url: str, headers: dict[str, str], body: bytes) -> Outcome:
    """POST ``body`` to ``url`` through the SSRF guard: resolved now, connected to the checked
    address, redirects not followed, environment proxies ignored."""
    try:
        target = targets.resolve_target(url)
    except targets.TargetRefused as refused:
        return Outcome(error=f"Refused: {refused}"[:300])
    request_headers = {
        **headers,
        "content-type": "application/json",
        "user-agent": "clinic-app-webhooks/1",
        "host": target.host_header,
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    started = time.monotonic()
    try:
        verify = tls.verified_context(trust_env=False)
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False, verify=verify) as client:
            request = client.build_request(
                "POST", target.connect_url, content=body, headers=request_headers, extensions=extensions
            )
            response = client.send(request, stream=True)
            try:
                chunk = b""
                for part in response.iter_bytes():
                    chunk += part
                    if len(chunk) >= EXCERPT:
                        break
            finally:
                response.close()
    except httpx.HTTPError as error:
        latency = int((time.monotonic() - started) * 1000)
        return Outcome(error=f"{type(error).__name__}: {error}"[:300], latency_ms=latency)
    latency = int((time.monotonic() - started) * 1000)
    return Outcome(response.status_code, chunk[:EXCERPT].decode(errors="replace"), None, latency)


def _claim(delivery_id: str, now: datetime) -> bool:
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == PENDING,
            or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
        )
        .values(claimed_until=now + CLAIM)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return claimed.rowcount == 1


def due_ids(now: datetime, organization_id: str | None = None, limit: int = BATCH) -> list[str]:
    query = (
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
            WebhookEndpoint.enabled.is_(True),
        )
        .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        .limit(limit)
    )
    if organization_id is not None:
        query = query.where(WebhookDelivery.organization_id == organization_id)
    return list(db.session.scalars(query))


def deliver_due(now: datetime | None = None, *, organization_id: str | None = None) -> dict[str, int]:
    """Attempt every due delivery (of one organization, or all) once; returns counts."""
    now = now or utcnow()
    ids = due_ids(now, organization_id)
    db.session.commit()
    done = {"attempted": 0, "delivered": 0}
    for delivery_id in ids:
        if not _claim(delivery_id, now):
            continue  # another worker has it
        done["attempted"] += 1
        if attempt(delivery_id, now):
            done["delivered"] += 1
    return done


def attempt(delivery_id: str, now: datetime) -> bool:
    """One attempt of a claimed delivery; records it and schedules what follows. True on success."""
    delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
    if delivery is None:
        return False
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    event = db.session.get(WebhookEvent, delivery.event_id)
    if endpoint is None or event is None or not endpoint.enabled:
        if delivery.status == PENDING:
            delivery.claimed_until = None
        db.session.commit()
        return False
    body, url, number = outbox.payload(event), endpoint.url, delivery.attempts + 1
    in_force = secrets_in_force(endpoint)
    db.session.commit()  # nothing held open while the receiver answers
    headers = signing.headers(in_force, event.id, int(time.time()), body) if in_force else {}
    outcome = send(url, headers, body) if in_force else Outcome(error="The signing secret cannot be read.")
    _record(delivery_id, number, url, headers, outcome, now)
    db.session.commit()
    return outcome.succeeded


def _record(delivery_id: str, number: int, url: str, headers: dict[str, str], outcome: Outcome, now: datetime) -> None:
    delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id) if delivery else None
    if delivery is None or endpoint is None:
        return
    db.session.add(
        WebhookAttempt(
            organization_id=delivery.organization_id,
            delivery_id=delivery.id,
            endpoint_id=endpoint.id,
            number=number,
            url=url,
            request_headers={k: v for k, v in headers.items() if k.startswith("webhook-")},
            status_code=outcome.status_code,
            response_excerpt=outcome.excerpt,
            error=outcome.error,
            latency_ms=outcome.latency_ms,
            succeeded=outcome.succeeded,
            created_at=utcnow(),
        )
    )
    delivery.attempts, delivery.claimed_until = number, None
    delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
    if outcome.succeeded:
        delivery.status, delivery.delivered_at = DELIVERED, utcnow()
    elif outcome.status_code == 410:
        delivery.status = FAILED
        disable(endpoint, "The receiver answered 410 Gone.")
    elif number >= MAX_ATTEMPTS:
        delivery.status = FAILED
        disable(endpoint, f"Deliveries kept failing ({number} attempts over about three days).")
    else:
        delivery.next_attempt_at = now + SCHEDULE[number - 1]


def disable(endpoint: WebhookEndpoint, reason: str) -> None:
    """Stop sending to ``endpoint``, audit it and tell the owners and practice admins."""
    if not endpoint.enabled:
        return
    endpoint.enabled, endpoint.disabled_reason, endpoint.updated_at = False, reason[:200], utcnow()
    audit.record(
        "webhook.endpoint_disabled",
        organization_id=endpoint.organization_id,
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        details={"reason": reason[:200]},
    )
    organization = orgs.get_organization(endpoint.organization_id)
    body = (
        f"The webhook endpoint {endpoint.url} of {organization.name} was disabled.\n\n"
        f"Why: {reason}\n\nCheck the receiver, then enable the endpoint again on the Integrations page; "
        "failed deliveries can be retried from its delivery log.\n"
    )
    for membership, user in orgs.members(endpoint.organization_id):
        if membership.is_active and membership.role in (OWNER, ADMIN):
            send_after_commit(user.email, "A webhook endpoint was disabled", body)
    log.warning("webhook endpoint disabled", extra={"event": "webhook_endpoint_disabled", "endpoint": endpoint.id})


# --- what runs it -----------------------------------------------------------------------------


@job_function(outbox.DELIVER_KIND, read_permission=None, cancel_permission=None)
def deliver_job(_ctx: JobContext, **params: Any) -> dict[str, int]:
    """Queued after a transaction that wrote events: deliver that organization's due events now."""
    return deliver_due(organization_id=params.get("for_organization"))


def purge_old(now: datetime) -> int:
    """Forget events older than ``RETENTION`` with nothing left to deliver (their deliveries and
    attempts go with them); a delivery still pending (its endpoint disabled) is kept."""
    pending = select(WebhookDelivery.id).where(
        WebhookDelivery.event_id == WebhookEvent.id, WebhookDelivery.status == PENDING
    )
    old = select(WebhookEvent.id).where(WebhookEvent.created_at < now - RETENTION, ~pending.exists()).limit(BATCH)
    ids = list(db.session.scalars(old))
    if ids:
        db.session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(ids)))
    db.session.commit()
    return len(ids)


@every_tick("webhooks.deliver")
def deliver_tick(now: datetime) -> dict[str, int]:
    """The clock's sweep: retries that came due and anything a dead worker left behind, then a
    batch of the log older than ``RETENTION``."""
    done = deliver_due(now)
    done["purged"] = purge_old(now)
    return done
