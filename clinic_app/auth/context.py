"""What every template may ask about the caller."""

from __future__ import annotations

from typing import Any

from clinic_app.auth.identity import current_identity
from clinic_app.core.permissions import ROLE_LABELS, role_grants


def template_context() -> dict[str, Any]:
    identity = current_identity()

    def can(permission: str) -> bool:
        if identity is None:
            return False
        if identity.api_token is not None:
            return identity.can(permission)
        role = identity.role or next(
            (m.role for m in identity.memberships if m.organization_id == identity.organization_id), None
        )
        return role is not None and role_grants(role, permission)

    organization_name = None
    if identity is not None:
        organization_name = next(
            (m.organization_name for m in identity.memberships if m.organization_id == identity.organization_id), None
        )
    return {
        "identity": identity,
        "can": can,
        "current_organization_name": organization_name,
        "role_labels": ROLE_LABELS,
    }
