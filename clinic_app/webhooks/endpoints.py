"""Managing an organization's webhook endpoints: create, change, delete, rotate the signing
secret, send a test event. Every change is audited; a secret is returned only when it is made."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from clinic_app.core import audit, crypto, text
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.webhooks import outbox, signing, targets
from clinic_app.webhooks.delivery import PREVIOUS_SECRET_FIELD, SECRET_FIELD
from clinic_app.webhooks.models import WebhookEndpoint, WebhookEvent

ROTATION_GRACE = timedelta(hours=24)
MAX_ENDPOINTS = 20
DESCRIPTION_MAX = 500
NOT_FOUND = "No such webhook endpoint."


@dataclass(frozen=True)
class EndpointInput:
    url: str
    description: str
    event_types: tuple[str, ...]
    enabled: bool = True


def validate_input(url: str | None, description: str | None, event_types: list[str] | None, enabled: bool = True):
    """The endpoint's fields checked; raises Invalid naming each bad field. An empty list of event
    types means every event."""
    errors: list[FieldError] = []
    url = (url or "").strip()
    if not url:
        errors.append(FieldError("url", "Give the URL events are sent to.", "MISSING"))
    else:
        try:
            targets.check_literal_address(url)
        except targets.TargetRefused as refused:
            errors.append(FieldError("url", str(refused), "URL_REFUSED"))
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX or text.unusable(description):
        errors.append(FieldError("description", f"Keep the description under {DESCRIPTION_MAX} plain characters."))
    chosen = list(dict.fromkeys(event_types or []))
    unknown = [name for name in chosen if name not in outbox.EVENT_TYPES or name == "webhook.test"]
    if unknown:
        errors.append(FieldError("event_types", f"Unknown event type: {str(unknown[0])[:60]}.", "UNKNOWN_EVENT_TYPE"))
    if errors:
        raise Invalid(errors=errors)
    return EndpointInput(url, description, tuple(chosen), bool(enabled))


def list_endpoints(organization_id: str) -> list[WebhookEndpoint]:
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.organization_id == organization_id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
    )


def get_endpoint(organization_id: str, endpoint_id: str) -> WebhookEndpoint:
    """The organization's endpoint; NotFound for another organization's or an unknown id."""
    found = db.session.get(WebhookEndpoint, endpoint_id) if endpoint_id and not text.unusable(endpoint_id) else None
    if found is None or found.organization_id != organization_id:
        raise NotFound(NOT_FOUND)
    return found


def _audit(action: str, endpoint: WebhookEndpoint, actor: audit.Actor, **details: object) -> None:
    audit.record(
        action,
        organization_id=endpoint.organization_id,
        actor=actor,
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        details={key: value for key, value in details.items() if value is not None},
    )


def create_endpoint(organization_id: str, data: EndpointInput, *, actor: audit.Actor) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown once: only its ciphertext is kept)."""
    if len(list_endpoints(organization_id)) >= MAX_ENDPOINTS:
        raise Conflict(f"An organization has at most {MAX_ENDPOINTS} webhook endpoints.")
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        organization_id=organization_id,
        url=data.url,
        description=data.description,
        event_types=list(data.event_types),
        enabled=data.enabled,
        secret="",
    )
    endpoint.secret = crypto.vault_for(organization_id).encrypt(SECRET_FIELD, secret) or ""
    db.session.add(endpoint)
    db.session.flush()
    _audit("webhook.endpoint_created", endpoint, actor, event_types=list(data.event_types))
    return endpoint, secret


def update_endpoint(
    organization_id: str, endpoint_id: str, data: EndpointInput, *, actor: audit.Actor
) -> WebhookEndpoint:
    """Change an endpoint; enabling it again clears why it was disabled."""
    endpoint = get_endpoint(organization_id, endpoint_id)
    endpoint.url, endpoint.description, endpoint.event_types = data.url, data.description, list(data.event_types)
    if data.enabled and not endpoint.enabled:
        endpoint.disabled_reason = None
    endpoint.enabled, endpoint.updated_at = data.enabled, utcnow()
    db.session.flush()
    _audit("webhook.endpoint_updated", endpoint, actor, enabled=endpoint.enabled)
    return endpoint


def delete_endpoint(organization_id: str, endpoint_id: str, *, actor: audit.Actor) -> None:
    endpoint = get_endpoint(organization_id, endpoint_id)
    _audit("webhook.endpoint_deleted", endpoint, actor)
    db.session.delete(endpoint)
    db.session.flush()


def rotate_secret(
    organization_id: str, endpoint_id: str, *, actor: audit.Actor, now: datetime | None = None
) -> tuple[WebhookEndpoint, str]:
    """A new signing secret (returned once); the old one signs too for ``ROTATION_GRACE``."""
    endpoint = get_endpoint(organization_id, endpoint_id)
    now = now or utcnow()
    vault = crypto.vault_for(organization_id)
    old = vault.decrypt(SECRET_FIELD, endpoint.secret, target_id=endpoint.id)
    secret = signing.new_secret()
    if isinstance(old, str):
        endpoint.previous_secret = vault.encrypt(PREVIOUS_SECRET_FIELD, old)
        endpoint.previous_expires_at = now + ROTATION_GRACE
    endpoint.secret = vault.encrypt(SECRET_FIELD, secret) or ""
    endpoint.updated_at = now
    db.session.flush()
    _audit("webhook.secret_rotated", endpoint, actor)
    return endpoint, secret


def send_test_event(organization_id: str, endpoint_id: str, *, actor: audit.Actor) -> WebhookEvent:
    """A ``webhook.test`` event for this endpoint alone, delivered like any other."""
    endpoint = get_endpoint(organization_id, endpoint_id)
    if not endpoint.enabled:
        raise Conflict("This endpoint is disabled: enable it before sending a test event.")
    event = outbox.emit(organization_id, "webhook.test", {"endpoint_id": endpoint.id}, only_endpoint=endpoint)
    assert event is not None
    _audit("webhook.test_sent", endpoint, actor, event_id=event.id)
    return event
