"""The delivery log (seed 000's ``logs``, ``status/{log_id}``, ``retry/{log_id}``: a log id is a
delivery's id), its analytics per endpoint, and the organization's integration settings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import and_, or_, select

from clinic_app.core import audit, text
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.pagination import bad_cursor, decode_cursor, encode_cursor
from clinic_app.core.time import isoformat, utcnow
from clinic_app.extensions import db
from clinic_app.webhooks import outbox
from clinic_app.webhooks.endpoints import get_endpoint, list_endpoints
from clinic_app.webhooks.models import (
    FAILED,
    PENDING,
    IntegrationSettings,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

NOT_FOUND = "No such delivery."
ANALYTICS_WINDOW = timedelta(days=30)
MAX_ORIGINS = 20


@dataclass(frozen=True)
class DeliveryView:
    delivery: WebhookDelivery
    event: WebhookEvent
    attempts: list[WebhookAttempt]


def get_delivery(organization_id: str, delivery_id: str) -> WebhookDelivery:
    found = db.session.get(WebhookDelivery, delivery_id) if delivery_id and not text.unusable(delivery_id) else None
    if found is None or found.organization_id != organization_id:
        raise NotFound(NOT_FOUND)
    return found


def _view(delivery: WebhookDelivery) -> DeliveryView:
    attempts = db.session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id).order_by(WebhookAttempt.number)
    )
    event = db.session.get(WebhookEvent, delivery.event_id)
    assert event is not None
    return DeliveryView(delivery, event, list(attempts))


def delivery_status(organization_id: str, delivery_id: str) -> DeliveryView:
    return _view(get_delivery(organization_id, delivery_id))


def _cursor_anchor(cursor: str) -> tuple[datetime, str]:
    try:
        moment, delivery_id = decode_cursor(cursor).split("|", 1)
        return datetime.fromisoformat(moment), delivery_id
    except ValueError:
        raise bad_cursor() from None


def list_deliveries(
    organization_id: str,
    *,
    endpoint_id: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[DeliveryView], str | None]:
    """Newest first, a page at a time; ``next_cursor`` while more remain."""
    query = select(WebhookDelivery).where(WebhookDelivery.organization_id == organization_id)
    if endpoint_id:
        query = query.where(WebhookDelivery.endpoint_id == get_endpoint(organization_id, endpoint_id).id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    if cursor:
        moment, last_id = _cursor_anchor(cursor)
        query = query.where(
            or_(
                WebhookDelivery.created_at < moment,
                and_(WebhookDelivery.created_at == moment, WebhookDelivery.id < last_id),
            )
        )
    rows = list(
        db.session.scalars(
            query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit + 1)
        )
    )
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = encode_cursor(f"{rows[-1].created_at.isoformat()}|{rows[-1].id}") if more and rows else None
    return [_view(row) for row in rows], next_cursor


def retry_now(
    organization_id: str, delivery_id: str, *, actor: audit.Actor, now: datetime | None = None
) -> WebhookDelivery:
    """Put a delivery back at the front of the queue (a failed one too); delivered after commit."""
    delivery = get_delivery(organization_id, delivery_id)
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        raise Conflict("This delivery's endpoint is disabled: enable it before retrying.")
    if delivery.status not in (PENDING, FAILED):
        raise Conflict("This delivery has already been delivered.")
    delivery.status, delivery.next_attempt_at, delivery.claimed_until = PENDING, now or utcnow(), None
    db.session.flush()
    audit.record(
        "webhook.delivery_retried",
        organization_id=organization_id,
        actor=actor,
        target_type="webhook_delivery",
        target_id=delivery.id,
    )
    outbox.kick(organization_id)
    return delivery


def _p95(values: list[int]) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def analytics(organization_id: str, *, now: datetime | None = None) -> list[dict[str, object]]:
    """Per endpoint, over the last 30 days: attempts, success rate (%), p95 latency (ms) and the
    last failure."""
    since = (now or utcnow()) - ANALYTICS_WINDOW
    result = []
    for endpoint in list_endpoints(organization_id):
        attempts = list(
            db.session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.endpoint_id == endpoint.id, WebhookAttempt.created_at >= since)
                .order_by(WebhookAttempt.created_at)
            )
        )
        failures = [a for a in attempts if not a.succeeded]
        last = failures[-1] if failures else None
        result.append(
            {
                "endpoint": endpoint,
                "attempts": len(attempts),
                "succeeded": len(attempts) - len(failures),
                "success_rate": round(100 * (len(attempts) - len(failures)) / len(attempts), 1) if attempts else None,
                "p95_latency_ms": _p95([a.latency_ms for a in attempts if a.latency_ms is not None]),
                "last_failure_at": isoformat(last.created_at) if last else None,
                "last_failure": (last.error or f"HTTP {last.status_code}") if last else None,
            }
        )
    return result


# --- integration settings: CORS origins ---------------------------------------------------------


def cors_origins(organization_id: str) -> list[str]:
    """The browser origins allowed to call the API and FHIR with this organization's tokens."""
    row = db.session.get(IntegrationSettings, organization_id)
    return list(row.cors_origins) if row is not None else []


def _origin(value: str) -> str:
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    production = bool(current_app.config.get("PRODUCTION"))
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme not in (("https",) if production else ("https", "http"))
        or not parts.hostname
        or port == -1
        or parts.username is not None
        or parts.path
        or parts.query
        or parts.fragment
        or "*" in value
    ):
        raise ValueError(value)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def set_cors_origins(organization_id: str, origins: list[str], *, actor: audit.Actor) -> list[str]:
    """Replace the allowed origins (``https://app.example.com``: scheme, host and port only, no
    wildcard). Raises Invalid."""
    cleaned: list[str] = []
    for raw in origins:
        if not raw.strip():
            continue
        try:
            cleaned.append(_origin(raw))
        except ValueError:
            shown = raw.strip()[:80]
            message = f"{shown!r} is not an origin such as https://app.example.com (no path, no wildcard)."
            raise Invalid(errors=[FieldError("cors_origins", message, "INVALID_ORIGIN")]) from None
    cleaned = list(dict.fromkeys(cleaned))
    if len(cleaned) > MAX_ORIGINS:
        raise Invalid(errors=[FieldError("cors_origins", f"At most {MAX_ORIGINS} origins.", "TOO_MANY")])
    row = db.session.get(IntegrationSettings, organization_id)
    if row is None:
        row = IntegrationSettings(organization_id=organization_id, cors_origins=[])
        db.session.add(row)
    row.cors_origins, row.updated_at = cleaned, utcnow()
    db.session.flush()
    audit.record(
        "integrations.cors_origins_changed",
        organization_id=organization_id,
        actor=actor,
        target_type="organization",
        target_id=organization_id,
        details={"origins": cleaned},
    )
    return cleaned


def origin_allowed(origin: str, organization_id: str | None) -> bool:
    """Whether ``origin`` is listed by the organization (by any organization when None: a
    preflight carries no credentials to say whose request follows)."""
    origin = origin.lower()
    if organization_id is not None:
        return origin in cors_origins(organization_id)
    rows = db.session.scalars(select(IntegrationSettings.cors_origins))
    return any(origin in (origins or []) for origins in rows)
