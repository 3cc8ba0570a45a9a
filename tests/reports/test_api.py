"""The reports JSON API for an API client: seed 002's generate-session (transcription and medication
plan stored through the consultations service, 202 with the report and job), the report in the
seed's shape plus ours, the list with filters and pages, editing with revisions, signing (409 when
already signed), amending, templates; and every path in the OpenAPI document."""

from __future__ import annotations

import pytest

from clinic_app.core import jobs
from clinic_app.extensions import db
from clinic_app.reports.models import Report
from tests.factories import PASSWORD, access_token_for
from tests.reports.conftest import MEDICATION_PLAN, consultation, events, generate, report_row

PASTED = (
    "Clinician: What brings you in?\n"
    "Patient: My lower back has ached for three weeks since I moved house, worse when bending.\n"
    "Clinician: Forward flexion is limited and painful; straight leg raise is negative.\n"
)


@pytest.fixture
def bearer(app, tenants):
    def headers(role="clinician"):
        user = tenants.outsider if role == "outsider" else tenants.user(role)
        return {"Authorization": f"Bearer {access_token_for(app, user)}"}

    return headers


def test_generate_session_stores_the_inputs_and_answers_202(app, client, tenants, bearer, patient_id):
    session_id = consultation(app, tenants.a, tenants.user("clinician"), patient_id, transcript=None)
    with app.app_context():
        from clinic_app.consultations import service as consultations

        code = consultations.get_session(tenants.a.id, session_id).session_code
    body = {
        "session_id": code,
        "transcription": PASTED,
        "medication_plan": [
            {"drug_name": "Naproxen", "dosage": "250mg", "frequency": "Twice daily", "duration": "5 days"}
        ],
        "additional_notes": "Follow up in 2 weeks",
        "patient_progress": "Showing improvement",
        "session_type": "follow_up",
    }
    response = client.post("/api/v1/reports/generate-session", json=body, headers=bearer())
    assert response.status_code == 202, response.get_json()
    answer = response.get_json()
    assert answer["status"] == "accepted" and answer["report_status"] == "pending"
    assert (answer["session_id"], answer["consultation_id"]) == (code, session_id)
    assert answer["report_url"] == f"/api/v1/reports/{answer['report_id']}"
    with app.app_context():
        jobs.wait_for_local_jobs(app)
    report = client.get(answer["report_url"], headers=bearer()).get_json()
    assert report["status"] == "draft" and report["session_id"] == code
    assert report["ai_model"] == "offline-extractive-1" and report["confidence_score"] is None
    assert report["generated_content"].startswith("# Mental-health consultation report\n\n## Presenting complaint")
    assert report["structured_data"]["medication_plan"] == body["medication_plan"]
    assert {d["icd11_code"] for d in report["structured_data"]["diagnoses"]} == {"MB43", "MB24.5"}
    # The pasted transcript was stored (and quoted); the notes reached the draft.
    joined = report["content"]
    assert "Forward flexion is limited and painful" in joined
    assert "Follow up in 2 weeks" in joined and "Showing improvement" in joined and "Naproxen — 250mg" in joined
    assert report["inputs_summary"]["transcript_segments"] == 3
    assert len(report["sections"]) == 8 and report["revision"] == 0 and report["version"] == 1
    job = client.get(f"/api/v1/jobs/{answer['job_id']}", headers=bearer()).get_json()
    assert job["status"] == "succeeded" and job["progress"] == 100


def test_generate_session_validates_everything_before_writing(app, client, tenants, bearer, session_id):
    bad = client.post(
        "/api/v1/reports/generate-session",
        json={"session_id": session_id, "medication_plan": [{"dosage": "5mg"}], "additional_notes": "x" * 5001},
        headers=bearer(),
    )
    assert bad.status_code == 422
    assert bad.mimetype == "application/problem+json"
    assert {e["field"] for e in bad.get_json()["errors"]} == {"medication_plan.0.drug_name"}
    too_long = client.post(
        "/api/v1/reports/generate-session",
        json={"session_id": session_id, "additional_notes": "x" * 5001},
        headers=bearer(),
    )
    assert too_long.status_code == 422 and too_long.get_json()["errors"][0]["field"] == "additional_notes"
    unknown = client.post(
        "/api/v1/reports/generate-session", json={"session_id": "CS-20260101-AAAAAAAA"}, headers=bearer()
    )
    assert unknown.status_code == 404
    with app.app_context():
        assert db.session.query(Report).count() == 0


