"""JSON shapes of the users and profile API (seed 002 §2.7: ``/users/me``, ``/users/list``,
``/profile/``, ``/profile/practitioners``). The seed names the paths but not their bodies; these
are ours, snake_case, with ISO-8601 UTC timestamps, and lists page like the app's other lists
(``limit``, ``cursor`` → ``next_cursor``, ``has_more``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field
from clinic_app.profiles.service import (
    BODY_MAX,
    DISCIPLINE_MAX,
    NUMBER_MAX,
    QUALIFICATION_MAX,
    QUALIFICATIONS_MAX,
    SIGNATURE_MAX,
)

# --- users -------------------------------------------------------------------------------------


class OrganizationOut(Schema):
    id: str
    name: str
    time_zone: str


class UserMeOut(Schema):
    """The caller as a person of the current organization (``X-Organization-ID`` when sent)."""

    id: str
    email: str
    display_name: str
    role: str = Field(description="The role in the current organization")
    permissions: list[str] = Field(description="Every permission that role grants, wildcards expanded")
    is_active: bool
    is_verified: bool
    created_at: Timestamp
    last_login: Timestamp | None = Field(description="The last sign-in, when known")
    organization: OrganizationOut


class PageQuery(Schema):
    limit: int = limit_field(25, 100)
    cursor: str | None = cursor_field()


class UserListQuery(PageQuery):
    include_inactive: bool = Field(
        default=False, description="Also ended memberships and deactivated accounts (shown with is_active false)"
    )


class UserListItem(Schema):
    id: str = Field(description="The person's user id")
    membership_id: str = Field(description="Their membership of this organization (the staff API's id)")
    email: str
    display_name: str
    role: str
    is_active: bool = Field(description="False for an ended membership or a deactivated account")
    joined_at: Timestamp
    last_login: Timestamp | None


class UserListOut(Schema):
    users: list[UserListItem]
    limit: int
    next_cursor: str | None = next_cursor_field()
    has_more: bool


# --- profiles ----------------------------------------------------------------------------------

Qualification = Annotated[str, Field(max_length=QUALIFICATION_MAX)]


class ProfileIn(Schema):
    """Send only the fields to change: those left out keep their values, and one sent as null
    (or "") is cleared. Organization or user ids in the body are ignored."""

    discipline: str | None = Field(default=None, max_length=DISCIPLINE_MAX, description="e.g. Clinical psychologist")
    registration_body: str | None = Field(
        default=None, max_length=BODY_MAX, description='Who registers the practitioner, e.g. "AHPRA"'
    )
    registration_number: str | None = Field(
        default=None,
        max_length=NUMBER_MAX,
        description="Letters, digits, spaces, dots, slashes, hyphens; with AHPRA three letters and ten digits "
        "(PSY0001234567). A number needs its body and a body its number.",
    )
    qualifications: list[Qualification] | None = Field(
        default=None,
        max_length=QUALIFICATIONS_MAX,
        description=f"Up to {QUALIFICATIONS_MAX}, one line of up to {QUALIFICATION_MAX} characters each",
    )
    signature_block: str | None = Field(
        default=None,
        max_length=SIGNATURE_MAX,
        description="Printed under the signature on reports signed from now on; up to 8 lines",
    )
    default_report_template_id: str | None = Field(
        default=None,
        max_length=40,
        description="One of the organization's report templates (GET /api/v1/reports/templates); new reports "
        "start from it when no template is named",
    )


class ProfileOut(Schema):
    user_id: str
    organization_id: str
    display_name: str
    role: str
    discipline: str | None
    registration_body: str | None
    registration_number: str | None
    registration: str | None = Field(description='Body and number as printed on reports: "AHPRA PSY0001234567"')
    qualifications: list[str]
    signature_block: str | None
    default_report_template_id: str | None
    created_at: Timestamp | None = Field(description="Null until the profile is first saved")
    updated_at: Timestamp | None


class PractitionerOut(Schema):
    user_id: str
    display_name: str
    role: str
    discipline: str | None
    registration_body: str | None
    registration_number: str | None
    registration: str | None
    qualifications: list[str]
    signature_block: str | None


class PractitionerListOut(Schema):
    practitioners: list[PractitionerOut]
    limit: int
    next_cursor: str | None = next_cursor_field()
    has_more: bool
