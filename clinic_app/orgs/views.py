"""Switching organization, and the staff pages for practice admins (``admin:staff``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.auth import service as auth_service
from clinic_app.auth.identity import current_identity
from clinic_app.auth.views import safe_next
from clinic_app.core.access import authenticated, requires
from clinic_app.core.errors import Conflict, FieldError, Forbidden, Invalid
from clinic_app.core.mail import MailError, send_mail
from clinic_app.core.permissions import ROLE_LABELS
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.web import is_htmx, render_page
from clinic_app.orgs import bp, service
from clinic_app.orgs.forms import MemberForm, RoleForm


@bp.post("/organizations/switch")
@authenticated
def switch() -> Response:
    identity = current_identity()
    if identity is None or identity.session_row is None or identity.user is None:
        raise Forbidden("Only a signed-in browser can switch organization.")
    organization_id = request.form.get("organization_id", "")
    auth_service.switch_organization(identity.session_row, user=identity.user, organization_id=organization_id)
    name = next(m.organization_name for m in identity.memberships if m.organization_id == organization_id)
    flash(f"You are now working in {name}.", "success")
    return redirect(safe_next(request.form.get("next")), code=303)


# --- staff management -------------------------------------------------------------------------


def _actor_role() -> str | None:
    """The signed-in person's role here; None for an API client (which never counts as an owner)."""
    identity = current_identity()
    return identity.role if identity is not None and identity.api_token is None else None


def _local_time(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%d %b %Y, %H:%M") if value else ""


def _staff_context(*, form: MemberForm | None = None, **extra: Any) -> dict[str, Any]:
    organization_id, actor_role = current_organization_id(), _actor_role()
    zone = ZoneInfo(service.get_organization(organization_id).time_zone)
    form = form or MemberForm(formdata=None)
    form.role.choices = [(role, ROLE_LABELS[role]) for role in service.assignable_roles(actor_role)]
    return {
        "members": service.staff(organization_id, actor_role=actor_role),
        "assignable_roles": service.assignable_roles(actor_role),
        "local_time": lambda value: _local_time(value, zone),
        "form": form,
        **extra,
    }


def _staff_answer(*, notice: str | None = None, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    """After a change: htmx gets the updated list (and an event), a plain form a redirect with a
    flash; a refused change re-renders the list with the reason and the error status (which also
    rolls the request back)."""
    if status < 400 and not is_htmx():
        flash(notice or "Saved.", "success")
        return redirect(url_for("orgs.staff"), code=303)
    context = _staff_context(notice=notice, error=error)
    if not is_htmx():
        return render_template("orgs/staff.html", **context), status
    response = make_response(render_template("orgs/_members.html", **context), status)
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
    return render_template(
        "orgs/confirm.html", title=title, question=question, button=button, fields=fields, danger=danger
    )


def _field_errors(form: MemberForm, errors: list[FieldError]) -> None:
    for problem in errors:
        field = getattr(form, problem.field, None) or form.email
        field.errors = [*field.errors, problem.message]


def _send_invitation(email: str, name: str, link: str) -> bool:
    """E-mail the set-password link. False when it could not be sent (the page still shows it)."""
    organization = " ".join(service.get_organization(current_organization_id()).name.split())
    body = (
        f"Hello {name},\n\n"
        f"You have been added to {organization}. Choose your password with this link to sign in. "
        f"It works once and expires in {auth_service.PASSWORD_LINK_HOURS} hours.\n\n"
        f"{link}\n\n"
        "If you did not expect this e-mail, you can ignore it.\n"
    )
    try:
        return send_mail(email, f"Your account at {organization}", body)
    except MailError:
        return False


def _added(added: service.AddedMember) -> dict[str, Any]:
    outcome: dict[str, Any] = {
        "notice": f"{added.user.display_name} was added as {ROLE_LABELS[added.membership.role]}.",
        "added_email": added.user.email,
    }
    if added.password_secret:
        link = url_for("auth.set_password", secret=added.password_secret, _external=True)
        mailed = _send_invitation(added.user.email, added.user.display_name, link)
        outcome.update(invitation_link=link, invitation_mailed=mailed, link_hours=auth_service.PASSWORD_LINK_HOURS)
    return outcome


@bp.get("/staff")
@requires("admin:staff")
def staff() -> str:
    return render_page("orgs/staff.html", "orgs/_members.html", **_staff_context())


@bp.post("/staff/members")
@requires("admin:staff")
def member_add() -> ResponseReturnValue:
    form, status, outcome = MemberForm(), 422, {}
    if form.validate_on_submit():
        try:
            added = service.add_staff_member(
                organization_id=current_organization_id(),
                email=form.email.data,
                display_name=form.display_name.data or "",
                role=form.role.data,
                actor=current_actor(),
                actor_role=_actor_role(),
            )
        except Invalid as error:
            _field_errors(form, error.errors)
        except (Conflict, Forbidden) as error:
            status = error.status
            _field_errors(form, [FieldError("role" if isinstance(error, Forbidden) else "email", error.detail)])
        else:
            form, status, outcome = MemberForm(formdata=None), 200, _added(added)
    context = _staff_context(form=form, **outcome)
    if not is_htmx():
        return render_template("orgs/staff.html", **context), status
    html = render_template("orgs/_member_form.html", **context)
    if status >= 400:
        return html, status
    # The list changed too: swap it in out of band.
    response = make_response(html + render_template("orgs/_members.html", oob=True, **context))
    response.headers["HX-Trigger"] = _staff_event(outcome["notice"])
    return response


@bp.post("/staff/members/<membership_id>/role")
@requires("admin:staff")
def member_role(membership_id: str) -> ResponseReturnValue:
    organization_id, actor_role = current_organization_id(), _actor_role()
    member = service.staff_member(organization_id, membership_id, actor_role=actor_role)
    form = RoleForm()
    if not form.validate_on_submit():
        return _staff_answer(error="Choose a role.", status=422)
    label = ROLE_LABELS.get(form.role.data, form.role.data)
    if not _confirmed():
        return _confirmation(
            title="Change role",
            question=f"Change the role of {member.name} from {ROLE_LABELS[member.role]} to {label}?",
            button="Change role",
            fields={"role": form.role.data},
            danger=False,
        )
    try:
        service.change_staff_role(
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
    member = service.staff_member(organization_id, membership_id, actor_role=actor_role)
    if not _confirmed():
        return _confirmation(
            title="Deactivate member",
            question=f"Deactivate {member.name}? They lose access to this organization and are signed out at once.",
            button="Deactivate",
            fields={},
            danger=True,
        )
    try:
        service.deactivate_staff_member(
            organization_id=organization_id, membership_id=membership_id, actor=current_actor(), actor_role=actor_role
        )
    except (Conflict, Forbidden) as error:
        return _staff_answer(error=error.detail, status=error.status)
    return _staff_answer(notice=f"{member.name} was deactivated and signed out everywhere.")
