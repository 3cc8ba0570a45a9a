"""Inviting staff: an organization asks a person to join; only that person can say yes.

The rules, one per concern (``docs/security.md`` lists the threats they answer):

* An invitation belongs to the organization that sent it. Its link is 256 random bits stored as
  a hash, works once, for ``INVITATION_DAYS``, and only for that invitation: nothing another
  organization does (inviting the same address, deactivating the person) replaces, reveals or
  redeems it.
* Inviting never creates or changes an account. A new person creates their own account through
  the link (the link went to their mailbox); someone who already has an account accepts while
  signed in to it. Nobody else ever sets a password for them.
* Until the person accepts, the organization sees only what it typed (address, name, role): never
  whether an account exists, its name or its last sign-in. The link is therefore only e-mailed,
  never shown to the inviter (who could otherwise open it and learn those things).
* Accepting, declining, revoking and expiry delete the invitation: nothing is left behind but the
  audit trail's record that it existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, exists, func, select
from sqlalchemy.exc import IntegrityError

from clinic_app.accounts import service as accounts
from clinic_app.accounts.models import User
from clinic_app.core import audit, periodic
from clinic_app.core.credentials import hash_secret, new_secret
from clinic_app.core.errors import Conflict, FieldError, Forbidden, Invalid, NotFound
from clinic_app.core.permissions import ROLES
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import service, staffing
from clinic_app.orgs.models import Invitation, Membership

INVITATION_DAYS = 7
GONE = "This invitation has expired, was withdrawn or was already used. Ask the clinic to invite you again."


@dataclass(frozen=True)
class IssuedInvitation:
    """A new invitation and its link's secret, to be e-mailed once and never stored or shown."""

    invitation: Invitation
    secret: str


@dataclass(frozen=True)
class InvitationView:
    """What the holder of a link sees: whom it invites, where, and as what."""

    invitation_id: str
    organization_id: str
    organization_name: str
    email: str
    display_name: str
    role: str
    expires_at: datetime


def _live() -> ColumnElement[bool]:
    return Invitation.expires_at > utcnow()


def invite_staff_member(
    *, organization_id: str, email: str, display_name: str, role: str, actor: audit.Actor, actor_role: str | None
) -> IssuedInvitation:
    """Invite ``email`` to the organization with ``role``. Inviting the same address again
    replaces this organization's earlier invitation (a new link; the old one stops working).

    Raises Invalid (address, name, role), Forbidden (an admin inviting an owner) or Conflict (the
    address belongs to an active member of this organization already).
    """
    errors: list[FieldError] = []
    try:
        email = accounts.normalise_email(email)
    except Invalid as error:
        errors.extend(error.errors)
    display_name = " ".join((display_name or "").split())
    problem = accounts.name_problem(display_name) if display_name else None  # the name is optional here
    if problem:
        errors.append(FieldError("display_name", problem))
    if role not in ROLES:
        errors.append(FieldError("role", f"Choose one of: {', '.join(ROLES)}."))
    if errors:
        raise Invalid(errors=errors)
    staffing.require_authority(
        organization_id=organization_id, actor=actor, actor_role=actor_role, action="invite", new_role=role
    )
    already_member = db.session.scalar(
        select(
            exists().where(
                Membership.organization_id == organization_id,
                Membership.is_active.is_(True),
                Membership.user_id == User.id,
                func.lower(User.email) == email,
            )
        )
    )
    if already_member:
        # Only this organization's own members are looked at: nothing about anyone else shows.
        raise Conflict("This person is already a member of the organization.")
    now = utcnow()
    db.session.execute(
        delete(Invitation).where(
            Invitation.organization_id == organization_id,
            (Invitation.email == email) | (Invitation.expires_at <= now),
        )
    )
    plain, hashed = new_secret("join_")
    invitation = Invitation(
        organization_id=organization_id,
        email=email,
        display_name=display_name,
        role=role,
        secret_hash=hashed,
        invited_by_id=actor.user_id,
        created_at=now,
        expires_at=now + timedelta(days=INVITATION_DAYS),
    )
    db.session.add(invitation)
    try:
        db.session.flush()
    except IntegrityError:
        # Two admins inviting the same address at the same moment: the other one's stands.
        raise Conflict("An invitation for this address was sent a moment ago.") from None
    audit.record(
        "invitation.created",
        organization_id=organization_id,
        actor=actor,
        target_type="invitation",
        target_id=invitation.id,
        details={"role": role},
    )
    return IssuedInvitation(invitation, plain)


def pending_invitations(organization_id: str) -> list[Invitation]:
    """This organization's invitations that can still be accepted, newest first."""
    return list(
        db.session.scalars(
            select(Invitation)
            .where(Invitation.organization_id == organization_id, _live())
            .order_by(Invitation.created_at.desc(), Invitation.id)
        )
    )


