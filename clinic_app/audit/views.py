from __future__ import annotations

from clinic_app.audit import bp
from clinic_app.core.access import requires


@bp.get("/audit")
@requires("admin:audit")
def events() -> str:
    return "Audit trail (being built)"
