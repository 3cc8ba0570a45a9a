"""Who reads which invoices: a caller with ``billing:read`` reads all of the organization's; one
with only ``billing:read_own`` (clinicians) reads the invoices where they are the practitioner.
Other invoices are 404 to them, as another organization's are."""

from __future__ import annotations

from clinic_app.auth.identity import current_identity
from clinic_app.billing import queries
from clinic_app.core.tenancy import current_organization_id, current_user_id


def reader_scope() -> list[str] | None:
    """None to read everything, else the practitioner ids whose invoices the caller may read."""
    identity = current_identity()
    if identity is not None and identity.can("billing:read"):
        return None
    return queries.own_practitioners(current_organization_id(), current_user_id())
