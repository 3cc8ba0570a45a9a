"""The Integrations page: webhook endpoints (add, enable/disable, rotate the secret, send a test
event, delete), their analytics and delivery log (retry now), and the organization's CORS
origins. One page, its sections swapped by htmx; a new secret appears in this answer only."""

from __future__ import annotations

from typing import Any

from flask import request

from clinic_app.core.access import requires
from clinic_app.core.errors import Conflict, Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import organization_zone
from clinic_app.core.web import render_page
from clinic_app.webhooks import bp, endpoints, log, outbox

PERMISSION = "admin:webhooks"
RECENT = 20


def _render(status: int = 200, **context: Any) -> tuple[str, int]:
    organization_id = current_organization_id()
    deliveries, _ = log.list_deliveries(organization_id, limit=RECENT)
    page = {
        "endpoints": endpoints.list_endpoints(organization_id),
        "analytics": {row["endpoint"].id: row for row in log.analytics(organization_id)},
        "deliveries": deliveries,
        "origins": log.cors_origins(organization_id),
        "event_types": {k: v for k, v in outbox.EVENT_TYPES.items() if k != "webhook.test"},
        "zone": organization_zone(organization_id),
        "errors": {},
        "form": {},
        "notice": None,
        "secret": None,
        **context,
    }
    return render_page("webhooks/integrations.html", "webhooks/_integrations.html", **page), status


def _errors(error: Invalid) -> dict[str, str]:
    return {item.field: item.message for item in error.errors}


@bp.get("/settings/integrations")
@requires(PERMISSION)
def integrations() -> tuple[str, int]:
    return _render()


@bp.post("/settings/integrations/endpoints")
@requires(PERMISSION)
def endpoint_create() -> tuple[str, int]:
    form = {
        "url": request.form.get("url", ""),
        "description": request.form.get("description", ""),
        "event_types": request.form.getlist("event_types")[:30],
    }
    try:
        data = endpoints.validate_input(form["url"], form["description"], form["event_types"])
        endpoint, secret = endpoints.create_endpoint(current_organization_id(), data, actor=current_actor())
    except Invalid as error:
        return _render(422, errors=_errors(error), form=form)
    except Conflict as error:
        return _render(409, errors={"url": error.detail}, form=form)
    # Not a redirect: the secret exists only in this answer.
    return _render(201, secret={"endpoint": endpoint, "value": secret}, notice="The endpoint was added.")


@bp.post("/settings/integrations/endpoints/<endpoint_id>/toggle")
@requires(PERMISSION)
def endpoint_toggle(endpoint_id: str) -> tuple[str, int]:
    organization_id = current_organization_id()
    endpoint = endpoints.get_endpoint(organization_id, endpoint_id)
    data = endpoints.EndpointInput(
        endpoint.url, endpoint.description, tuple(endpoint.event_types), enabled=not endpoint.enabled
    )
    endpoint = endpoints.update_endpoint(organization_id, endpoint_id, data, actor=current_actor())
    return _render(notice=f"The endpoint was {'enabled' if endpoint.enabled else 'disabled'}.")


@bp.post("/settings/integrations/endpoints/<endpoint_id>/rotate")
@requires(PERMISSION)
def endpoint_rotate(endpoint_id: str) -> tuple[str, int]:
    endpoint, secret = endpoints.rotate_secret(current_organization_id(), endpoint_id, actor=current_actor())
    notice = "A new secret was made. The old one keeps signing for 24 hours: update the receiver before then."
    return _render(secret={"endpoint": endpoint, "value": secret}, notice=notice)


@bp.post("/settings/integrations/endpoints/<endpoint_id>/test")
@requires(PERMISSION)
def endpoint_test(endpoint_id: str) -> tuple[str, int]:
    try:
        endpoints.send_test_event(current_organization_id(), endpoint_id, actor=current_actor())
    except Conflict as error:
        return _render(409, notice=error.detail)
    return _render(notice="A test event was queued; its delivery shows in the log below.")


@bp.post("/settings/integrations/endpoints/<endpoint_id>/delete")
@requires(PERMISSION)
def endpoint_delete(endpoint_id: str) -> tuple[str, int]:
    endpoints.delete_endpoint(current_organization_id(), endpoint_id, actor=current_actor())
    return _render(notice="The endpoint was deleted.")


@bp.post("/settings/integrations/deliveries/<log_id>/retry")
@requires(PERMISSION)
def delivery_retry(log_id: str) -> tuple[str, int]:
    try:
        log.retry_now(current_organization_id(), log_id, actor=current_actor())
    except Conflict as error:
        return _render(409, notice=error.detail)
    return _render(notice="The delivery will be tried again now.")


@bp.post("/settings/integrations/cors")
@requires(PERMISSION)
def cors_save() -> tuple[str, int]:
    lines = request.form.get("cors_origins", "")[:8000].splitlines()
    try:
        log.set_cors_origins(current_organization_id(), lines, actor=current_actor())
    except Invalid as error:
        return _render(422, errors=_errors(error), form={"cors_origins": "\n".join(lines)})
    return _render(notice="The allowed origins were saved.")
