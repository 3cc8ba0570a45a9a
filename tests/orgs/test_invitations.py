"""Staff invitations: one organization can never take over, reveal or redeem what another one sent,
and no one but the invited person ever chooses their password."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from clinic_app.accounts.models import User
from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.core.errors import NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import invitations
from clinic_app.orgs import service as orgs
from clinic_app.orgs.models import Invitation, Membership
from tests.factories import make_user, page_csrf, sign_in

LINK = re.compile(r"https?://[^\s\"'<]+/invitations/(join_[A-Za-z0-9_\-]+)")
NEW_PASSWORD = "violet harbour lantern quietly"


def invite(client, email, *, role="clinician", name="", capsys):
    """Invite through the staff page (htmx); returns the response and the e-mailed link's secret."""
    capsys.readouterr()
    response = client.post(
        "/staff/members",
        data={"email": email, "display_name": name, "role": role},
        headers={"HX-Request": "true", "X-CSRFToken": page_csrf(client, "/staff")},
    )
    match = LINK.search(capsys.readouterr().out)
    return response, match.group(1) if match else None


def join(client, secret, *, name="Nina New", password=NEW_PASSWORD):
    token = page_csrf(client, f"/invitations/{secret}")
    return client.post(
        f"/invitations/{secret}/join",
        data={"display_name": name, "new_password": password, "confirm": password, "csrf_token": token},
    )


def accept(client, secret):
    return client.post(
        f"/invitations/{secret}/accept", data={"csrf_token": page_csrf(client, f"/invitations/{secret}")}
    )


def membership(app, email, organization_id):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        return None if user is None else orgs.active_membership(user.id, organization_id)


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_an_invitation_creates_nothing_until_the_person_accepts(login_as, app, client, tenants, capsys):
    admin = login_as("admin")
    response, secret = invite(admin, "New.Person@Example.com", name="Nina New", capsys=capsys)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "An invitation to join as Clinician was e-mailed to new.person@example.com" in html
    assert secret is not None and secret not in html  # e-mailed, never shown to the inviter
    assert re.search(r'<section id="invitations"[^>]*hx-swap-oob="true"', html)
    assert count(app, User) == 5  # no account yet
    with app.app_context():
        stored = db.session.scalar(select(Invitation))
        assert stored.email == "new.person@example.com" and stored.role == "clinician"
        assert secret not in stored.secret_hash  # only the hash is kept
        assert stored.expires_at - stored.created_at == timedelta(days=7)

    page = client.get(f"/invitations/{secret}")
    assert page.status_code == 200
    assert "Harbour Physiotherapy" in page.get_data(as_text=True) and "Clinician" in page.get_data(as_text=True)

    joined = join(client, secret)
    assert joined.status_code == 303 and joined.headers["Location"] == "/login"
    assert membership(app, "new.person@example.com", tenants.a.id).role == "clinician"
    assert count(app, Invitation) == 0
    signed_in = sign_in(app.test_client(), "new.person@example.com", NEW_PASSWORD)
    assert signed_in.status_code == 303

    # Single use.
    assert client.get(f"/invitations/{secret}").status_code == 404
    assert join(app.test_client(), secret).status_code in (400, 404)


def test_another_clinic_inviting_the_same_address_cannot_take_over_the_first_invitation(login_as, app, tenants, capsys):
    """The attack this design answers: clinic B, after clinic A invited someone new, invited the
    same address, received a fresh set-password link (which killed A's), chose the password and
    signed in to A as that person."""
    admin_a = login_as("admin")
    _response, secret_a = invite(admin_a, "newclinician@harbour.example", capsys=capsys)
    owner_b = login_as("outsider")
    response_b, secret_b = invite(owner_b, "newclinician@harbour.example", capsys=capsys)
    assert response_b.status_code == 200 and secret_b != secret_a
    assert secret_b not in response_b.get_data(as_text=True)

    # Even with B's link in hand, B gets an account that belongs to B alone...
    attacker = app.test_client()
    assert join(attacker, secret_b, name="Mallory").status_code == 303
    assert membership(app, "newclinician@harbour.example", tenants.b.id) is not None
    assert membership(app, "newclinician@harbour.example", tenants.a.id) is None
    sign_in(attacker, "newclinician@harbour.example", NEW_PASSWORD)
    assert attacker.get("/patients", headers={"X-Organization-ID": tenants.a.id}).status_code == 404
    switch = attacker.post(
        "/organizations/switch",
        data={"organization_id": tenants.a.id, "csrf_token": page_csrf(attacker, "/account")},
    )
    assert switch.status_code == 404

    # ...and A's invitation still stands, untouched: it can only be accepted by whoever holds A's
    # link and is signed in to that account, and it never sets a password.
    assert app.test_client().get(f"/invitations/{secret_a}").status_code == 200
    assert join(app.test_client(), secret_a, password="another password entirely").status_code == 409
    still = sign_in(app.test_client(), "newclinician@harbour.example", "another password entirely")
    assert still.status_code == 401


