"""The Dashboard page: cards that link to exactly the patients they count, three accessible SVG
charts with their numbers as tables, the recent activity, and when the figures were counted.
Thin: read the snapshot (``service``), shape it for the template (``page``), render; an htmx
request (the Refresh button, the minute poll) gets the fragment the page includes."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from clinic_app.core.access import requires
from clinic_app.core.tenancy import current_organization_id
from clinic_app.core.time import utcnow
from clinic_app.core.web import render_page
from clinic_app.dashboard import bp, page, service


@bp.get("/dashboard")
@requires("dashboard:read")
def index() -> ResponseReturnValue:
    now = utcnow()
    payload = service.figures_for(current_organization_id(), now=now)
    return render_page("dashboard/dashboard.html", "dashboard/_dashboard.html", view=page.build(payload, now))
