"""The users and profile JSON API (seed 002 §2.7's paths).

* ``GET /api/v1/users/me``: the caller as a person of the current organization.
* ``GET /api/v1/users/list``: the organization's members with their roles (``admin:staff``:
  owners and practice admins; anyone else 403), a page at a time.
* ``GET`` / ``PUT /api/v1/profile/``: the caller's professional profile in the current
  organization (``PUT`` changes the fields sent; changes are audited).
* ``GET /api/v1/profile/practitioners``: the organization's practitioners with their profiles.

The organization is the token's (or ``X-Organization-ID``, checked by the access layer: another
organization's id is 404). Only the organization's own members are ever listed. ``/users/me`` and
``/profile/`` describe a person, so an organization API token gets 403 there.
"""

from __future__ import annotations

from typing import Any

from clinic_app.accounts import service as accounts
from clinic_app.accounts.models import User
from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.errors import Forbidden
from clinic_app.core.identity import current_identity
from clinic_app.core.permissions import ROLE_PERMISSIONS, expand
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.orgs import service as orgs
from clinic_app.profiles import bp, members, service
from clinic_app.profiles.schemas import (
    OrganizationOut,
    PageQuery,
    PractitionerListOut,
    PractitionerOut,
    ProfileIn,
    ProfileOut,
    UserListItem,
    UserListOut,
    UserListQuery,
    UserMeOut,
)

USERS, PROFILE = ("users",), ("profile",)
PERSON_ONLY = {403: "Called with an organization API token (it has no personal account)"}


def _person() -> tuple[User, str]:
    """The calling person and their role in the current organization (403 for an API token)."""
    identity = current_identity()
    if identity is None or identity.user is None or identity.role is None:
        raise Forbidden("This endpoint describes a person; an organization API token has no personal account.")
    return identity.user, identity.role


def _profile_fields(data: service.ProfileData) -> dict[str, Any]:
    return {
        "discipline": data.discipline,
        "registration_body": data.registration_body,
        "registration_number": data.registration_number,
        "registration": data.registration,
        "qualifications": list(data.qualifications),
        "signature_block": data.signature_block,
    }


def profile_out(view: service.ProfileView, user: User, role: str) -> ProfileOut:
    return ProfileOut(
        user_id=view.user_id,
        organization_id=view.organization_id,
        display_name=user.display_name,
        role=role,
        **_profile_fields(view.data),
        default_report_template_id=view.data.default_report_template_id,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


# --- users -------------------------------------------------------------------------------------


@api_route(
    bp,
    "/api/v1/users/me",
    response=UserMeOut,
    summary="The signed-in person in the current organization",
    description="Seed 002 §2.7. Id, e-mail, name, the role and permissions in the current organization "
    "(X-Organization-ID when sent), whether the address is confirmed, and the last sign-in when known.",
    tags=USERS,
    extra_statuses=PERSON_ONLY,
)
@requires("organization:member")
def api_users_me() -> UserMeOut:
    user, role = _person()
    organization = orgs.get_organization(current_organization_id())
    return UserMeOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=role,
        permissions=expand(ROLE_PERMISSIONS.get(role, frozenset())),
        is_active=user.is_active,
        is_verified=accounts.is_email_verified(user),
        created_at=user.created_at,
        last_login=user.last_login_at,
        organization=OrganizationOut(id=organization.id, name=organization.name, time_zone=organization.time_zone),
    )


@api_route(
    bp,
    "/api/v1/users/list",
    paginated="cursor",
    query=UserListQuery,
    response=UserListOut,
    summary="List the organization's members and their roles, a page at a time",
    description="Seed 002 §2.7 (admins). By name; follow `next_cursor` while `has_more` is true. Active members only "
    "unless `include_inactive`. For owners and practice admins (`admin:staff`); other roles get 403.",
    tags=USERS,
    extra_statuses={403: "Your role may not list the organization's users"},
)
@requires("admin:staff")
def api_users_list(query: UserListQuery) -> UserListOut:
    page = members.list_members(
        current_organization_id(), include_inactive=query.include_inactive, cursor=query.cursor, limit=query.limit
    )
    return UserListOut(
        users=[
            UserListItem(
                id=row.user_id,
                membership_id=row.membership_id,
                email=row.email,
                display_name=row.display_name,
                role=row.role,
                is_active=row.is_active,
                joined_at=row.joined_at,
                last_login=row.last_login_at,
            )
            for row in page.rows
        ],
        limit=page.limit,
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


# --- profiles ----------------------------------------------------------------------------------


@api_route(
    bp,
    "/api/v1/profile/",
    response=ProfileOut,
    summary="Your professional profile in the current organization",
    description="Seed 002 §2.7. Discipline, registration body and number, qualifications, the signature block "
    "printed on the reports you sign, and the report template you start from. Empty until first saved.",
    tags=PROFILE,
    extra_statuses=PERSON_ONLY,
)
@requires("organization:member")
def api_profile() -> ProfileOut:
    user, role = _person()
    return profile_out(service.get_profile(current_organization_id(), user.id), user, role)


@api_route(
    bp,
    "/api/v1/profile/",
    methods=("PUT",),
    body=ProfileIn,
    response=ProfileOut,
    summary="Change your professional profile in the current organization",
    description="Seed 002 §2.7. Changes the fields sent (null or an empty string clears one) and keeps the rest. "
    "422 names each field that cannot be accepted, with a code (`REGISTRATION_NUMBER_FORMAT`, `UNKNOWN_TEMPLATE`, "
    "...). A change is recorded in the audit trail (the names of the fields changed). Reports signed afterwards "
    "print the registration and signature block; reports signed before keep what they were signed with.",
    tags=PROFILE,
    extra_statuses=PERSON_ONLY,
)
@requires("organization:member")
def api_update_profile(body: ProfileIn) -> ProfileOut:
    user, role = _person()
    changes = {name: getattr(body, name) for name in body.model_fields_set if name in service.FIELDS}
    view = service.update_profile(current_organization_id(), user.id, changes, actor=current_actor())
    return profile_out(view, user, role)


@api_route(
    bp,
    "/api/v1/profile/practitioners",
    paginated="cursor",
    query=PageQuery,
    response=PractitionerListOut,
    summary="The organization's practitioners with their professional profiles, a page at a time",
    description="Seed 002 §2.7. Active clinicians, and owners who have filled in a discipline or registration, "
    "by name. Follow `next_cursor` while `has_more` is true.",
    tags=PROFILE,
)
@requires("organization:member")
def api_practitioners(query: PageQuery) -> PractitionerListOut:
    page = members.list_practitioners(current_organization_id(), cursor=query.cursor, limit=query.limit)
    return PractitionerListOut(
        practitioners=[
            PractitionerOut(
                user_id=row.user_id, display_name=row.display_name, role=row.role, **_profile_fields(row.profile)
            )
            for row in page.rows
        ],
        limit=page.limit,
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )
