"""Report templates: the two defaults appear on first use (once), a template is created and changed
from its pages, a change makes a new version while reports keep the one they used, and every
problem with a template is named on its field."""

from __future__ import annotations

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.reports import templates_service
from clinic_app.reports.models import ReportTemplate, ReportTemplateVersion
from tests.factories import page_csrf
from tests.reports.conftest import generate, report_row


def test_the_defaults_are_created_once_per_organization(app, tenants):
    with app.app_context():
        first = templates_service.list_templates(tenants.a.id)
        again = templates_service.list_templates(tenants.a.id)
        templates_service.ensure_default_templates(tenants.a.id)
        assert [v.template.id for v in first] == [v.template.id for v in again]
        assert [v.template.builtin_key for v in first] == ["mental_health", "physiotherapy"]
        assert [v.template.is_default for v in first] == [True, False]
        assert db.session.query(ReportTemplate).filter_by(organization_id=tenants.a.id).count() == 2
        assert db.session.query(ReportTemplate).filter_by(organization_id=tenants.b.id).count() == 0
        physio = first[1].sections
        assert [s.key for s in physio][:4] == ["presenting_complaint", "history", "symptoms", "examination"]
        assert all(s.guidance for s in physio)
        db.session.commit()


def form_data(token, name, rows, **extra):
    data = {"csrf_token": token, "name": name, **extra}
    for index, (title, key, guidance, position) in enumerate(rows):
        data.update(
            {
                f"sections-{index}-title": title,
                f"sections-{index}-key": key,
                f"sections-{index}-guidance": guidance,
                f"sections-{index}-position": position,
            }
        )
    return data


def test_a_template_is_created_and_edited_from_its_pages(app, tenants, login_as, session_id):
    clinician = login_as("clinician")
    assert "New template" in clinician.get("/reports/templates").get_data(as_text=True)
    token = page_csrf(clinician, "/reports/templates/new")
    rows = [("Reason for visit", "", "Why they came", "2"), ("Opening", "opening", "", "1"), ("", "", "", "3")]
    response = clinician.post("/reports/templates/new", data=form_data(token, "Sports injury", rows, is_default="y"))
    assert response.status_code == 303
    with app.app_context():
        template = db.session.query(ReportTemplate).filter_by(organization_id=tenants.a.id, name="Sports injury").one()
        template_id = template.id
        version = db.session.query(ReportTemplateVersion).filter_by(template_id=template_id).one()
        # Ordered by position; the blank row skipped; the key made from the title; now the default.
        assert version.sections == [
            {"key": "opening", "title": "Opening", "guidance": ""},
            {"key": "reason_for_visit", "title": "Reason for visit", "guidance": "Why they came"},
        ]
        assert template.is_default
        assert [t.template.name for t in templates_service.list_templates(tenants.a.id) if t.template.is_default] == [
            "Sports injury"
        ]
        db.session.commit()
    report_id = generate(app, tenants.a, tenants.user("clinician"), session_id)  # uses the new default
    page = clinician.get(f"/reports/templates/{template_id}").get_data(as_text=True)
    assert 'value="Reason for visit"' in page
    rows = [
        ("Opening", "opening", "", "1"),
        ("Reason for visit", "reason_for_visit", "", "2"),
        ("Outcome", "", "", "3"),
    ]
    saved = clinician.post(f"/reports/templates/{template_id}", data=form_data(token, "Sports injury", rows))
    assert saved.status_code == 303
    with app.app_context():
        assert db.session.get(ReportTemplate, template_id).current_version == 2
        versions = (
            db.session.query(ReportTemplateVersion)
            .filter_by(template_id=template_id)
            .order_by(ReportTemplateVersion.version)
            .all()
        )
        assert [len(v.sections) for v in versions] == [2, 3]
        # The report written before keeps version 1.
        assert report_row(app, report_id).template_version_id == versions[0].id
    html = clinician.get(f"/reports/{report_id}").get_data(as_text=True)
    assert "Reason for visit" in html and "Outcome" not in html and "template version 1" in html


def test_template_problems_are_shown_on_their_fields_and_nothing_is_saved(app, tenants, login_as):
    clinician = login_as("clinician")
    token = page_csrf(clinician, "/reports/templates/new")
    rows = [
        ("", "", "Guidance without a title", "1"),
        ("Two", "Bad Key!", "", "2"),
        ("Three", "three", "x" * 1001, "3"),
    ]
    response = clinician.post("/reports/templates/new", data=form_data(token, "", rows))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for message in (
        "Give the template a name.",
        "Each section needs a title.",
        "Use lower-case letters",
        "At most 1000 characters.",
    ):
        assert message in html
    assert 'value="Guidance without a title"' not in html  # guidance is a textarea: the text is kept there
    assert "Guidance without a title" in html
    with app.app_context():
        assert db.session.query(ReportTemplate).filter_by(organization_id=tenants.a.id, builtin_key=None).count() == 0
    dup = clinician.post(
        "/reports/templates/new", data=form_data(token, "mental-HEALTH consultation", [("A", "", "", "1")])
    )
    assert dup.status_code == 422 and "Another template already has this name." in dup.get_data(as_text=True)


def test_changing_only_the_description_keeps_the_version(app, tenants):
    actor = audit.Actor(user_id=tenants.user("clinician").id)
    with app.app_context():
        view = templates_service.list_templates(tenants.a.id)[1]
        raw = {"name": view.template.name, "description": "Shorter", "sections": [s.as_dict() for s in view.sections]}
        updated = templates_service.update_template(
            tenants.a.id, view.template.id, templates_service.validate_template(raw), actor=actor
        )
        assert (updated.template.current_version, updated.template.description) == (1, "Shorter")
        db.session.commit()
