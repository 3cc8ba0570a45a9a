"""Professional profiles: reading a member's, changing one's own (validated, audited), the
credentials a signature records, and the report template a clinician starts from.

What a profile accepts (docs/profiles.md has the table):

* ``discipline`` and ``registration_body``: one line each, at most 80 characters (runs of spaces
  and line breaks become one space).
* ``registration_number``: at most 40 characters of letters, digits, spaces, dots, slashes and
  hyphens. An AHPRA number (the body typed as "AHPRA" or its full name) is three letters and ten
  digits; it is stored without spaces, in capitals ("psy 000 123 4567" → "PSY0001234567"). A
  number needs its body and a body its number.
* ``qualifications``: at most 20, each one line of at most 120 characters; blank ones are dropped
  and a repeat (ignoring case) is kept once.
* ``signature_block``: at most 600 characters on at most 8 lines (printed under the signature of
  a report).
* ``default_report_template_id``: one of the organization's report templates (checked when it is
  set or changed; ``report_templates`` asks the reports feature), or none.

Every function takes the organization explicitly; a person who is not an active member of it is
``NotFound``. Writes only flush; the request commits. A change records ``profile.updated`` with the
names of the fields changed (never their values, as everywhere in the trail).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from clinic_app.core import audit, text
from clinic_app.core.errors import FieldError, Invalid, NotFound
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.profiles.models import ProfessionalProfile
from clinic_app.profiles.report_templates import template_choices

DISCIPLINE_MAX = 80
BODY_MAX = 80
NUMBER_MAX = 40
QUALIFICATION_MAX = 120
QUALIFICATIONS_MAX = 20
SIGNATURE_MAX = 600
SIGNATURE_LINES_MAX = 8

AHPRA = "AHPRA"
_BODY_NAMES = {"ahpra": AHPRA, "australian health practitioner regulation agency": AHPRA}
_AHPRA_NUMBER = re.compile(r"[A-Z]{3}[0-9]{10}")
_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./-]*")
AHPRA_FORMAT = "An AHPRA registration number is three letters and ten digits, e.g. PSY0001234567."


@dataclass(frozen=True)
class ProfileData:
    """The values of a profile (all empty for someone who has not filled theirs in)."""

    discipline: str | None = None
    registration_body: str | None = None
    registration_number: str | None = None
    qualifications: tuple[str, ...] = ()
    signature_block: str | None = None
    default_report_template_id: str | None = None

    @property
    def registration(self) -> str | None:
        """ "AHPRA PSY0001234567", or None without a number."""
        if not self.registration_number:
            return None
        return f"{self.registration_body} {self.registration_number}" if self.registration_body else None


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ProfileData))


@dataclass(frozen=True)
class ProfileView:
    organization_id: str
    user_id: str
    data: ProfileData
    created_at: datetime | None  # None: never saved
    updated_at: datetime | None


def data_of(row: ProfessionalProfile | None) -> ProfileData:
    if row is None:
        return ProfileData()
    return ProfileData(
        discipline=row.discipline,
        registration_body=row.registration_body,
        registration_number=row.registration_number,
        qualifications=tuple(row.qualifications or ()),
        signature_block=row.signature_block,
        default_report_template_id=row.default_report_template_id,
    )


def _row(organization_id: str, user_id: str) -> ProfessionalProfile | None:
    return db.session.scalar(
        select(ProfessionalProfile).where(
            ProfessionalProfile.organization_id == organization_id, ProfessionalProfile.user_id == user_id
        )
    )


def _require_member(organization_id: str, user_id: str | None) -> str:
    if not user_id or orgs.active_membership(user_id, organization_id) is None:
        raise NotFound("No such member of this organization.")
    return user_id


def _view(organization_id: str, user_id: str, row: ProfessionalProfile | None) -> ProfileView:
    return ProfileView(
        organization_id=organization_id,
        user_id=user_id,
        data=data_of(row),
        created_at=row.created_at if row else None,
        updated_at=row.updated_at if row else None,
    )


def get_profile(organization_id: str, user_id: str | None) -> ProfileView:
    """The member's profile in the organization (empty when never saved). Raises NotFound for
    someone who is not an active member of it."""
    user_id = _require_member(organization_id, user_id)
    return _view(organization_id, user_id, _row(organization_id, user_id))


# --- validation -----------------------------------------------------------------------------------


def _unusable(value: str, name: str, errors: list[FieldError]) -> bool:
    if text.unusable(value):
        errors.append(FieldError(name, text.MESSAGE, "UNUSABLE_TEXT"))
        return True
    return False


def _one_line(name: str, value: Any, limit: int, errors: list[FieldError]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(FieldError(name, "Send this as text.", "STRING_TYPE"))
        return None
    if _unusable(value, name, errors):
        return None
    cleaned = " ".join(value.split())
    if len(cleaned) > limit:
        errors.append(FieldError(name, f"Keep this to {limit} characters or fewer.", "TOO_LONG"))
        return None
    return cleaned or None


def _body(value: Any, errors: list[FieldError]) -> str | None:
    cleaned = _one_line("registration_body", value, BODY_MAX, errors)
    return _BODY_NAMES.get(cleaned.lower(), cleaned) if cleaned else None


def _number(value: Any, body: str | None, errors: list[FieldError]) -> str | None:
    cleaned = _one_line("registration_number", value, NUMBER_MAX, errors)
    if cleaned is None:
        return None
    if body == AHPRA:
        compact = re.sub(r"[\s-]", "", cleaned).upper()
        if _AHPRA_NUMBER.fullmatch(compact) is None:
            errors.append(FieldError("registration_number", AHPRA_FORMAT, "REGISTRATION_NUMBER_FORMAT"))
            return None
        return compact
    if _NUMBER.fullmatch(cleaned) is None:
        errors.append(
            FieldError(
                "registration_number",
                "Use letters, digits, spaces, dots, slashes and hyphens only.",
                "REGISTRATION_NUMBER_FORMAT",
            )
        )
        return None
    return cleaned


def _qualifications(value: Any, errors: list[FieldError]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        errors.append(FieldError("qualifications", "Send the qualifications as a list of text.", "LIST_TYPE"))
        return ()
    kept: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        cleaned = _one_line(f"qualifications.{index}", item, QUALIFICATION_MAX, errors)
        if cleaned and cleaned.casefold() not in seen:
            seen.add(cleaned.casefold())
            kept.append(cleaned)
    if len(kept) > QUALIFICATIONS_MAX:
        errors.append(FieldError("qualifications", f"List at most {QUALIFICATIONS_MAX} qualifications.", "TOO_MANY"))
    return tuple(kept)


def _signature_block(value: Any, errors: list[FieldError]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(FieldError("signature_block", "Send this as text.", "STRING_TYPE"))
        return None
    if _unusable(value, "signature_block", errors):
        return None
    lines = [line.rstrip() for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    cleaned = "\n".join(lines).strip("\n").strip()
    if len(cleaned) > SIGNATURE_MAX:
        errors.append(
            FieldError(
                "signature_block", f"Keep the signature block to {SIGNATURE_MAX} characters or fewer.", "TOO_LONG"
            )
        )
    elif cleaned.count("\n") + 1 > SIGNATURE_LINES_MAX:
        errors.append(
            FieldError("signature_block", f"Keep the signature block to {SIGNATURE_LINES_MAX} lines.", "TOO_MANY_LINES")
        )
    return cleaned or None


def _template(organization_id: str, value: Any, current: str | None, errors: list[FieldError]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.append(FieldError("default_report_template_id", "Send the template's id as text.", "STRING_TYPE"))
        return None
    if value == current:
        return value  # unchanged: saving other fields never depends on it
    if value not in {template_id for template_id, _name in template_choices(organization_id)}:
        errors.append(
            FieldError(
                "default_report_template_id", "Choose one of this organization's report templates.", "UNKNOWN_TEMPLATE"
            )
        )
        return None
    return value


def validate_changes(organization_id: str, changes: Mapping[str, Any], current: ProfileData) -> ProfileData:
    """``current`` with the fields named in ``changes`` replaced (None or "" clears one), checked
    as the module docstring says. Fields not named keep their values; unknown names are ignored.
    Raises Invalid naming each field (``qualifications.2`` for one item) with a code."""
    errors: list[FieldError] = []
    updates: dict[str, Any] = {}
    if "discipline" in changes:
        updates["discipline"] = _one_line("discipline", changes["discipline"], DISCIPLINE_MAX, errors)
    body = _body(changes["registration_body"], errors) if "registration_body" in changes else current.registration_body
    updates["registration_body"] = body
    if "registration_number" in changes or (body != current.registration_body and current.registration_number):
        # A new body re-checks the stored number against that body's format.
        number = changes.get("registration_number", current.registration_number)
        updates["registration_number"] = _number(number, body, errors)
    if "qualifications" in changes:
        updates["qualifications"] = _qualifications(changes["qualifications"], errors)
    if "signature_block" in changes:
        updates["signature_block"] = _signature_block(changes["signature_block"], errors)
    if "default_report_template_id" in changes:
        updates["default_report_template_id"] = _template(
            organization_id, changes["default_report_template_id"], current.default_report_template_id, errors
        )
    named = {error.field for error in errors}
    merged = replace(current, **updates)
    if merged.registration_number and not merged.registration_body and "registration_body" not in named:
        errors.append(
            FieldError("registration_body", "Name the body that issued the registration (e.g. AHPRA).", "MISSING")
        )
    if merged.registration_body and not merged.registration_number and "registration_number" not in named:
        errors.append(FieldError("registration_number", "Give the registration number this body issued.", "MISSING"))
    if errors:
        raise Invalid(errors=errors)
    return merged


# --- writing --------------------------------------------------------------------------------------


def _apply(row: ProfessionalProfile, data: ProfileData, actor: audit.Actor) -> None:
    for name in FIELDS:
        value = getattr(data, name)
        setattr(row, name, list(value) if name == "qualifications" else value)
    row.updated_by_id = actor.user_id


def update_profile(
    organization_id: str, user_id: str | None, changes: Mapping[str, Any], *, actor: audit.Actor
) -> ProfileView:
    """Change the member's profile: the fields named in ``changes`` (see ``validate_changes``).
    Nothing changed, nothing written or recorded. Raises NotFound (not an active member) or
    Invalid. Records ``profile.updated`` with the names of the fields changed."""
    user_id = _require_member(organization_id, user_id)
    row = _row(organization_id, user_id)
    before = data_of(row)
    after = validate_changes(organization_id, changes, before)
    changed = [name for name in FIELDS if getattr(before, name) != getattr(after, name)]
    if not changed:
        return _view(organization_id, user_id, row)
    if row is None:
        row = ProfessionalProfile(organization_id=organization_id, user_id=user_id)
        _apply(row, after, actor)
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
        except IntegrityError:  # a first save from another tab a moment ago: change that one
            row = _row(organization_id, user_id)
            if row is None:
                raise
            _apply(row, after, actor)
    else:
        _apply(row, after, actor)
    db.session.flush()
    audit.record(
        "profile.updated",
        organization_id=organization_id,
        actor=actor,
        target_type="user",
        target_id=user_id,
        details={"fields": changed},
    )
    return _view(organization_id, user_id, row)


# --- what other features read ---------------------------------------------------------------------


def signing_credentials(organization_id: str, user_id: str) -> dict[str, str] | None:
    """What a signature records of the signer's profile at signing time: the non-empty ones of
    ``discipline``, ``registration_body``, ``registration_number`` and ``signature_block``; None
    when there is nothing to record."""
    data = data_of(_row(organization_id, user_id))
    credentials = {
        name: value
        for name in ("discipline", "registration_body", "registration_number", "signature_block")
        if (value := getattr(data, name))
    }
    return credentials or None


def preferred_template_id(organization_id: str, user_id: str | None) -> str | None:
    """The report template the member chose to start from, if any (not checked here: the reports
    feature falls back to the organization's default when it is no longer one of its templates)."""
    if not user_id:
        return None
    return data_of(_row(organization_id, user_id)).default_report_template_id
