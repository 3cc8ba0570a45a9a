"""Switching organization, and the staff pages for practice admins (``admin:staff``)."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from typing import Any

from flask import make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.auth.api_tokens import tokens_at_stake
from clinic_app.auth.identity import current_identity
from clinic_app.auth.sessions import switch_organization
from clinic_app.core.access import authenticated, requires
from clinic_app.core.errors import Conflict, FieldError, Forbidden, Invalid
from clinic_app.core.mail import MailError, public_url, send_mail
from clinic_app.core.permissions import ROLE_LABELS
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import organization_zone
from clinic_app.core.web import done, is_htmx, put_errors, render_confirm, render_page, safe_next
from clinic_app.orgs import invitations, staffing
from clinic_app.orgs import service as orgs
from clinic_app.staff import bp
from clinic_app.staff.forms import MemberForm, RoleForm


@bp.post("/organizations/switch")
@authenticated
def switch() -> ResponseReturnValue:
    identity = current_identity()
    if identity is None or identity.session_row is None or identity.user is None:
        raise Forbidden("Only a signed-in browser can switch organization.")
    organization_id = request.form.get("organization_id", "")
    switch_organization(identity.session_row, user=identity.user, organization_id=organization_id)
    name = next(m.organization_name for m in identity.memberships if m.organization_id == organization_id)
    return done(f"You are now working in {name}.", safe_next(request.form.get("next")))


# --- staff management -------------------------------------------------------------------------


def _actor_role() -> str | None:
    """The signed-in person's role here; None for an API client (which never counts as an owner)."""
    identity = current_identity()
    return identity.role if identity is not None and identity.api_token is None else None


def _local_time(value: datetime | None, zone: tzinfo) -> str:
    return value.astimezone(zone).strftime("%d %b %Y, %H:%M") if value else ""


def _staff_context(*, form: MemberForm | None = None, **extra: Any) -> dict[str, Any]:
    organization_id, actor_role = current_organization_id(), _actor_role()
    zone = organization_zone(organization_id)
    form = form or MemberForm(formdata=None)
    form.role.choices = [(role, ROLE_LABELS[role]) for role in staffing.assignable_roles(actor_role)]
    return {
        "members": staffing.staff(organization_id, actor_role=actor_role),
        "invitations": invitations.pending_invitations(organization_id),
        "may_manage": lambda role: staffing.may_manage(actor_role, role),
        "assignable_roles": staffing.assignable_roles(actor_role),
        "local_time": lambda value: _local_time(value, zone),
        "form": form,
        **extra,
    }


