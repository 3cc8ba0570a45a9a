"""``GET /api/v1/audit/export``: the organization's audit trail for a date range as JSON or CSV,
with the chain's verification (owners: ``audit:export``; docs/audit.md)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from flask import Response
from pydantic import BaseModel, ConfigDict, Field

from clinic_app.audit import bp, export
from clinic_app.core.access import requires
from clinic_app.core.api import api_route, json_response
from clinic_app.core.tenancy import current_actor, current_organization_id


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    date_from: date = Field(..., alias="from", description="First day (the organization's time zone)")
    date_to: date = Field(..., alias="to", description="Last day, included; at most 366 days after `from`")
    format: Literal["json", "csv"] = "json"


@api_route(
    bp,
    "/api/v1/audit/export",
    unpaged="an owner's export of a date range (at most 366 days) as one document, with the chain's verification",
    query=ExportQuery,
    summary="Export the audit trail for a date range (owners)",
    description="JSON (`events`, `verification`) or CSV (one row per event; the verification in the "
    "`X-Audit-Chain-Intact` and `X-Audit-Events-Checked` headers). Each event carries `seq`, `prev_hash` and "
    "`hash` so the links can be checked again.",
    tags=("audit",),
)
@requires("audit:export")
def export_trail(query: ExportQuery) -> Response:
    made = export.export_trail(current_organization_id(), query.date_from, query.date_to, actor=current_actor())
    name = f"audit-{made.date_from.isoformat()}-{made.date_to.isoformat()}"
    if query.format == "csv":
        response = Response(export.as_csv(made), content_type="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    else:
        response = json_response(
            {
                "organization_id": made.organization_id,
                "from": made.date_from.isoformat(),
                "to": made.date_to.isoformat(),
                "exported_at": made.exported_at,
                "verification": made.verification,
                "events": made.events,
            }
        )
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.json"'
    response.headers["X-Audit-Chain-Intact"] = "true" if made.verification["intact"] else "false"
    response.headers["X-Audit-Events-Checked"] = str(made.verification["events_checked"])
    return response
