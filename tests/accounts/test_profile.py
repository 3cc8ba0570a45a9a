"""The account page's profile form: a person changes their own name, with a clear message for a
bad one, and the change is recorded in the organization's audit trail (field names, no values)."""

from sqlalchemy import select

from clinic_app.accounts.models import User
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from tests.factories import page_csrf


def _events(app):
    with app.app_context():
        return [
            (e.organization_id, e.actor_user_id, e.target_id, e.details)
            for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "account.profile_updated"))
        ]


def _name(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id).display_name


def test_a_person_renames_themselves_and_it_is_audited(app, tenants, login_as):
    clinician = login_as("clinician")
    me = tenants.user("clinician").id
    token = page_csrf(clinician, "/account")

    saved = clinician.post("/account/profile", data={"csrf_token": token, "display_name": "  Dr Iris Moss "})
    assert saved.status_code == 303 and saved.headers["Location"] == "/account"
    assert _name(app, me) == "Dr Iris Moss"
    assert "Your name was saved." in clinician.get("/account").get_data(as_text=True)
    assert _events(app) == [(tenants.a.id, me, me, {"fields": ["display_name"]})]

    # The same name again changes nothing and records nothing.
    assert (
        clinician.post("/account/profile", data={"csrf_token": token, "display_name": "Dr Iris Moss"}).status_code
        == 303
    )
    assert len(_events(app)) == 1


def test_an_empty_or_long_name_is_refused_with_a_message(app, tenants, login_as):
    clinician = login_as("clinician")
    token = page_csrf(clinician, "/account")
    for bad in ("   ", "x" * 121):
        refused = clinician.post("/account/profile", data={"csrf_token": token, "display_name": bad})
        assert refused.status_code == 422
        assert "1 to 120 characters" in refused.get_data(as_text=True)
    assert _name(app, tenants.user("clinician").id) == "Clinician"
    assert _events(app) == []