def test_the_list_pages_and_filters(app, client, tenants, bearer, session_id, report_id):
    from tests.reports.conftest import generate, sign

    second = generate(app, tenants.a, tenants.user("clinician"), session_id)
    sign(app, tenants.a, tenants.user("clinician"), second)
    first_page = client.get("/api/v1/reports/list?limit=1", headers=bearer()).get_json()
    assert first_page["has_more"] and first_page["reports"][0]["id"] == second
    item = first_page["reports"][0]
    assert item["patient_name"] == "Mira Okafor" and item["status"] == "signed" and item["signed_by_name"]
    assert "sections" not in item and "content" not in item
    rest = client.get(f"/api/v1/reports/list?limit=1&cursor={first_page['next_cursor']}", headers=bearer()).get_json()
    assert [r["id"] for r in rest["reports"]] == [report_id] and not rest["has_more"]
    drafts = client.get("/api/v1/reports/list?status=draft", headers=bearer()).get_json()
    assert [r["id"] for r in drafts["reports"]] == [report_id]
    other = client.get("/api/v1/reports/list?patient_id=pat_nobody", headers=bearer()).get_json()
    assert other["reports"] == []
    wrong = client.get("/api/v1/reports/list?status=finished", headers=bearer())
    assert wrong.status_code == 422 and wrong.get_json()["errors"][0]["field"] == "status"
    bad_cursor = client.get("/api/v1/reports/list?cursor=bm9wZQ", headers=bearer())
    assert bad_cursor.status_code == 422


def test_edit_sign_and_409_after_signing(app, client, tenants, bearer, report_id):
    edited = client.patch(
        f"/api/v1/reports/{report_id}", json={"sections": {"plan": "Weekly CBT."}, "revision": 0}, headers=bearer()
    )
    assert edited.status_code == 200
    data = edited.get_json()
    assert data["revision"] == 1
    plan = next(s for s in data["sections"] if s["key"] == "plan")
    assert plan["content"] == "Weekly CBT." and plan["edited"] and plan["generated_content"] != "Weekly CBT."
    stale = client.patch(
        f"/api/v1/reports/{report_id}", json={"sections": {"plan": "x"}, "revision": 0}, headers=bearer()
    )
    assert stale.status_code == 409 and stale.get_json()["current_revision"] == 1
    unknown = client.patch(f"/api/v1/reports/{report_id}", json={"sections": {"nope": "x"}}, headers=bearer())
    assert unknown.status_code == 422 and unknown.get_json()["errors"][0]["field"] == "sections.nope"

    wrong = client.post(f"/api/v1/reports/{report_id}/sign", json={"password": "wrong"}, headers=bearer())
    assert wrong.status_code == 422 and wrong.get_json()["errors"] == [
        {"field": "password", "message": "That password is not correct.", "code": "INVALID_VALUE"}
    ]
    signed = client.post(
        f"/api/v1/reports/{report_id}/sign", json={"password": PASSWORD, "revision": 1}, headers=bearer()
    )
    assert signed.status_code == 200
    result = signed.get_json()
    assert result["status"] == "signed" and len(result["content_sha256"]) == 64
    assert result["signed_by"] == {"id": tenants.user("clinician").id, "name": tenants.user("clinician").display_name}

    again = client.post(f"/api/v1/reports/{report_id}/sign", json={"password": PASSWORD}, headers=bearer())
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    edit = client.patch(f"/api/v1/reports/{report_id}", json={"sections": {"plan": "Changed"}}, headers=bearer())
    assert edit.status_code == 409 and edit.mimetype == "application/problem+json"
    assert "Amend it" in edit.get_json()["detail"]
    assert report_row(app, report_id).content_sha256 == result["content_sha256"]


def test_wrong_passwords_are_throttled(app, client, tenants, bearer, report_id):
    for _ in range(5):
        assert (
            client.post(f"/api/v1/reports/{report_id}/sign", json={"password": "nope"}, headers=bearer()).status_code
            == 422
        )
    blocked = client.post(f"/api/v1/reports/{report_id}/sign", json={"password": PASSWORD}, headers=bearer())
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    assert report_row(app, report_id).status == "draft"
    assert len(events(app, "report.sign_failed")) == 5


