"""The seed's dashboard endpoints: ``/api/v1/dashboard/{organization_id}`` (+ ``/summary``,
``/activity``) and seed 002's ``/api/v1/patients/dashboard-stats`` (organization from the token).

The access layer checks the organization in the path against the caller's (another
organization's id is a 404, exactly like one that does not exist); the figures come from the
dashboard snapshot, so no request counts appointments.
"""

from __future__ import annotations

from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.pagination import offset_cursor, offset_from_cursor
from clinic_app.core.tenancy import current_organization_id
from clinic_app.core.time import utcnow
from clinic_app.dashboard import activity, bp, service
from clinic_app.dashboard.schemas import (
    ActivityQuery,
    DashboardActivityOut,
    DashboardOut,
    DashboardStatsOut,
    DashboardSummaryOut,
)

TAGS = ("dashboard",)


@api_route(
    bp,
    "/api/v1/dashboard/<organization_id>",
    unpaged="the dashboard with its latest 10 activity items (the /activity list pages through more)",
    response=DashboardOut,
    summary="Dashboard summary and recent activity",
    description="The organization's figures (the seed's `summary`) and its latest 10 activity items.",
    tags=TAGS,
)
@requires("dashboard:read")
def dashboard(organization_id: str) -> DashboardOut:
    now = utcnow()
    payload = service.figures_for(organization_id, now=now)
    return DashboardOut.model_validate(
        {
            "success": True,
            "organization_id": organization_id,
            "summary": payload["summary"],
            "recent_activity": service.activity_items(payload, service.DEFAULT_ACTIVITY, now),
            "timestamp": now,
        }
    )


@api_route(
    bp,
    "/api/v1/dashboard/<organization_id>/summary",
    response=DashboardSummaryOut,
    summary="Dashboard summary only",
    tags=TAGS,
)
@requires("dashboard:read")
def dashboard_summary(organization_id: str) -> DashboardSummaryOut:
    now = utcnow()
    payload = service.figures_for(organization_id, now=now)
    return DashboardSummaryOut.model_validate(
        {"success": True, "organization_id": organization_id, "summary": payload["summary"], "timestamp": now}
    )


@api_route(
    bp,
    "/api/v1/dashboard/<organization_id>/activity",
    query=ActivityQuery,
    response=DashboardActivityOut,
    paginated="cursor",
    summary="Recent activity only",
    description="Sync runs and the clinic's events (patients registered, appointments booked...), newest first: "
    f"the latest {activity.KEPT} of them, `limit` at a time (1 to 100, default 20; anything else is a 422). "
    "Follow `next_cursor` until it is null; the feed moves on as things happen, so a later page may repeat an "
    "item the one before showed.",
    tags=TAGS,
)
@requires("dashboard:read")
def dashboard_activity(organization_id: str, query: ActivityQuery) -> DashboardActivityOut:
    now = utcnow()
    start = offset_from_cursor(query.cursor, maximum=activity.KEPT) if query.cursor else 0
    feed = service.activity_items(service.figures_for(organization_id, now=now), activity.KEPT, now)
    items = feed[start : start + query.limit]
    after = start + len(items)
    return DashboardActivityOut.model_validate(
        {
            "success": True,
            "organization_id": organization_id,
            "recent_activity": items,
            "limit": query.limit,
            "count": len(items),
            "timestamp": now,
            "next_cursor": offset_cursor(after) if after < len(feed) else None,
        }
    )


@api_route(
    bp,
    "/api/v1/patients/dashboard-stats",
    unpaged="figures over fixed windows: 12 weeks, and one row per appointment type",
    response=DashboardStatsOut,
    summary="Dashboard figures of your organization",
    description="The organization comes from the token (or `X-Organization-ID`). The summary plus upcoming "
    "appointments in 7 days, attendance over 90 days, 12 weeks of appointments by status with new and "
    "returning patients, and appointments by type.",
    tags=TAGS,
)
@requires("dashboard:read")
def dashboard_stats() -> DashboardStatsOut:
    organization_id, now = current_organization_id(), utcnow()
    payload = service.figures_for(organization_id, now=now)
    return DashboardStatsOut.model_validate(
        {
            "success": True,
            "organization_id": organization_id,
            "time_zone": payload["time_zone"],
            "summary": payload["summary"],
            "upcoming_next_7_days": payload["upcoming"],
            "attendance_90_days": payload["attendance"],
            "weeks": payload["weeks"],
            "appointment_types": payload["appointment_types"],
            "generated_at": payload["computed_at"],
            "timestamp": now,
        }
    )
