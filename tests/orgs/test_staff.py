"""The staff pages: list, invite (test_invitations.py), change role, deactivate —
within one's own organization, and with owners the only ones who may touch owners."""

from __future__ import annotations

import json
import logging
import re

import pytest
from flask import render_template
from sqlalchemy import select

from clinic_app.accounts.models import User
from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.core.errors import Conflict, Forbidden
from clinic_app.extensions import db
from clinic_app.orgs import invitations, staffing
from clinic_app.orgs import service as orgs
from clinic_app.orgs.models import Membership
from tests.factories import PASSWORD, make_user, page_csrf, sign_in


@pytest.fixture
def admin(login_as):
    return login_as("admin")


@pytest.fixture
def owner(login_as):
    return login_as("owner")


def membership_of(app, user, organization):
    with app.app_context():
        membership = db.session.scalar(
            select(Membership).where(Membership.user_id == user.id, Membership.organization_id == organization.id)
        )
        db.session.expunge(membership)
        return membership


def htmx(client, path="/staff"):
    return {"HX-Request": "true", "X-CSRFToken": page_csrf(client, path)}


def events(app, action):
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


# --- the list and who may see it --------------------------------------------------------------


def test_admin_sees_every_member_on_the_full_page_and_in_the_fragment(admin, tenants):
    response = admin.get("/staff")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in page and 'id="members"' in page and 'id="member-form"' in page
    for email in ("owner@harbour.example", "admin@harbour.example", "receptionist@harbour.example"):
        assert email in page
    assert "Practice admin" in page and "Receptionist" in page and "Active" in page
    assert "owner@northside.example" not in page  # another organization's people stay there
    assert "HX-Request" in response.headers["Vary"]

    fragment = admin.get("/staff", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and 'id="members"' in fragment
    assert "clinician@harbour.example" in fragment


def test_last_sign_in_is_shown_in_the_organizations_time_zone(admin, tenants):
    html = admin.get("/staff").get_data(as_text=True)
    row = re.search(r'<tr id="member-[^"]+">\s*<td>Admin</td>.*?</tr>', html, re.S).group(0)
    assert "<time datetime=" in row  # the admin just signed in
    clinician_row = re.search(r"<td>Clinician</td>\s*<td>clinician@.*?</tr>", html, re.S).group(0)
    assert "Never" in clinician_row


def test_empty_state(app):
    with app.test_request_context():
        html = render_template("staff/_members.html", members=[], assignable_roles=(), local_time=str)
    assert "No staff yet" in html and "<table" not in html


@pytest.mark.parametrize("role", ["receptionist", "clinician"])
def test_front_desk_and_clinicians_are_refused(login_as, app, tenants, role):
    client = login_as(role)
    assert client.get("/staff").status_code == 403
    token = page_csrf(client, "/account")
    target = membership_of(app, tenants.user("receptionist"), tenants.a)
    response = client.post(
        f"/staff/members/{target.id}/deactivate", data={"confirmed": "yes"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 403
    response = client.post(
        "/staff/members",
        data={"email": "sneaky@example.com", "display_name": "Sneaky", "role": "admin"},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 403
    assert membership_of(app, tenants.user("receptionist"), tenants.a).is_active
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "sneaky@example.com")) is None


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/staff")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/staff"


def test_another_organizations_member_ids_are_not_found(login_as, app, tenants):
    outsider = login_as("outsider")
    token = page_csrf(outsider, "/staff")
    target = membership_of(app, tenants.user("clinician"), tenants.a)
    for path, data in (
        (f"/staff/members/{target.id}/role", {"role": "receptionist", "confirmed": "yes"}),
        (f"/staff/members/{target.id}/deactivate", {"confirmed": "yes"}),
        (f"/staff/members/{target.id}/role", {"role": "receptionist"}),  # the confirmation step too
    ):
        response = outsider.post(path, data=data, headers={"X-CSRFToken": token})
        assert response.status_code == 404, path
        assert "clinician@harbour.example" not in response.get_data(as_text=True)
    unchanged = membership_of(app, tenants.user("clinician"), tenants.a)
    assert unchanged.role == "clinician" and unchanged.is_active


# --- inviting (more in test_invitations.py) ---------------------------------------------------


def test_adding_someone_who_is_already_a_member_is_a_conflict_on_the_form(admin, app, tenants):
    response = admin.post(
        "/staff/members",
        data={"email": "clinician@harbour.example", "display_name": "", "role": "receptionist"},
        headers=htmx(admin),
    )
    assert response.status_code == 409
    assert "already a member" in response.get_data(as_text=True)
    assert membership_of(app, tenants.user("clinician"), tenants.a).role == "clinician"


# --- changing roles ---------------------------------------------------------------------------


def test_changing_a_role_with_htmx_updates_the_list_and_the_audit_trail(admin, app, tenants):
    target = membership_of(app, tenants.user("receptionist"), tenants.a)
    response = admin.post(
        f"/staff/members/{target.id}/role", data={"role": "clinician", "confirmed": "yes"}, headers=htmx(admin)
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and 'id="members"' in html and "Receptionist is now Clinician" in html
    assert json.loads(response.headers["HX-Trigger"])["staff-changed"]["message"] == "Receptionist is now Clinician."
    assert membership_of(app, tenants.user("receptionist"), tenants.a).role == "clinician"
    changed = events(app, "membership.role_changed")
    assert len(changed) == 1
    assert changed[0].target_id == tenants.user("receptionist").id
    assert changed[0].actor_user_id == tenants.user("admin").id
    assert changed[0].organization_id == tenants.a.id
    assert changed[0].details == {"from": "receptionist", "to": "clinician"}


def test_without_javascript_a_role_change_is_confirmed_on_a_page_then_redirects(admin, app, tenants):
    target = membership_of(app, tenants.user("receptionist"), tenants.a)
    token = page_csrf(admin, "/staff")
    ask = admin.post(f"/staff/members/{target.id}/role", data={"role": "clinician", "csrf_token": token})
    html = ask.get_data(as_text=True)
    assert ask.status_code == 200
    assert "from Receptionist to Clinician?" in html and 'name="confirmed" value="yes"' in html
    assert membership_of(app, tenants.user("receptionist"), tenants.a).role == "receptionist"

    done = admin.post(
        f"/staff/members/{target.id}/role", data={"role": "clinician", "confirmed": "yes", "csrf_token": token}
    )
    assert done.status_code == 303 and done.headers["Location"] == "/staff"
    assert "Receptionist is now Clinician." in admin.get("/staff").get_data(as_text=True)
    assert membership_of(app, tenants.user("receptionist"), tenants.a).role == "clinician"


def test_an_unknown_role_is_refused(admin, app, tenants):
    target = membership_of(app, tenants.user("receptionist"), tenants.a)
    response = admin.post(
        f"/staff/members/{target.id}/role", data={"role": "superuser", "confirmed": "yes"}, headers=htmx(admin)
    )
    assert response.status_code == 422 and "Choose one of" in response.get_data(as_text=True)
    assert membership_of(app, tenants.user("receptionist"), tenants.a).role == "receptionist"


# --- the owner rules --------------------------------------------------------------------------


def test_the_last_owner_can_be_neither_demoted_nor_deactivated(owner, app, tenants):
    mine = membership_of(app, tenants.user("owner"), tenants.a)
    demote = owner.post(
        f"/staff/members/{mine.id}/role", data={"role": "admin", "confirmed": "yes"}, headers=htmx(owner)
    )
    assert demote.status_code == 409
    assert "last owner" in demote.get_data(as_text=True)

    token = page_csrf(owner, "/staff")
    remove = owner.post(f"/staff/members/{mine.id}/deactivate", data={"confirmed": "yes", "csrf_token": token})
    assert remove.status_code == 409
    assert "<html" in remove.get_data(as_text=True) and "deactivate yourself" in remove.get_data(as_text=True)
    with app.app_context():  # the service refuses the last owner whoever asks
        with pytest.raises(Conflict, match="last owner"):
            orgs.deactivate_membership(organization_id=tenants.a.id, membership_id=mine.id, actor=audit.Actor())
        db.session.rollback()

    unchanged = membership_of(app, tenants.user("owner"), tenants.a)
    assert unchanged.role == "owner" and unchanged.is_active
    assert events(app, "membership.role_changed") == [] and events(app, "membership.deactivated") == []
    assert owner.get("/staff").status_code == 200  # still signed in


def test_an_admin_cannot_make_anyone_an_owner(admin, app, tenants, caplog):
    target = membership_of(app, tenants.user("clinician"), tenants.a)
    with caplog.at_level(logging.WARNING, logger="clinic_app.orgs"):
        response = admin.post(
            f"/staff/members/{target.id}/role", data={"role": "owner", "confirmed": "yes"}, headers=htmx(admin)
        )
    assert response.status_code == 403
    assert "Only an owner can make someone an owner." in response.get_data(as_text=True)
    assert membership_of(app, tenants.user("clinician"), tenants.a).role == "clinician"
    assert events(app, "membership.role_changed") == []
    refused = [r for r in caplog.records if getattr(r, "event", None) == "staff_change_refused"]
    assert [(r.actor_user_id, r.new_role) for r in refused] == [(tenants.user("admin").id, "owner")]

    added = admin.post(
        "/staff/members",
        data={"email": "would-be-owner@example.com", "display_name": "Would Be", "role": "owner"},
        headers=htmx(admin),
    )
    assert added.status_code == 403 and "Only an owner" in added.get_data(as_text=True)
    assert events(app, "invitation.created") == []

    page = admin.get("/staff").get_data(as_text=True)
    assert '<option value="owner"' not in page  # not even offered


def test_an_admin_cannot_change_or_deactivate_an_owner(admin, app, tenants):
    # A second owner, so the last-owner rule is not what stops it.
    with app.app_context():
        make_user("second-owner@harbour.example", organization_id=tenants.a.id, role="owner")
        db.session.commit()
    target = membership_of(app, tenants.user("owner"), tenants.a)
    headers = htmx(admin)
    demote = admin.post(
        f"/staff/members/{target.id}/role", data={"role": "clinician", "confirmed": "yes"}, headers=headers
    )
    remove = admin.post(f"/staff/members/{target.id}/deactivate", data={"confirmed": "yes"}, headers=headers)
    assert demote.status_code == remove.status_code == 403
    assert "Only an owner can change or remove an owner." in remove.get_data(as_text=True)
    unchanged = membership_of(app, tenants.user("owner"), tenants.a)
    assert unchanged.role == "owner" and unchanged.is_active


def test_an_owner_may_promote_to_owner(owner, app, tenants):
    target = membership_of(app, tenants.user("admin"), tenants.a)
    response = owner.post(
        f"/staff/members/{target.id}/role", data={"role": "owner", "confirmed": "yes"}, headers=htmx(owner)
    )
    assert response.status_code == 200
    assert membership_of(app, tenants.user("admin"), tenants.a).role == "owner"


def test_the_service_enforces_the_owner_rule_whatever_the_caller(app, tenants):
    with app.app_context():
        target = orgs.active_membership(tenants.user("clinician").id, tenants.a.id)
        owner_membership = orgs.active_membership(tenants.user("owner").id, tenants.a.id)
        actor = audit.Actor(user_id=tenants.user("admin").id)
        with pytest.raises(Forbidden):
            staffing.change_staff_role(
                organization_id=tenants.a.id, membership_id=target.id, role="owner", actor=actor, actor_role="admin"
            )
        with pytest.raises(Forbidden):
            staffing.deactivate_staff_member(
                organization_id=tenants.a.id, membership_id=owner_membership.id, actor=actor, actor_role=None
            )
        with pytest.raises(Forbidden):
            invitations.invite_staff_member(
                organization_id=tenants.a.id,
                email="x@example.com",
                display_name="X",
                role="admin",
                actor=actor,
                actor_role="receptionist",
            )
        db.session.rollback()
        assert orgs.active_membership(tenants.user("clinician").id, tenants.a.id).role == "clinician"


# --- deactivating -----------------------------------------------------------------------------


def test_deactivating_a_member_ends_their_access_at_once(admin, login_as, app, tenants):
    clinician = login_as("clinician")
    assert clinician.get("/account").status_code == 200
    target = membership_of(app, tenants.user("clinician"), tenants.a)

    response = admin.post(f"/staff/members/{target.id}/deactivate", data={"confirmed": "yes"}, headers=htmx(admin))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Clinician no longer has access to this organization" in html and "Deactivated" in html
    assert not membership_of(app, tenants.user("clinician"), tenants.a).is_active
    assert [e.target_id for e in events(app, "membership.deactivated")] == [tenants.user("clinician").id]

    # They belonged to this organization only: nothing is left to be signed in to.
    after = clinician.get("/account")
    assert after.status_code == 302 and after.headers["Location"].startswith("/login")


def test_without_javascript_deactivation_asks_first(admin, app, tenants):
    target = membership_of(app, tenants.user("receptionist"), tenants.a)
    token = page_csrf(admin, "/staff")
    ask = admin.post(f"/staff/members/{target.id}/deactivate", data={"csrf_token": token})
    assert ask.status_code == 200 and "Deactivate Receptionist?" in ask.get_data(as_text=True)
    assert membership_of(app, tenants.user("receptionist"), tenants.a).is_active
    done = admin.post(f"/staff/members/{target.id}/deactivate", data={"csrf_token": token, "confirmed": "yes"})
    assert done.status_code == 303 and done.headers["Location"] == "/staff"
    assert not membership_of(app, tenants.user("receptionist"), tenants.a).is_active


def test_nobody_can_deactivate_themselves(admin, app, tenants):
    mine = membership_of(app, tenants.user("admin"), tenants.a)
    page = admin.get("/staff").get_data(as_text=True)
    own_row = re.search(rf'<tr id="member-{mine.id}".*?</tr>', page, re.S).group(0)
    assert "This is you" in own_row and "/deactivate" not in own_row
    other = membership_of(app, tenants.user("clinician"), tenants.a)
    assert f"/staff/members/{other.id}/deactivate" in page  # others still have the button

    token = page_csrf(admin, "/staff")
    refused = admin.post(f"/staff/members/{mine.id}/deactivate", data={"csrf_token": token, "confirmed": "yes"})
    assert refused.status_code == 409 and "deactivate yourself" in refused.get_data(as_text=True)
    assert membership_of(app, tenants.user("admin"), tenants.a).is_active
    assert events(app, "membership.deactivated") == []
    assert admin.get("/staff").status_code == 200  # still signed in


def test_a_deactivated_member_can_be_invited_again_and_accept(admin, login_as, app, tenants, capsys):
    target = membership_of(app, tenants.user("receptionist"), tenants.a)
    headers = htmx(admin)
    admin.post(f"/staff/members/{target.id}/deactivate", data={"confirmed": "yes"}, headers=headers)
    capsys.readouterr()
    again = admin.post(
        "/staff/members",
        data={"email": "receptionist@harbour.example", "display_name": "", "role": "clinician"},
        headers=headers,
    )
    assert again.status_code == 200 and "/invitations/join_" not in again.get_data(as_text=True)
    assert not membership_of(app, tenants.user("receptionist"), tenants.a).is_active  # not until they accept
    link = re.search(r"http://\S+/invitations/\S+", capsys.readouterr().out).group(0)

    # Removed from their only organization, they cannot sign in; the invitation takes their
    # existing password and lets them back in.
    assert sign_in(app.test_client(), "receptionist@harbour.example").status_code == 401
    person = app.test_client()
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    accept = person.post(f"{path}/accept", data={"password": PASSWORD, "csrf_token": page_csrf(person, path)})
    assert accept.status_code == 303
    restored = membership_of(app, tenants.user("receptionist"), tenants.a)
    assert restored.is_active and restored.role == "clinician"
    assert person.get("/patients").status_code == 200