def test_an_api_token_cannot_sign(app, client, tenants, report_id):
    from tests.factories import api_token_for

    token = api_token_for(app, tenants.a.id, ["reports:sign", "clinical:read"], creator=tenants.user("owner"))
    response = client.post(
        f"/api/v1/reports/{report_id}/sign", json={"password": PASSWORD}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403 and report_row(app, report_id).status == "draft"


def test_amend_creates_a_new_version_and_keeps_the_original(app, client, bearer, signed_report_id):
    original = client.get(f"/api/v1/reports/{signed_report_id}", headers=bearer()).get_json()
    response = client.post(f"/api/v1/reports/{signed_report_id}/amend", headers=bearer())
    assert response.status_code == 201
    amendment = response.get_json()
    assert (amendment["status"], amendment["version"], amendment["amends_report_id"]) == ("draft", 2, signed_report_id)
    assert [s["content"] for s in amendment["sections"]] == [s["content"] for s in original["sections"]]
    changed = client.patch(
        f"/api/v1/reports/{amendment['id']}", json={"sections": {"plan": "Amended plan"}}, headers=bearer()
    )
    assert changed.status_code == 200
    after = client.get(f"/api/v1/reports/{signed_report_id}", headers=bearer()).get_json()
    assert after["sections"] == original["sections"] and after["content_sha256"] == original["content_sha256"]
    assert after["amended_by_report_id"] == amendment["id"]
    assert client.post(f"/api/v1/reports/{signed_report_id}/amend", headers=bearer()).status_code == 409
    draft_amend = client.post(f"/api/v1/reports/{amendment['id']}/amend", headers=bearer())
    assert draft_amend.status_code == 409


def test_templates_list_create_and_update_make_versions(app, client, tenants, bearer, session_id):
    listed = client.get("/api/v1/reports/templates", headers=bearer()).get_json()["templates"]
    assert [t["builtin_key"] for t in listed] == ["mental_health", "physiotherapy"]
    assert listed[0]["is_default"] and len(listed[1]["sections"]) == 8
    created = client.post(
        "/api/v1/reports/templates",
        json={"name": "Brief note", "sections": [{"title": "Summary", "guidance": "One paragraph"}, {"title": "Plan"}]},
        headers=bearer(),
    )
    assert created.status_code == 201
    template = created.get_json()
    assert [s["key"] for s in template["sections"]] == ["summary", "plan"] and template["version"] == 1
    from tests.reports.conftest import generate

    report_id = generate(app, tenants.a, tenants.user("clinician"), session_id, template_id=template["id"])
    updated = client.put(
        f"/api/v1/reports/templates/{template['id']}",
        json={
            "name": "Brief note",
            "sections": [{"key": "summary", "title": "Summary"}, {"title": "Risks"}, {"title": "Plan"}],
        },
        headers=bearer(),
    )
    assert updated.status_code == 200 and updated.get_json()["version"] == 2
    report = client.get(f"/api/v1/reports/{report_id}", headers=bearer()).get_json()
    assert report["template"]["version"] == 1 and [s["key"] for s in report["sections"]] == ["summary", "plan"]
    invalid = client.post(
        "/api/v1/reports/templates",
        json={"name": "Brief note", "sections": [{"title": ""}, {"key": "Bad Key", "title": "x"}]},
        headers=bearer(),
    )
    assert invalid.status_code == 422
    assert {e["field"] for e in invalid.get_json()["errors"]} == {"sections.0.title", "sections.1.key"}
    clash = client.post(
        "/api/v1/reports/templates", json={"name": "brief NOTE", "sections": [{"title": "A"}]}, headers=bearer()
    )
    assert clash.status_code == 422 and clash.get_json()["errors"][0]["field"] == "name"
    assert (
        client.put(
            "/api/v1/reports/templates/rtp_nope", json={"name": "x", "sections": [{"title": "A"}]}, headers=bearer()
        ).status_code
        == 404
    )


def test_the_openapi_document_has_every_reports_path(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    expected = {
        "/api/v1/reports/generate-session": {"post"},
        "/api/v1/reports/list": {"get"},
        "/api/v1/reports/{report_id}": {"get", "patch"},
        "/api/v1/reports/{report_id}/sign": {"post"},
        "/api/v1/reports/{report_id}/amend": {"post"},
        "/api/v1/reports/templates": {"get", "post"},
        "/api/v1/reports/templates/{template_id}": {"put"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    generate = paths["/api/v1/reports/generate-session"]["post"]
    assert "202" in generate["responses"] and generate["x-permission"] == "reports:write"
    assert "409" in paths["/api/v1/reports/{report_id}/sign"]["post"]["responses"]


def test_seed_medication_plan_example_round_trips(app, client, tenants, bearer, session_id):
    response = client.post(
        "/api/v1/reports/generate-session",
        json={"session_id": session_id, "medication_plan": MEDICATION_PLAN},
        headers=bearer(),
    )
    assert response.status_code == 202
    with app.app_context():
        jobs.wait_for_local_jobs(app)
    report = client.get(response.get_json()["report_url"], headers=bearer()).get_json()
    assert report["structured_data"]["medication_plan"] == MEDICATION_PLAN


@pytest.mark.parametrize("template_name", ["Mental-health consultation", "Physiotherapy consultation"])
def test_follow_up_plan_is_the_plan_section_of_each_default_template(
    app, client, tenants, bearer, patient_id, template_name
):
    """The mental-health template has a "Medication plan" before its "Plan and follow-up": the
    section keyed "plan" is the follow-up plan, whatever other titles say "plan"."""
    from clinic_app.reports import templates_service

    with app.app_context():
        template = next(
            t.template for t in templates_service.list_templates(tenants.a.id) if t.template.name == template_name
        )
        template_id = template.id
        db.session.commit()  # the defaults are created on first use
    session_id = consultation(app, tenants.a, tenants.user("clinician"), patient_id)
    report_id = generate(app, tenants.a, tenants.user("clinician"), session_id, template_id=template_id)
    sections = {"plan": "Review in two weeks; home exercises daily.", "medication": "Sertraline 50mg daily."}
    edited = client.patch(f"/api/v1/reports/{report_id}", json={"sections": sections, "revision": 0}, headers=bearer())
    assert edited.status_code == 200, edited.get_json()
    report = client.get(f"/api/v1/reports/{report_id}", headers=bearer()).get_json()
    assert report["structured_data"]["follow_up_plan"] == "Review in two weeks; home exercises daily."
