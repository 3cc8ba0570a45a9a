"""Organization API tokens: list, create (shown once), revoke."""

from __future__ import annotations

from clinic_app.auth import bp
from clinic_app.core.access import requires


@bp.get("/settings/api-tokens")
@requires("admin:tokens")
def api_tokens() -> str:
    return "API tokens (being built)"
