"""Pydantic schemas of the webhooks JSON API (seed 000's paths, organization-scoped)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field

Id = Annotated[str, Field(max_length=40)]
EventType = Annotated[str, Field(max_length=60)]


class EndpointIn(Schema):
    url: str = Field(max_length=2000, description="Where events are POSTed (https outside development)")
    description: str = Field(default="", max_length=500)
    event_types: list[EventType] = Field(default_factory=list, max_length=30, description="Empty: every event type")
    enabled: bool = True


class EndpointPatch(Schema):
    url: str | None = Field(default=None, max_length=2000)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[EventType] | None = Field(default=None, max_length=30)
    enabled: bool | None = None


class EndpointOut(Schema):
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    previous_secret_expires_at: Timestamp | None = Field(description="While set, deliveries carry two signatures")
    created_at: Timestamp
    updated_at: Timestamp


class EndpointWithSecretOut(EndpointOut):
    secret: str = Field(description="The signing secret (whsec_...). Shown this once; store it now.")


class EndpointListOut(Schema):
    endpoints: list[EndpointOut]


class TriggerIn(Schema):
    endpoint_id: Id | None = Field(default=None, description="One endpoint; left out: every enabled endpoint")


class EventOut(Schema):
    id: str = Field(description="The webhook-id every delivery of the event carries")
    type: str
    created_at: Timestamp


class TriggerOut(Schema):
    events: list[EventOut]
    message: str


class AttemptOut(Schema):
    number: int
    status_code: int | None
    succeeded: bool
    latency_ms: int | None
    error: str | None
    response_excerpt: str | None
    created_at: Timestamp


class DeliveryOut(Schema):
    id: str = Field(description="The log id")
    endpoint_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: Timestamp | None
    last_status_code: int | None
    last_error: str | None
    created_at: Timestamp
    delivered_at: Timestamp | None
    attempt_log: list[AttemptOut]


class LogsQuery(Schema):
    endpoint_id: Id | None = None
    status: Literal["pending", "delivered", "failed"] | None = None
    limit: int = limit_field(50, 200)
    cursor: str | None = cursor_field()


class LogsOut(Schema):
    logs: list[DeliveryOut]
    limit: int
    next_cursor: str | None = next_cursor_field()


class RetryOut(Schema):
    log: DeliveryOut
    message: str


class TemplateOut(Schema):
    event_type: str
    description: str
    example: dict[str, Any]


class TemplatesOut(Schema):
    templates: list[TemplateOut]
    signature_headers: list[str]


class EndpointAnalytics(Schema):
    endpoint_id: str
    url: str
    enabled: bool
    attempts: int
    succeeded: int
    success_rate: float | None = Field(description="Per cent of attempts answered with a 2xx; null with none")
    p95_latency_ms: int | None
    last_failure_at: str | None
    last_failure: str | None


class AnalyticsOut(Schema):
    window_days: int
    endpoints: list[EndpointAnalytics]


class CorsIn(Schema):
    cors_origins: list[Annotated[str, Field(max_length=300)]] = Field(max_length=20)


class CorsOut(Schema):
    cors_origins: list[str]
