from __future__ import annotations

from flask import Response, flash, redirect, request

from clinic_app.auth import service as auth_service
from clinic_app.auth.identity import current_identity
from clinic_app.auth.views import safe_next
from clinic_app.core.access import authenticated, requires
from clinic_app.core.errors import Forbidden
from clinic_app.orgs import bp


@bp.post("/organizations/switch")
@authenticated
def switch() -> Response:
    identity = current_identity()
    if identity is None or identity.session_row is None or identity.user is None:
        raise Forbidden("Only a signed-in browser can switch organization.")
    organization_id = request.form.get("organization_id", "")
    auth_service.switch_organization(identity.session_row, user=identity.user, organization_id=organization_id)
    name = next(m.organization_name for m in identity.memberships if m.organization_id == organization_id)
    flash(f"You are now working in {name}.", "success")
    return redirect(safe_next(request.form.get("next")), code=303)


@bp.get("/staff")
@requires("admin:staff")
def staff() -> str:
    return "Staff (being built)"
