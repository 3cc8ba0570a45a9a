"""The users and profile API for an API client with bearer tokens: the shapes, who may list users,
the organization boundary (another organization's members are never visible), validation (422
with field, message and code), paging, and the audit trail of profile changes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from clinic_app.core import audit
from clinic_app.core.permissions import ROLES
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.orgs.models import Membership
from clinic_app.reports import templates_service
from tests.factories import api_token_for, make_user
from tests.profiles.conftest import AHPRA_PROFILE, profile_events, profile_rows

ROUTES = ("/api/v1/users/me", "/api/v1/users/list", "/api/v1/profile/", "/api/v1/profile/practitioners")


def errors_of(response):
    assert response.status_code == 422, response.get_json()
    assert response.content_type.startswith("application/problem+json")
    return {(e["field"], e.get("code")) for e in response.get_json()["errors"]}


# --- /users/me -----------------------------------------------------------------------------------


def test_users_me_describes_the_caller_in_the_current_organization(client, tenants, bearer):
    answer = client.get("/api/v1/users/me", headers=bearer("clinician"))
    assert answer.status_code == 200
    body = answer.get_json()
    assert list(body) == [
        "id",
        "email",
        "display_name",
        "role",
        "permissions",
        "is_active",
        "is_verified",
        "created_at",
        "last_login",
        "organization",
    ]
    clinician = tenants.user("clinician")
    assert (body["id"], body["email"], body["display_name"]) == (clinician.id, clinician.email, clinician.display_name)
    assert body["role"] == "clinician"
    assert "reports:sign" in body["permissions"] and "admin:staff" not in body["permissions"]
    assert body["is_verified"] is True and body["is_active"] is True
    assert body["created_at"].endswith("Z") and body["last_login"] is None
    assert body["organization"] == {"id": tenants.a.id, "name": tenants.a.name, "time_zone": "Australia/Sydney"}


def test_users_me_and_profile_refuse_an_organization_api_token(app, client, tenants):
    token = api_token_for(app, tenants.a.id, ["organization:member"], creator=tenants.user("owner"))
    for path in ("/api/v1/users/me", "/api/v1/profile/"):
        refused = client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 403, path
    assert client.put("/api/v1/profile/", json={}, headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_every_route_needs_a_credential(client, tenants):
    for path in ROUTES:
        assert client.get(path).status_code == 401, path
    assert client.put("/api/v1/profile/", json={"discipline": "x"}).status_code == 401


# --- /users/list ---------------------------------------------------------------------------------


def test_owners_and_admins_list_the_organizations_members_with_roles(client, tenants, bearer):
    for role in ("owner", "admin"):
        answer = client.get("/api/v1/users/list", headers=bearer(role))
        assert answer.status_code == 200, role
        body = answer.get_json()
        assert set(body) == {"users", "limit", "next_cursor", "has_more"}
        assert (body["limit"], body["next_cursor"], body["has_more"]) == (25, None, False)
        assert {(u["email"], u["role"]) for u in body["users"]} == {(f"{r}@harbour.example", r) for r in ROLES}
        first = body["users"][0]
        assert set(first) == {
            "id",
            "membership_id",
            "email",
            "display_name",
            "role",
            "is_active",
            "joined_at",
            "last_login",
        }
        names = [u["display_name"] for u in body["users"]]
        assert names == sorted(names)


def test_clinicians_and_receptionists_may_not_list_users(client, tenants, bearer):
    for role in ("clinician", "receptionist"):
        refused = client.get("/api/v1/users/list", headers=bearer(role))
        assert refused.status_code == 403, role
        assert refused.content_type.startswith("application/problem+json")
        assert "harbour.example" not in refused.get_data(as_text=True)


def test_the_users_list_pages_by_cursor_and_refuses_a_bad_one(app, client, tenants, bearer):
    headers = bearer("owner")
    seen, cursor = [], None
    for _ in range(3):
        page = client.get("/api/v1/users/list", query_string={"limit": 2, "cursor": cursor}, headers=headers)
        assert page.status_code == 200
        body = page.get_json()
        seen += [u["id"] for u in body["users"]]
        cursor = body["next_cursor"]
        assert body["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(ROLES)

    assert errors_of(client.get("/api/v1/users/list?cursor=@@@", headers=headers)) == {("cursor", "INVALID_CURSOR")}
    # A cursor naming organization B's membership is just as invalid in A.
    outsider_page = client.get("/api/v1/users/list?limit=1", headers=bearer("outsider"))
    assert outsider_page.get_json()["users"][0]["email"] == "owner@northside.example"
    with app.app_context():
        make_user("second@northside.example", organization_id=tenants.b.id, role="clinician")
        db.session.commit()
    b_cursor = client.get("/api/v1/users/list?limit=1", headers=bearer("outsider")).get_json()["next_cursor"]
    assert b_cursor
    assert errors_of(client.get(f"/api/v1/users/list?cursor={b_cursor}", headers=headers)) == {
        ("cursor", "INVALID_CURSOR")
    }
    assert errors_of(client.get("/api/v1/users/list?limit=0", headers=headers)) == {("limit", "GREATER_THAN_EQUAL")}


def test_ended_memberships_are_listed_only_when_asked(app, client, tenants, bearer):
    with app.app_context():
        membership = orgs.active_membership(tenants.user("receptionist").id, tenants.a.id)
        orgs.deactivate_membership(organization_id=tenants.a.id, membership_id=membership.id, actor=audit.Actor())
        db.session.commit()
    headers = bearer("owner")
    active = client.get("/api/v1/users/list", headers=headers).get_json()["users"]
    assert "receptionist@harbour.example" not in {u["email"] for u in active}
    everyone = client.get("/api/v1/users/list?include_inactive=true", headers=headers).get_json()["users"]
    ended = next(u for u in everyone if u["email"] == "receptionist@harbour.example")
    assert ended["is_active"] is False and ended["role"] == "receptionist"


# --- the organization boundary -------------------------------------------------------------------


def test_another_organizations_members_get_404_for_it(client, tenants, bearer):
    for path in ROUTES:
        answer = client.get(path, headers=bearer("outsider", **{"X-Organization-ID": tenants.a.id}))
        assert answer.status_code == 404, path
        assert "harbour" not in answer.get_data(as_text=True).lower()
    put = client.put(
        "/api/v1/profile/", json={"discipline": "x"}, headers=bearer("outsider", **{"X-Organization-ID": tenants.a.id})
    )
    assert put.status_code == 404
    # ... and A's members get 404 for B.
    for path in ROUTES:
        assert client.get(path, headers=bearer("owner", **{"X-Organization-ID": tenants.b.id})).status_code == 404


def test_each_organization_sees_only_its_own_people(client, tenants, bearer):
    b_users = client.get("/api/v1/users/list", headers=bearer("outsider")).get_json()["users"]
    assert [u["email"] for u in b_users] == ["owner@northside.example"]
    client.put("/api/v1/profile/", json={"discipline": "Psychiatrist"}, headers=bearer("outsider"))
    a_practitioners = client.get("/api/v1/profile/practitioners", headers=bearer("owner")).get_json()
    assert tenants.outsider.id not in {p["user_id"] for p in a_practitioners["practitioners"]}
    b_practitioners = client.get("/api/v1/profile/practitioners", headers=bearer("outsider")).get_json()
    assert [p["user_id"] for p in b_practitioners["practitioners"]] == [tenants.outsider.id]


def test_a_person_in_two_organizations_has_a_profile_in_each(app, client, tenants, bearer):
    clinician = tenants.user("clinician")
    with app.app_context():
        orgs.add_membership(
            organization_id=tenants.b.id, user=db.session.merge(clinician), role="clinician", actor=audit.Actor()
        )
        db.session.commit()
    in_a = bearer("clinician", **{"X-Organization-ID": tenants.a.id})
    in_b = bearer("clinician", **{"X-Organization-ID": tenants.b.id})
    assert client.put("/api/v1/profile/", json=AHPRA_PROFILE, headers=in_a).status_code == 200
    seen_in_b = client.get("/api/v1/profile/", headers=in_b).get_json()
    assert seen_in_b["organization_id"] == tenants.b.id
    assert (seen_in_b["registration_number"], seen_in_b["qualifications"]) == (None, [])
    assert client.get("/api/v1/profile/", headers=in_a).get_json()["registration_number"] == "PSY0001234567"


# --- /profile/ -----------------------------------------------------------------------------------


def test_a_profile_is_empty_until_saved(client, tenants, bearer):
    body = client.get("/api/v1/profile/", headers=bearer("clinician")).get_json()
    assert body == {
        "user_id": tenants.user("clinician").id,
        "organization_id": tenants.a.id,
        "display_name": tenants.user("clinician").display_name,
        "role": "clinician",
        "discipline": None,
        "registration_body": None,
        "registration_number": None,
        "registration": None,
        "qualifications": [],
        "signature_block": None,
        "default_report_template_id": None,
        "created_at": None,
        "updated_at": None,
    }


def test_saving_a_profile_changes_the_fields_sent_and_is_audited(app, client, tenants, bearer):
    headers, me = bearer("clinician"), tenants.user("clinician").id
    saved = client.put(
        "/api/v1/profile/",
        json={**AHPRA_PROFILE, "registration_body": " ahpra ", "registration_number": "psy 000 123-4567"},
        headers=headers,
    )
    assert saved.status_code == 200, saved.get_json()
    body = saved.get_json()
    assert (body["registration_body"], body["registration_number"]) == ("AHPRA", "PSY0001234567")
    assert body["registration"] == "AHPRA PSY0001234567"
    assert body["qualifications"] == AHPRA_PROFILE["qualifications"]
    assert body["signature_block"] == AHPRA_PROFILE["signature_block"]
    assert body["created_at"].endswith("Z")
    assert client.get("/api/v1/profile/", headers=headers).get_json() == body
    assert profile_events(app) == [
        (
            tenants.a.id,
            me,
            me,
            {"fields": ["discipline", "registration_body", "registration_number", "qualifications", "signature_block"]},
        )
    ]

    # Only the fields sent change; the same values again record nothing; null clears.
    partial = client.put("/api/v1/profile/", json={"discipline": "Psychologist"}, headers=headers).get_json()
    assert (partial["discipline"], partial["registration_number"]) == ("Psychologist", "PSY0001234567")
    client.put("/api/v1/profile/", json={"discipline": "Psychologist"}, headers=headers)
    cleared = client.put("/api/v1/profile/", json={"qualifications": None, "signature_block": ""}, headers=headers)
    assert (cleared.get_json()["qualifications"], cleared.get_json()["signature_block"]) == ([], None)
    assert [details["fields"] for *_, details in profile_events(app)] == [
        ["discipline", "registration_body", "registration_number", "qualifications", "signature_block"],
        ["discipline"],
        ["qualifications", "signature_block"],
    ]
    # Ids in the body are ignored: the caller's own profile in the current organization changes.
    client.put(
        "/api/v1/profile/",
        json={"discipline": "GP", "user_id": tenants.user("owner").id, "organization_id": tenants.b.id},
        headers=headers,
    )
    assert [(r["organization_id"], r["user_id"]) for r in profile_rows(app)] == [(tenants.a.id, me)]


def test_refused_values_name_each_field_with_a_code_and_write_nothing(app, client, tenants, bearer):
    headers = bearer("clinician")
    bad_number = {("registration_number", "REGISTRATION_NUMBER_FORMAT")}
    cases = [
        ({"registration_body": "AHPRA", "registration_number": "PSY123"}, bad_number),
        ({"registration_body": "Dietitians Australia", "registration_number": "APD#1"}, bad_number),
        ({"registration_number": "PSY0001234567"}, {("registration_body", "MISSING")}),
        ({"registration_body": "AHPRA"}, {("registration_number", "MISSING")}),
        ({"discipline": "x" * 81}, {("discipline", "STRING_TOO_LONG")}),
        ({"qualifications": ["ok"] * 21}, {("qualifications", "TOO_LONG")}),
        ({"qualifications": ["ok", "y" * 121]}, {("qualifications.1", "STRING_TOO_LONG")}),
        ({"qualifications": "BPsych"}, {("qualifications", "LIST_TYPE")}),
        ({"signature_block": "line\n" * 9}, {("signature_block", "TOO_MANY_LINES")}),
        ({"signature_block": "s" * 601}, {("signature_block", "STRING_TOO_LONG")}),
        ({"discipline": "bell\x07"}, {("discipline", "UNUSABLE_TEXT")}),
        ({"default_report_template_id": "rtp_NotATemplate"}, {("default_report_template_id", "UNKNOWN_TEMPLATE")}),
    ]  # fmt: skip
    for body, expected in cases:
        refused = client.put("/api/v1/profile/", json=body, headers=headers)
        assert errors_of(refused) == expected, body
        assert all(error["message"] for error in refused.get_json()["errors"])
    assert profile_rows(app) == [] and profile_events(app) == []


def test_the_default_report_template_is_one_of_the_organizations(app, client, tenants, bearer):
    with app.app_context():
        ours = templates_service.list_templates(tenants.a.id)[-1].template.id
        theirs = templates_service.list_templates(tenants.b.id)[0].template.id
        db.session.commit()
    headers = bearer("clinician")
    assert errors_of(client.put("/api/v1/profile/", json={"default_report_template_id": theirs}, headers=headers)) == {
        ("default_report_template_id", "UNKNOWN_TEMPLATE")
    }
    saved = client.put("/api/v1/profile/", json={"default_report_template_id": ours}, headers=headers)
    assert saved.status_code == 200 and saved.get_json()["default_report_template_id"] == ours
    assert (
        client.put("/api/v1/profile/", json={"default_report_template_id": None}, headers=headers).get_json()[
            "default_report_template_id"
        ]
        is None
    )


# --- /profile/practitioners ----------------------------------------------------------------------


def test_practitioners_are_clinicians_and_owners_who_practise(client, tenants, bearer):
    client.put("/api/v1/profile/", json=AHPRA_PROFILE, headers=bearer("clinician"))
    for role in ROLES:  # every member may see who the practitioners are
        answer = client.get("/api/v1/profile/practitioners", headers=bearer(role))
        assert answer.status_code == 200, role
    body = client.get("/api/v1/profile/practitioners", headers=bearer("receptionist")).get_json()
    assert (body["has_more"], body["next_cursor"]) == (False, None)
    assert body["practitioners"] == [
        {
            "user_id": tenants.user("clinician").id,
            "display_name": tenants.user("clinician").display_name,
            "role": "clinician",
            "discipline": "Clinical psychologist",
            "registration_body": "AHPRA",
            "registration_number": "PSY0001234567",
            "registration": "AHPRA PSY0001234567",
            "qualifications": ["BPsych (Hons)", "MClinPsych"],
            "signature_block": AHPRA_PROFILE["signature_block"],
        }
    ]
    # An owner who practises is listed once they say so; an admin with a profile never is.
    client.put("/api/v1/profile/", json={"discipline": "Physiotherapist"}, headers=bearer("owner"))
    client.put("/api/v1/profile/", json={"discipline": "Physiotherapist"}, headers=bearer("admin"))
    listed = client.get("/api/v1/profile/practitioners", headers=bearer("clinician")).get_json()["practitioners"]
    assert {p["role"] for p in listed} == {"clinician", "owner"}


def test_a_deactivated_clinician_is_no_longer_a_practitioner(app, client, tenants, bearer):
    with app.app_context():
        membership = db.session.scalar(select(Membership).where(Membership.user_id == tenants.user("clinician").id))
        orgs.deactivate_membership(organization_id=tenants.a.id, membership_id=membership.id, actor=audit.Actor())
        db.session.commit()
    assert client.get("/api/v1/profile/practitioners", headers=bearer("owner")).get_json()["practitioners"] == []


# --- the OpenAPI document --------------------------------------------------------------------------


def test_the_routes_are_in_the_openapi_document_with_their_permissions(client):
    document = client.get("/api/v1/openapi.json").get_json()
    expected = {
        ("/api/v1/users/me", "get"): "organization:member",
        ("/api/v1/users/list", "get"): "admin:staff",
        ("/api/v1/profile/", "get"): "organization:member",
        ("/api/v1/profile/", "put"): "organization:member",
        ("/api/v1/profile/practitioners", "get"): "organization:member",
    }
    for (path, method), permission in expected.items():
        operation = document["paths"][path][method]
        assert operation["x-permission"] == permission
        assert operation["security"] == [{"bearerAuth": []}]
        assert {"200", "401", "404", "422"} <= set(operation["responses"])
    assert "403" in document["paths"]["/api/v1/users/list"]["get"]["responses"]
    assert "ProfileIn" in document["components"]["schemas"]


def test_the_model_matches_the_migrated_schema(app):
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), db.metadata)
    ours = ("professional_profiles", "signer_credentials")
    assert [d for d in differences if any(name in repr(d) for name in ours)] == []