def _staff_answer(*, notice: str | None = None, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    """After a change: htmx gets the updated list (and an event), a plain form a redirect with a
    flash; a refused change re-renders the list with the reason and the error status (which also
    rolls the request back)."""
    if status < 400 and not is_htmx():
        return done(notice or "Saved.", url_for("orgs.staff"))
    context = _staff_context(notice=notice, error=error)
    if not is_htmx():
        return render_template("staff/staff.html", **context), status
    response = make_response(
        render_template("staff/_members.html", **context)
        + render_template("staff/_invitations.html", oob=True, **context),
        status,
    )
    if status < 400:
        response.headers["HX-Trigger"] = _staff_event(notice)
    return response


def _staff_event(message: str | None) -> str:
    # json.dumps escapes non-ASCII, so a name like "Zoë" stays a valid header value.
    return json.dumps({"staff-changed": {"message": message}})


def _confirmed() -> bool:
    # htmx buttons ask with hx-confirm and send confirmed=yes; a plain form gets a confirmation page.
    return request.form.get("confirmed") == "yes"


def _confirmation(*, title: str, question: str, button: str, fields: dict[str, str], danger: bool) -> str:
    return render_confirm(
        title=title,
        question=question,
        button=button,
        back=url_for("orgs.staff"),
        danger=danger,
        hidden=fields,
        back_label="Cancel",
    )


def _send_invitation(email: str, name: str, role: str, link: str) -> bool:
    """E-mail the invitation link. False when it could not be sent (mail not configured or the
    mail server failing): the link is never shown instead, so only the mailbox's owner holds it."""
    organization = " ".join(orgs.get_organization(current_organization_id()).name.split())
    greeting = f"Hello {name}," if name else "Hello,"
    body = (
        f"{greeting}\n\n"
        f"{organization} invites you to join as {ROLE_LABELS[role]}. Open this link to accept (or decline). "
        f"It works once and expires in {invitations.INVITATION_DAYS} days.\n\n"
        f"{link}\n\n"
        "If you did not expect this e-mail, you can ignore it.\n"
    )
    try:
        return send_mail(email, f"Invitation to {organization}", body)
    except MailError:
        return False


def _invited(issued: invitations.IssuedInvitation) -> dict[str, Any]:
    invitation = issued.invitation
    link = public_url(url_for("orgs.invitation", secret=issued.secret))
    mailed = _send_invitation(invitation.email, invitation.display_name, invitation.role, link)
    if mailed:
        notice = f"An invitation to join as {ROLE_LABELS[invitation.role]} was e-mailed to {invitation.email}."
    else:
        notice = (
            f"The invitation for {invitation.email} is saved but could not be e-mailed. "
            "Check the mail settings, then send it again."
        )
    return {"notice": notice, "added_email": invitation.email, "invitation_mailed": mailed}


@bp.get("/staff")
@requires("admin:staff")
def staff() -> str:
    return render_page("staff/staff.html", "staff/_members.html", **_staff_context())


@bp.post("/staff/members")
@requires("admin:staff")
def member_add() -> ResponseReturnValue:
    form, status, outcome = MemberForm(), 422, {}
    if form.validate_on_submit():
        try:
            issued = invitations.invite_staff_member(
                organization_id=current_organization_id(),
                email=form.email.data,
                display_name=form.display_name.data or "",
                role=form.role.data,
                actor=current_actor(),
                actor_role=_actor_role(),
            )
        except Invalid as error:
            put_errors(form, error.errors, fallback="email")
        except (Conflict, Forbidden) as error:
            status = error.status
            problem = FieldError("role" if isinstance(error, Forbidden) else "email", error.detail)
            put_errors(form, [problem], fallback="email")
        else:
            form, status, outcome = MemberForm(formdata=None), 200, _invited(issued)
    context = _staff_context(form=form, **outcome)
    if not is_htmx():
        return render_template("staff/staff.html", **context), status
    html = render_template("staff/_member_form.html", **context)
    if status >= 400:
        return html, status
    # The list changed too: swap it in out of band.
    response = make_response(
        html
        + render_template("staff/_members.html", oob=True, **context)
        + render_template("staff/_invitations.html", oob=True, **context)
    )
    response.headers["HX-Trigger"] = _staff_event(outcome["notice"])
    return response


@bp.post("/staff/members/<membership_id>/role")
@requires("admin:staff")
def member_role(membership_id: str) -> ResponseReturnValue:
    organization_id, actor_role = current_organization_id(), _actor_role()
    member = staffing.staff_member(organization_id, membership_id, actor_role=actor_role)
    form = RoleForm()
    if not form.validate_on_submit():
        return _staff_answer(error="Choose a role.", status=422)
    label = ROLE_LABELS.get(form.role.data, form.role.data)
    if not _confirmed():
        return _confirmation(
            title="Change role",
            question=_role_question(member, form.role.data, label),
            button="Change role",
            fields={"role": form.role.data},
            danger=False,
        )
    try:
        staffing.change_staff_role(
            organization_id=organization_id,
            membership_id=membership_id,
            role=form.role.data,
            actor=current_actor(),
            actor_role=actor_role,
        )
    except (Invalid, Conflict, Forbidden) as error:
        message = error.errors[0].message if isinstance(error, Invalid) and error.errors else error.detail
        return _staff_answer(error=message, status=error.status)
    return _staff_answer(notice=f"{member.name} is now {label}.")


@bp.post("/staff/members/<membership_id>/deactivate")
@requires("admin:staff")
def member_deactivate(membership_id: str) -> ResponseReturnValue:
    organization_id, actor_role = current_organization_id(), _actor_role()
    member = staffing.staff_member(organization_id, membership_id, actor_role=actor_role)
    if not _confirmed():
        return _confirmation(
            title="Deactivate member",
            question=_deactivation_question(member),
            button="Deactivate",
            fields={},
            danger=True,
        )
    try:
        staffing.deactivate_staff_member(
            organization_id=organization_id, membership_id=membership_id, actor=current_actor(), actor_role=actor_role
        )
    except (Conflict, Forbidden) as error:
        return _staff_answer(error=error.detail, status=error.status)
    return _staff_answer(notice=f"{member.name} no longer has access to this organization.")


def _role_question(member: staffing.StaffMember, role: str, label: str) -> str:
    question = f"Change the role of {member.name} from {ROLE_LABELS[member.role]} to {label}?"
    if role in ROLE_LABELS:
        tokens = tokens_at_stake(member.user_id, current_organization_id(), new_role=role)
        if tokens:
            names = ", ".join(token.name for token in tokens)
            question += f" API tokens they created that hold more than the new role allows stop working: {names}."
    return question


def _deactivation_question(member: staffing.StaffMember) -> str:
    question = f"Deactivate {member.name}? They lose access to this organization at once."
    tokens = tokens_at_stake(member.user_id, current_organization_id())
    if tokens:
        names = ", ".join(token.name for token in tokens)
        question += f" The API tokens they created here stop working too: {names}."
    return question


@bp.post("/staff/invitations/<invitation_id>/revoke")
@requires("admin:staff")
def invitation_revoke(invitation_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    invitation = invitations.get_invitation(organization_id, invitation_id)
    if not _confirmed():
        return _confirmation(
            title="Withdraw invitation",
            question=f"Withdraw the invitation for {invitation.email}? Its link stops working.",
            button="Withdraw",
            fields={},
            danger=True,
        )
    try:
        invitations.revoke_invitation(
            organization_id=organization_id,
            invitation_id=invitation_id,
            actor=current_actor(),
            actor_role=_actor_role(),
        )
    except Forbidden as error:
        return _staff_answer(error=error.detail, status=error.status)
    return _staff_answer(notice=f"The invitation for {invitation.email} was withdrawn.")
