"""The transactional outbox: an event row, and one delivery row per endpoint that wants it,
written in the transaction of the change it reports (a rolled-back change sends nothing; a
committed one is delivered even if every worker dies right after the commit).

``emit`` is called by the signal receivers in ``clinic_app.webhooks.subscribers`` and by "send
test event". Payloads are thin: the event type, its time and ids; the receiver fetches details
with its own token. After the commit a ``webhooks.deliver`` job delivers at once; the clock's
``webhooks.deliver`` task picks up whatever a dead worker or a failed attempt left behind.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from clinic_app.core import jobs
from clinic_app.core.errors import Unavailable
from clinic_app.core.time import isoformat, utcnow
from clinic_app.extensions import db
from clinic_app.webhooks.models import PENDING, WebhookDelivery, WebhookEndpoint, WebhookEvent

log = logging.getLogger("clinic_app.webhooks")

DELIVER_KIND = "webhooks.deliver"
_KICK = "webhooks_kick"

# Every event type an endpoint may subscribe to, with what it means.
EVENT_TYPES: dict[str, str] = {
    "patient.created": "A patient was registered here (intake, the patient form or the API).",
    "patient.updated": "A patient's details changed, or an archived patient was restored.",
    "patient.archived": "A patient was archived.",
    "appointment.booked": "An appointment was booked.",
    "appointment.rescheduled": "An appointment was moved.",
    "appointment.cancelled": "An appointment was cancelled.",
    "appointment.attended": "A patient arrived for an appointment.",
    "appointment.did_not_arrive": "A patient did not arrive for an appointment.",
    "sync.completed": "A Cliniko sync finished.",
    "sync.failed": "A Cliniko sync failed.",
    "report.signed": "A clinician signed a report.",
    "invoice.issued": "An invoice was issued.",
    "invoice.paid": "An invoice was paid in full.",
    "reengagement.flagged": "A patient was flagged for re-engagement.",
    "health_data.analysed": "A health-data analysis finished.",
    "webhook.test": "A test event sent from the Integrations page or the API.",
}


def payload(event: WebhookEvent) -> bytes:
    """The body every delivery of ``event`` carries, byte for byte the same each time."""
    content = {"type": event.type, "timestamp": isoformat(event.created_at), "data": event.data}
    return json.dumps(content, separators=(",", ":"), sort_keys=True).encode()


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    if event_type == "webhook.test":
        return False  # test events go to the one endpoint they are sent to
    return endpoint.enabled and (not endpoint.event_types or event_type in endpoint.event_types)


def _enabled_endpoints(organization_id: str, event_type: str) -> list[WebhookEndpoint]:
    rows = db.session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.enabled.is_(True)
        )
    )
    return [endpoint for endpoint in rows if wants(endpoint, event_type)]


def anyone_wants(organization_id: str, event_type: str) -> bool:
    """Whether an enabled endpoint of the organization subscribes to ``event_type``."""
    return bool(_enabled_endpoints(organization_id, event_type))


def emit(
    organization_id: str,
    event_type: str,
    data: dict[str, Any],
    *,
    only_endpoint: WebhookEndpoint | None = None,
    now: datetime | None = None,
) -> WebhookEvent | None:
    """Record ``event_type`` (ids only in ``data``) for every enabled endpoint of the organization
    that subscribes to it, in the caller's transaction. None when no endpoint wants it."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    endpoints = [only_endpoint] if only_endpoint is not None else _enabled_endpoints(organization_id, event_type)
    if not endpoints:
        return None
    moment = now or utcnow()
    event = WebhookEvent(organization_id=organization_id, type=event_type, data=data, created_at=moment)
    db.session.add(event)
    db.session.flush()
    for endpoint in endpoints:
        db.session.add(
            WebhookDelivery(
                organization_id=organization_id,
                endpoint_id=endpoint.id,
                event_id=event.id,
                status=PENDING,
                next_attempt_at=moment,
                created_at=moment,
            )
        )
    db.session.flush()
    kick(organization_id)
    return event


def kick(organization_id: str) -> None:
    """Queue one delivery job per organization and transaction; when the queue is down the clock
    delivers later (the change itself must not fail for a webhook)."""
    kicked = db.session.info.setdefault(_KICK, set())
    if organization_id in kicked or _inside_eager_worker():
        return
    try:
        jobs.enqueue(DELIVER_KIND, organization_id=organization_id, for_organization=organization_id)
    except Unavailable:
        log.warning("webhook delivery job not queued", extra={"event": "webhook_kick_failed"})
        return
    kicked.add(organization_id)


def _inside_eager_worker() -> bool:
    """Whether this is a job run by the eager test backend, which waits for its worker to be idle
    after every commit: a job queued from inside a job would wait for itself. The events are
    delivered by the next delivery job or the clock instead."""
    worker = current_app.extensions.get("clinic_local_worker")
    return (
        current_app.config["JOBS_BACKEND"] == "eager"
        and worker is not None
        and threading.current_thread() is worker.thread
    )


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_kicks(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_KICK, None)