def test_the_inviting_clinic_sees_only_what_it_typed(login_as, app, tenants, capsys):
    admin = login_as("admin")
    with app.app_context():
        existing = make_user("locum@elsewhere.example", name="Secret Real Name")
        existing.last_login_at = utcnow()
        db.session.commit()
    invite(admin, "locum@elsewhere.example", name="Typed Name", capsys=capsys)
    invite(admin, "nobody@elsewhere.example", name="Other Typed", capsys=capsys)

    page = admin.get("/staff").get_data(as_text=True)
    assert "Secret Real Name" not in page and "Typed Name" in page
    rows = re.findall(r"<tr id=\"invitation-[^\"]+\" data-invitation-row>(.*?)</tr>", page, re.S)
    assert len(rows) == 2

    def shape(row):
        return re.sub(r"inv_[A-Za-z0-9]+|[\w.]+@elsewhere\.example|Typed Name|Other Typed|<time.*?</time>", "X", row)

    # An address with an account and one without look exactly alike.
    assert shape(rows[0]) == shape(rows[1])


def test_someone_with_an_account_accepts_signed_in_and_keeps_their_password(login_as, app, tenants, capsys):
    admin = login_as("admin")
    outsider = tenants.outsider
    _response, secret = invite(admin, outsider.email, role="receptionist", capsys=capsys)
    with app.app_context():
        hash_before = db.session.get(User, outsider.id).password_hash

    anonymous = app.test_client()
    refused = join(anonymous, secret, name="Mallory", password="mallory chooses this one")
    assert refused.status_code == 409 and "Sign in to accept" in refused.get_data(as_text=True)
    token = page_csrf(anonymous, f"/invitations/{secret}")
    guessed = anonymous.post(f"/invitations/{secret}/accept", data={"password": "a guess", "csrf_token": token})
    assert guessed.status_code == 401
    assert membership(app, outsider.email, tenants.a.id) is None

    # Someone else signed in cannot accept it for them.
    someone_else = login_as("clinician")
    wrong = accept(someone_else, secret)
    assert wrong.status_code == 403
    assert membership(app, outsider.email, tenants.a.id) is None

    person = login_as("outsider")
    accepted = accept(person, secret)
    assert accepted.status_code == 303
    assert membership(app, outsider.email, tenants.a.id).role == "receptionist"
    assert membership(app, outsider.email, tenants.b.id) is not None
    with app.app_context():
        assert db.session.get(User, outsider.id).password_hash == hash_before
    assert person.get("/patients").status_code == 200  # now working in the clinic that invited them


def test_declining_and_expiry_leave_nothing_behind(login_as, app, client, tenants, capsys):
    admin = login_as("admin")
    _response, declined = invite(admin, "maybe@example.com", capsys=capsys)
    _response, expiring = invite(admin, "later@example.com", capsys=capsys)

    answer = client.post(f"/invitations/{declined}/decline", data={"csrf_token": page_csrf(client, "/login")})
    assert answer.status_code == 303
    assert client.get(f"/invitations/{declined}").status_code == 404
    assert count(app, Invitation) == 1 and count(app, User) == 5

    with time_machine.travel(utcnow() + timedelta(days=7, seconds=1), tick=False):
        assert client.get(f"/invitations/{expiring}").status_code == 404
        assert join(app.test_client(), expiring).status_code in (400, 404)
        with app.app_context():
            assert invitations.purge_expired() == 1
    assert count(app, Invitation) == 0 and count(app, User) == 5
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"invitation.created", "invitation.declined"} <= actions


