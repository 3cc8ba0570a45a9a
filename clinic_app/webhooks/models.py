"""Tables of the webhooks feature: endpoints, the outbox of events, one delivery per event and
endpoint (the delivery log, seed 000's ``log_id``), each attempt of a delivery, and the
organization's integration settings (CORS origins)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core import crypto
from clinic_app.core.db import Model, PublicIdMixin
from clinic_app.core.time import utcnow

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class WebhookEndpoint(PublicIdMixin, Model):
    """Where an organization wants events sent. The signing secrets are encrypted with the
    organization's data key; after a rotation the previous one keeps signing until it expires."""

    __tablename__ = "webhook_endpoints"
    id_prefix = "whe"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(Text)  # encrypted whsec_...
    previous_secret: Mapped[str | None] = mapped_column(Text)  # encrypted, valid until previous_expires_at
    previous_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEvent(PublicIdMixin, Model):
    """The outbox: written in the transaction of the change it reports. Its id is the
    ``webhook-id`` every delivery of it carries (receivers de-duplicate on it)."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_org_time", "organization_id", "created_at"),)
    id_prefix = "msg"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(60))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # ids only, never PHI
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(PublicIdMixin, Model):
    """One event on its way to one endpoint: the delivery log's row."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at"),
    )
    id_prefix = "whd"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    # A worker's claim: another worker leaves the row alone until it lapses (a killed worker's
    # claim lapses too, and the delivery is tried again: at least once).
    claimed_until: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(PublicIdMixin, Model):
    """One HTTP request of a delivery: what was sent and what came back."""

    __tablename__ = "webhook_attempts"
    id_prefix = "wha"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2000))
    request_headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    status_code: Mapped[int | None]
    response_excerpt: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(String(300))
    latency_ms: Mapped[int | None]
    succeeded: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IntegrationSettings(Model):
    """An organization's integration settings: the browser origins its API clients run on."""

    __tablename__ = "integration_settings"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    cors_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# Key rotation re-encrypts the signing secrets with the rest of the organization's fields.
crypto.encrypted_column(WebhookEndpoint, "secret", "webhook_endpoints.secret")
crypto.encrypted_column(WebhookEndpoint, "previous_secret", "webhook_endpoints.previous_secret")
