"""The webhooks JSON API: seed 000's ``/api/v1/webhooks/{organization_id}/trigger``, ``/logs``,
``/retry/{log_id}``, ``/templates``, ``/status/{log_id}`` and ``/analytics``, the endpoints'
CRUD, and the organization's CORS origins. Practice admins and owners (``admin:webhooks``)."""

from __future__ import annotations

from flask import Response

from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.tenancy import current_actor
from clinic_app.core.time import isoformat, utcnow
from clinic_app.webhooks import bp, endpoints, log, outbox
from clinic_app.webhooks.models import WebhookEndpoint
from clinic_app.webhooks.schemas import (
    AnalyticsOut,
    AttemptOut,
    CorsIn,
    CorsOut,
    DeliveryOut,
    EndpointAnalytics,
    EndpointIn,
    EndpointListOut,
    EndpointOut,
    EndpointPatch,
    EndpointWithSecretOut,
    EventOut,
    LogsOut,
    LogsQuery,
    RetryOut,
    TemplateOut,
    TemplatesOut,
    TriggerIn,
    TriggerOut,
)

TAGS = ("webhooks",)
BASE = "/api/v1/webhooks/<organization_id>"
PERMISSION = "admin:webhooks"


def endpoint_out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=list(endpoint.event_types),
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        previous_secret_expires_at=endpoint.previous_expires_at
        if endpoint.previous_expires_at and endpoint.previous_expires_at > utcnow()
        else None,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> EndpointWithSecretOut:
    return EndpointWithSecretOut(**endpoint_out(endpoint).model_dump(), secret=secret)


def delivery_out(view: log.DeliveryView) -> DeliveryOut:
    delivery = view.delivery
    return DeliveryOut(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=view.event.type,
        status=delivery.status,  # type: ignore[arg-type]
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        attempt_log=[AttemptOut.model_validate(attempt) for attempt in view.attempts],
    )


# --- endpoints ----------------------------------------------------------------------------------


@api_route(
    bp,
    f"{BASE}/endpoints",
    response=EndpointListOut,
    summary="List webhook endpoints",
    tags=TAGS,
    unpaged=f"an organization has at most {endpoints.MAX_ENDPOINTS} webhook endpoints",
)
@requires(PERMISSION)
def api_list_endpoints(organization_id: str) -> EndpointListOut:
    return EndpointListOut(endpoints=[endpoint_out(e) for e in endpoints.list_endpoints(organization_id)])


@api_route(
    bp,
    f"{BASE}/endpoints",
    methods=("POST",),
    body=EndpointIn,
    response=EndpointWithSecretOut,
    status=201,
    summary="Add a webhook endpoint",
    description="Answers with the signing secret, shown this once.",
    tags=TAGS,
    extra_statuses={409: "The organization has the most endpoints it may have"},
)
@requires(PERMISSION)
def api_create_endpoint(organization_id: str, body: EndpointIn) -> EndpointWithSecretOut:
    data = endpoints.validate_input(body.url, body.description, body.event_types, body.enabled)
    endpoint, secret = endpoints.create_endpoint(organization_id, data, actor=current_actor())
    return _with_secret(endpoint, secret)


@api_route(bp, f"{BASE}/endpoints/<endpoint_id>", response=EndpointOut, summary="One webhook endpoint", tags=TAGS)
@requires(PERMISSION)
def api_get_endpoint(organization_id: str, endpoint_id: str) -> EndpointOut:
    return endpoint_out(endpoints.get_endpoint(organization_id, endpoint_id))


@api_route(
    bp,
    f"{BASE}/endpoints/<endpoint_id>",
    methods=("PATCH",),
    body=EndpointPatch,
    response=EndpointOut,
    summary="Change a webhook endpoint",
    description="Fields left out keep their value; `enabled: true` re-enables a disabled endpoint.",
    tags=TAGS,
)
@requires(PERMISSION)
def api_update_endpoint(organization_id: str, endpoint_id: str, body: EndpointPatch) -> EndpointOut:
    endpoint = endpoints.get_endpoint(organization_id, endpoint_id)
    data = endpoints.validate_input(
        body.url if body.url is not None else endpoint.url,
        body.description if body.description is not None else endpoint.description,
        body.event_types if body.event_types is not None else list(endpoint.event_types),
        body.enabled if body.enabled is not None else endpoint.enabled,
    )
    return endpoint_out(endpoints.update_endpoint(organization_id, endpoint_id, data, actor=current_actor()))


@api_route(bp, f"{BASE}/endpoints/<endpoint_id>", methods=("DELETE",), status=204, summary="Delete", tags=TAGS)
@requires(PERMISSION)
def api_delete_endpoint(organization_id: str, endpoint_id: str) -> Response:
    endpoints.delete_endpoint(organization_id, endpoint_id, actor=current_actor())
    return Response(status=204)


@api_route(
    bp,
    f"{BASE}/endpoints/<endpoint_id>/rotate-secret",
    methods=("POST",),
    response=EndpointWithSecretOut,
    summary="Rotate the signing secret",
    description="Answers with the new secret (shown once); the old one keeps signing for 24 hours.",
    tags=TAGS,
)
@requires(PERMISSION)
def api_rotate_secret(organization_id: str, endpoint_id: str) -> EndpointWithSecretOut:
    endpoint, secret = endpoints.rotate_secret(organization_id, endpoint_id, actor=current_actor())
    return _with_secret(endpoint, secret)