def test_an_admin_withdraws_only_their_own_organizations_invitations(login_as, app, tenants, capsys):
    admin = login_as("admin")
    _response, secret = invite(admin, "withdrawn@example.com", capsys=capsys)
    owner_b = login_as("outsider")
    _response, secret_b = invite(owner_b, "theirs@example.com", capsys=capsys)
    with app.app_context():
        mine = db.session.scalar(select(Invitation).where(Invitation.organization_id == tenants.a.id))
        theirs = db.session.scalar(select(Invitation).where(Invitation.organization_id == tenants.b.id))
    headers = {"HX-Request": "true", "X-CSRFToken": page_csrf(admin, "/staff")}

    assert (
        admin.post(f"/staff/invitations/{theirs.id}/revoke", data={"confirmed": "yes"}, headers=headers).status_code
        == 404
    )
    assert app.test_client().get(f"/invitations/{secret_b}").status_code == 200

    ask = admin.post(f"/staff/invitations/{mine.id}/revoke", data={"csrf_token": headers["X-CSRFToken"]})
    assert ask.status_code == 200 and "Withdraw the invitation for withdrawn@example.com?" in ask.get_data(as_text=True)
    assert app.test_client().get(f"/invitations/{secret}").status_code == 200
    done = admin.post(f"/staff/invitations/{mine.id}/revoke", data={"confirmed": "yes"}, headers=headers)
    assert done.status_code == 200 and "was withdrawn" in done.get_data(as_text=True)
    assert app.test_client().get(f"/invitations/{secret}").status_code == 404


def test_inviting_again_replaces_only_this_clinics_earlier_link(login_as, app, tenants, capsys):
    admin = login_as("admin")
    _response, first = invite(admin, "twice@example.com", capsys=capsys)
    _response, second = invite(admin, "twice@example.com", capsys=capsys)
    assert first != second
    assert app.test_client().get(f"/invitations/{first}").status_code == 404
    assert app.test_client().get(f"/invitations/{second}").status_code == 200
    assert count(app, Invitation) == 1


def test_a_receptionist_cannot_invite_and_an_admin_cannot_invite_an_owner(login_as, app, tenants, capsys):
    receptionist = login_as("receptionist")
    response = receptionist.post(
        "/staff/members", data={"email": "x@example.com", "role": "clinician", "csrf_token": page_csrf(receptionist)}
    )
    assert response.status_code in (403, 404)
    admin = login_as("admin")
    refused, secret = invite(admin, "boss@example.com", role="owner", capsys=capsys)
    assert refused.status_code == 403 and secret is None
    assert count(app, Invitation) == 0


def test_a_link_used_once_cannot_be_used_again_by_the_service(app, tenants):
    with app.app_context():
        issued = invitations.invite_staff_member(
            organization_id=tenants.a.id,
            email="once@example.com",
            display_name="",
            role="clinician",
            actor=audit.Actor(user_id=tenants.user("admin").id),
            actor_role="admin",
        )
        db.session.commit()
        invitations.accept_with_new_account(issued.secret, display_name="First", password=NEW_PASSWORD)
        db.session.commit()
        with pytest.raises(NotFound):
            invitations.accept_with_new_account(issued.secret, display_name="Second", password=NEW_PASSWORD)
        db.session.rollback()
        members = select(func.count()).select_from(Membership).join(User).where(User.email == "once@example.com")
        assert db.session.scalar(members) == 1


def test_names_that_cannot_be_stored_are_refused_on_the_form_and_nothing_is_written(login_as, app, tenants, capsys):
    admin = login_as("admin")
    refused, secret = invite(admin, "nul@example.com", name="Nina\x00New", capsys=capsys)
    assert refused.status_code == 422 and "cannot be stored" in refused.get_data(as_text=True)
    assert secret is None and count(app, Invitation) == 0

    _response, secret = invite(admin, "nul@example.com", name="Nina New", capsys=capsys)
    joined = join(app.test_client(), secret, name="Nina\x00New")
    assert joined.status_code == 422 and "cannot be stored" in joined.get_data(as_text=True)
    assert count(app, User) == 5 and count(app, Invitation) == 1  # the link still works
