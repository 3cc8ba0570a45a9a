"""An organization's privacy settings, kept in ``Organization.settings`` like its other settings:
how long an erasure request waits before it is carried out (``erasure_waiting_days``, 0-90, 30
by default) and which consents intake requires before it registers a patient
(``consent_at_intake``: consent kinds, which the patients feature defines and checks)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clinic_app.core import audit
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.extensions import db
from clinic_app.orgs.service import get_organization

DEFAULT_WAITING_DAYS = 30
MAX_WAITING_DAYS = 90
WAITING_KEY, INTAKE_KEY = "erasure_waiting_days", "consent_at_intake"


@dataclass(frozen=True)
class PrivacySettings:
    erasure_waiting_days: int
    consent_at_intake: tuple[str, ...]


def privacy_settings(organization_id: str) -> PrivacySettings:
    settings = get_organization(organization_id).settings or {}
    days = settings.get(WAITING_KEY)
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= MAX_WAITING_DAYS:
        days = DEFAULT_WAITING_DAYS
    kinds = settings.get(INTAKE_KEY)
    kinds = tuple(k for k in kinds if isinstance(k, str)) if isinstance(kinds, list) else ()
    return PrivacySettings(days, kinds)


def set_privacy_settings(
    organization_id: str,
    *,
    erasure_waiting_days: int | None,
    consent_at_intake: Iterable[str] | None,
    allowed_kinds: Iterable[str],
    actor: audit.Actor,
) -> PrivacySettings:
    """Change the settings given (None keeps one as it is); records
    ``organization.privacy_settings_changed`` with the new values (no PHI). Raises Invalid for a
    waiting period outside 0-90 days or a consent kind not in ``allowed_kinds``."""
    errors = []
    if erasure_waiting_days is not None and (
        isinstance(erasure_waiting_days, bool) or not 0 <= erasure_waiting_days <= MAX_WAITING_DAYS
    ):
        errors.append(FieldError("erasure_waiting_days", f"Choose 0 to {MAX_WAITING_DAYS} days.", "OUT_OF_RANGE"))
    kinds = None
    if consent_at_intake is not None:
        kinds = sorted(set(consent_at_intake))
        unknown = [k for k in kinds if k not in set(allowed_kinds)]
        if unknown:
            errors.append(
                FieldError("consent_at_intake", f"Unknown consent kind(s): {', '.join(unknown)}.", "UNKNOWN_KIND")
            )
    if errors:
        raise Invalid(errors=errors)
    organization = get_organization(organization_id)
    before = privacy_settings(organization_id)
    changes: dict[str, object] = {}
    if erasure_waiting_days is not None:
        changes[WAITING_KEY] = erasure_waiting_days
    if kinds is not None:
        changes[INTAKE_KEY] = kinds
    organization.settings = {**(organization.settings or {}), **changes}
    db.session.flush()
    after = privacy_settings(organization_id)
    if after != before:
        audit.record(
            "organization.privacy_settings_changed",
            organization_id=organization_id,
            actor=actor,
            target_type="organization",
            target_id=organization_id,
            details={WAITING_KEY: after.erasure_waiting_days, INTAKE_KEY: list(after.consent_at_intake)},
        )
    return after