def get_invitation(organization_id: str, invitation_id: str) -> Invitation:
    """Raises NotFound (also for another organization's invitation, or an expired one)."""
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.organization_id != organization_id or invitation.expires_at <= utcnow():
        raise NotFound("No such invitation.")
    return invitation


def revoke_invitation(
    *, organization_id: str, invitation_id: str, actor: audit.Actor, actor_role: str | None
) -> Invitation:
    """Withdraw an invitation; its link stops working. Raises NotFound or Forbidden (an admin and
    an invitation to be an owner)."""
    invitation = get_invitation(organization_id, invitation_id)
    staffing.require_authority(
        organization_id=organization_id,
        actor=actor,
        actor_role=actor_role,
        action="revoke_invitation",
        member_role=invitation.role,
    )
    _take(invitation.id)
    audit.record(
        "invitation.revoked",
        organization_id=organization_id,
        actor=actor,
        target_type="invitation",
        target_id=invitation.id,
    )
    return invitation


def _find(secret: str) -> Invitation:
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.secret_hash == hash_secret(secret or ""), _live())
    )
    if invitation is None:
        raise NotFound(GONE)
    return invitation


def find_invitation(secret: str) -> InvitationView:
    """What the link invites to. Raises NotFound when it is unknown, used, withdrawn or expired."""
    invitation = _find(secret)
    organization = service.get_organization(invitation.organization_id)
    return InvitationView(
        invitation_id=invitation.id,
        organization_id=organization.id,
        organization_name=organization.name,
        email=invitation.email,
        display_name=invitation.display_name,
        role=invitation.role,
        expires_at=invitation.expires_at,
    )


def _take(invitation_id: str) -> None:
    """Use the invitation up: one conditional DELETE, so of two requests racing with the same
    link exactly one goes on (the other gets NotFound)."""
    taken = db.session.execute(delete(Invitation).where(Invitation.id == invitation_id))
    if taken.rowcount != 1:
        raise NotFound(GONE)


def accept_with_new_account(secret: str, *, display_name: str, password: str) -> User:
    """Create the invited person's account (with the password they chose) and their membership.

    Raises NotFound (the link), Invalid (name or password) or Conflict (an account with the
    address exists: its owner signs in and accepts instead; no one's password is ever replaced).
    """
    invitation = _find(secret)
    _take(invitation.id)
    try:
        user = accounts.create_user(email=invitation.email, display_name=display_name, password=password)
    except IntegrityError:
        raise Conflict("An account with this e-mail address already exists. Sign in to accept.") from None
    except Conflict:
        raise Conflict("An account with this e-mail address already exists. Sign in to accept.") from None
    membership = service.add_membership(
        organization_id=invitation.organization_id, user=user, role=invitation.role, actor=audit.Actor(user.id)
    )
    _accepted(invitation, membership, user)
    return user


def accept_as_member(secret: str, *, user: User) -> Membership:
    """The signed-in ``user`` accepts the invitation sent to their address.

    Raises NotFound (the link) or Forbidden (it was sent to another address).
    """
    invitation = _find(secret)
    if invitation.email != user.email.lower():
        raise Forbidden(f"This invitation was sent to {invitation.email}. Sign in with that address to accept it.")
    _take(invitation.id)
    membership = service.active_membership(user.id, invitation.organization_id)
    if membership is None:
        membership = service.add_membership(
            organization_id=invitation.organization_id, user=user, role=invitation.role, actor=audit.Actor(user.id)
        )
    _accepted(invitation, membership, user)
    return membership


def _accepted(invitation: Invitation, membership: Membership, user: User) -> None:
    audit.record(
        "invitation.accepted",
        organization_id=invitation.organization_id,
        actor=audit.Actor(user_id=user.id),
        target_type="invitation",
        target_id=invitation.id,
        details={"role": membership.role, "membership_id": membership.id},
    )


def decline(secret: str, *, user: User | None) -> InvitationView:
    """Say no: the invitation is deleted and nothing else changes. Raises NotFound."""
    view = find_invitation(secret)
    _take(view.invitation_id)
    audit.record(
        "invitation.declined",
        organization_id=view.organization_id,
        actor=audit.Actor(user_id=user.id if user else None),
        target_type="invitation",
        target_id=view.invitation_id,
    )
    return view


@periodic.every_tick("staff_invitations.purge")
def purge_expired(now: datetime | None = None) -> int:
    """Delete invitations past their lifetime (they already stopped working); returns how many."""
    removed = db.session.execute(delete(Invitation).where(Invitation.expires_at <= (now or utcnow()))).rowcount
    db.session.commit()
    return removed or 0