# --- seed 000's paths ---------------------------------------------------------------------------


def _event_out(event: object) -> EventOut:
    return EventOut.model_validate(event)


@api_route(
    bp,
    f"{BASE}/trigger",
    methods=("POST",),
    body=TriggerIn,
    response=TriggerOut,
    status=202,
    summary="Send a test event",
    description="A `webhook.test` event to one endpoint, or to every enabled endpoint; delivered by a worker.",
    tags=TAGS,
    extra_statuses={409: "The endpoint is disabled"},
)
@requires(PERMISSION)
def api_trigger(organization_id: str, body: TriggerIn) -> TriggerOut:
    if body.endpoint_id:
        chosen = [endpoints.get_endpoint(organization_id, body.endpoint_id)]
    else:
        chosen = [e for e in endpoints.list_endpoints(organization_id) if e.enabled]
    sent = [endpoints.send_test_event(organization_id, e.id, actor=current_actor()) for e in chosen]
    return TriggerOut(events=[_event_out(e) for e in sent], message=f"{len(sent)} test event(s) queued")


@api_route(
    bp,
    f"{BASE}/logs",
    query=LogsQuery,
    response=LogsOut,
    summary="The delivery log",
    tags=TAGS,
    paginated="cursor",
)
@requires(PERMISSION)
def api_logs(organization_id: str, query: LogsQuery) -> LogsOut:
    views, next_cursor = log.list_deliveries(
        organization_id, endpoint_id=query.endpoint_id, status=query.status, cursor=query.cursor, limit=query.limit
    )
    return LogsOut(logs=[delivery_out(v) for v in views], limit=query.limit, next_cursor=next_cursor)


@api_route(
    bp,
    f"{BASE}/status/<log_id>",
    response=DeliveryOut,
    summary="One delivery and its attempts",
    tags=TAGS,
    unpaged="the attempts of one delivery (a bounded retry schedule)",
)
@requires(PERMISSION)
def api_status(organization_id: str, log_id: str) -> DeliveryOut:
    return delivery_out(log.delivery_status(organization_id, log_id))


@api_route(
    bp,
    f"{BASE}/retry/<log_id>",
    methods=("POST",),
    response=RetryOut,
    status=202,
    summary="Retry a delivery now",
    tags=TAGS,
    extra_statuses={409: "Already delivered, or the endpoint is disabled"},
)
@requires(PERMISSION)
def api_retry(organization_id: str, log_id: str) -> RetryOut:
    log.retry_now(organization_id, log_id, actor=current_actor())
    return RetryOut(log=delivery_out(log.delivery_status(organization_id, log_id)), message="Retry queued")


@api_route(
    bp,
    f"{BASE}/templates",
    response=TemplatesOut,
    summary="Event types and example payloads",
    tags=TAGS,
    unpaged="one example per event type this app sends",
)
@requires(PERMISSION)
def api_templates(organization_id: str) -> TemplatesOut:
    now = isoformat(utcnow())
    templates = []
    for name, description in outbox.EVENT_TYPES.items():
        noun = name.split(".")[0]
        data = {"endpoint_id": "whe_..."} if noun == "webhook" else {f"{noun}_id": f"{noun[:3]}_..."}
        templates.append(
            TemplateOut(
                event_type=name, description=description, example={"type": name, "timestamp": now, "data": data}
            )
        )
    return TemplatesOut(templates=templates, signature_headers=["webhook-id", "webhook-timestamp", "webhook-signature"])


@api_route(
    bp,
    f"{BASE}/analytics",
    response=AnalyticsOut,
    summary="Success rate and latency per endpoint",
    tags=TAGS,
    unpaged=f"one row per webhook endpoint (at most {endpoints.MAX_ENDPOINTS})",
)
@requires(PERMISSION)
def api_analytics(organization_id: str) -> AnalyticsOut:
    rows = []
    for row in log.analytics(organization_id):
        endpoint = row.pop("endpoint")
        rows.append(EndpointAnalytics(endpoint_id=endpoint.id, url=endpoint.url, enabled=endpoint.enabled, **row))
    return AnalyticsOut(window_days=log.ANALYTICS_WINDOW.days, endpoints=rows)


# --- CORS origins -------------------------------------------------------------------------------


@api_route(bp, "/api/v1/integrations/<organization_id>/cors", response=CorsOut, summary="Allowed origins", tags=TAGS)
@requires(PERMISSION)
def api_cors(organization_id: str) -> CorsOut:
    return CorsOut(cors_origins=log.cors_origins(organization_id))


@api_route(
    bp,
    "/api/v1/integrations/<organization_id>/cors",
    methods=("PUT",),
    body=CorsIn,
    response=CorsOut,
    summary="Set the browser origins allowed to call the API and FHIR",
    tags=TAGS,
)
@requires(PERMISSION)
def api_set_cors(organization_id: str, body: CorsIn) -> CorsOut:
    return CorsOut(cors_origins=log.set_cors_origins(organization_id, body.cors_origins, actor=current_actor()))
