"""The organization's people, a page at a time: its members with their roles (the users list, for
staff managers) and its practitioners with their professional profiles.

Both lists are ordered by name (then membership id) and page by key: ``next_cursor`` is the last
row's membership id, and a cursor that is malformed or names another organization's membership is
a 422 on ``cursor``. Only the organization's own memberships are ever read.

A practitioner is an active member with an active account who is a clinician, or whose role may
sign reports (an owner) and who has filled in a discipline or a registration: the owner of a
one-person practice is its practitioner, the owner who only runs the business is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, literal, or_, select, tuple_

from clinic_app.accounts.models import User
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.pagination import decode_cursor, encode_cursor
from clinic_app.core.permissions import CLINICIAN, ROLES, role_grants
from clinic_app.extensions import db
from clinic_app.orgs.models import Membership
from clinic_app.profiles.models import ProfessionalProfile
from clinic_app.profiles.service import ProfileData, data_of

DEFAULT_LIMIT, MAX_LIMIT = 25, 100
# Roles besides clinician whose members practise when their profile says so (owners today).
_SIGNING_ROLES = tuple(role for role in ROLES if role != CLINICIAN and role_grants(role, "reports:sign"))


@dataclass(frozen=True)
class MemberRow:
    membership_id: str
    user_id: str
    email: str
    display_name: str
    role: str
    membership_active: bool
    account_active: bool
    joined_at: datetime
    last_login_at: datetime | None
    profile: ProfileData

    @property
    def is_active(self) -> bool:
        return self.membership_active and self.account_active


@dataclass(frozen=True)
class MemberPage:
    rows: list[MemberRow]
    limit: int
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def _bad_cursor() -> Invalid:
    return Invalid(
        errors=[FieldError("cursor", "This cursor is not valid; start again from the first page.", "INVALID_CURSOR")]
    )


def _after(organization_id: str, cursor: str) -> ColumnElement[bool]:
    """Rows after the membership the cursor names (by name, then id)."""
    try:
        membership_id = decode_cursor(cursor)
    except ValueError:
        raise _bad_cursor() from None
    anchor = db.session.execute(
        select(Membership.id, User.display_name)
        .join(User, User.id == Membership.user_id)
        .where(Membership.id == membership_id, Membership.organization_id == organization_id)
    ).first()
    if anchor is None:
        raise _bad_cursor()
    key = tuple_(literal(anchor.display_name, User.display_name.type), literal(anchor.id, Membership.id.type))
    return tuple_(User.display_name, Membership.id) > key


def _statement(organization_id: str) -> Select[tuple[Membership, User, ProfessionalProfile]]:
    return (
        select(Membership, User, ProfessionalProfile)
        .join(User, User.id == Membership.user_id)
        .outerjoin(
            ProfessionalProfile,
            and_(
                ProfessionalProfile.organization_id == Membership.organization_id,
                ProfessionalProfile.user_id == Membership.user_id,
            ),
        )
        .where(Membership.organization_id == organization_id)
    )


def _page(
    organization_id: str,
    statement: Select[tuple[Membership, User, ProfessionalProfile]],
    cursor: str | None,
    limit: int,
) -> MemberPage:
    limit = max(1, min(limit, MAX_LIMIT))
    if cursor:
        statement = statement.where(_after(organization_id, cursor))
    found = db.session.execute(statement.order_by(User.display_name, Membership.id).limit(limit + 1)).all()
    rows = [
        MemberRow(
            membership_id=membership.id,
            user_id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=membership.role,
            membership_active=membership.is_active,
            account_active=user.is_active,
            joined_at=membership.created_at,
            last_login_at=user.last_login_at,
            profile=data_of(profile),
        )
        for membership, user, profile in found[:limit]
    ]
    more = len(found) > limit
    return MemberPage(rows=rows, limit=limit, next_cursor=encode_cursor(rows[-1].membership_id) if more else None)


def list_members(
    organization_id: str, *, include_inactive: bool = False, cursor: str | None = None, limit: int = DEFAULT_LIMIT
) -> MemberPage:
    """The organization's members with their roles, by name. Ended memberships and deactivated
    accounts only with ``include_inactive``. Raises Invalid for a bad cursor."""
    statement = _statement(organization_id)
    if not include_inactive:
        statement = statement.where(Membership.is_active.is_(True), User.is_active.is_(True))
    return _page(organization_id, statement, cursor, limit)


def list_practitioners(organization_id: str, *, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> MemberPage:
    """The organization's practitioners (see the module docstring) with their profiles, by name.
    Raises Invalid for a bad cursor."""
    practises = or_(
        Membership.role == CLINICIAN,
        and_(
            Membership.role.in_(_SIGNING_ROLES),
            or_(ProfessionalProfile.discipline.is_not(None), ProfessionalProfile.registration_number.is_not(None)),
        ),
    )
    statement = _statement(organization_id).where(Membership.is_active.is_(True), User.is_active.is_(True), practises)
    return _page(organization_id, statement, cursor, limit)
