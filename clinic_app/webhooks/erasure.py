"""What erasing a patient removes of the webhooks outbox (``patients.signals``): deliveries not yet
made of events about the patient (``data.patient_id``) are deleted, and their events with them when
no delivery of theirs is left. Payloads carry ids only, so the delivery log of what was already
sent holds nothing to erase."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from clinic_app.extensions import db
from clinic_app.patients.signals import ERASE, InventoryLine, erasure_inventory, patient_erasing
from clinic_app.webhooks.models import PENDING, WebhookDelivery, WebhookEvent


def _pending(organization_id: str, patient_id: str) -> list[tuple[str, str]]:
    """(delivery id, event id) of the pending deliveries about the patient. Pending deliveries are
    few (they go out within seconds, or within days when an endpoint fails), so the events' JSON
    is read here rather than queried in two dialects."""
    rows = db.session.execute(
        select(WebhookDelivery.id, WebhookEvent.id.label("event_id"), WebhookEvent.data)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.organization_id == organization_id, WebhookDelivery.status == PENDING)
    ).all()
    return [(row.id, row.event_id) for row in rows if (row.data or {}).get("patient_id") == patient_id]


@erasure_inventory.connect
def webhooks_inventory(_sender: Any, *, organization_id: str, patient_id: str, **_: Any) -> list[InventoryLine]:
    return [
        InventoryLine(
            "webhooks",
            "Webhook deliveries about the patient not yet sent",
            len(_pending(organization_id, patient_id)),
            ERASE,
        )
    ]


@patient_erasing.connect
def erase_pending_deliveries(
    _sender: Any, *, organization_id: str, patient_id: str, erased_at: datetime, **_: Any
) -> None:
    pending = _pending(organization_id, patient_id)
    if not pending:
        return
    db.session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.id.in_([delivery for delivery, _ in pending]))
        .execution_options(synchronize_session=False)
    )
    events = {event for _, event in pending}
    still_used = set(db.session.scalars(select(WebhookDelivery.event_id).where(WebhookDelivery.event_id.in_(events))))
    if events - still_used:
        db.session.execute(
            delete(WebhookEvent)
            .where(WebhookEvent.id.in_(events - still_used))
            .execution_options(synchronize_session=False)
        )
