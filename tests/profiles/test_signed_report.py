"""A report signed after the signer filled in their professional profile prints their
registration (body and number) and signature block, as they were when they signed: the values are
recorded on the report at signing and covered by its content hash, so a later change of the
profile never changes what a signed report says (and its PDF stays byte for byte the same).
Also: the clinician's default report template is where a new report starts."""

from __future__ import annotations

import json

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.profiles import service as profiles
from clinic_app.reports import templates_service
from clinic_app.reports.content import canonical_content, content_intact
from clinic_app.reports.models import Report
from tests.profiles.conftest import AHPRA_PROFILE
from tests.reports.conftest import consultation, generate, register_with_intake
from tests.reports.test_pdf import flat, text_of
from tests.reports.test_verify import download, make_report


def _set_profile(app, organization, user, changes):
    with app.app_context():
        profiles.update_profile(organization.id, user.id, changes, actor=audit.Actor(user_id=user.id))
        db.session.commit()


def test_a_report_signed_after_the_profile_was_filled_in_prints_the_registration(app, tenants, login_as):
    clinician = tenants.user("clinician")
    _set_profile(app, tenants.a, clinician, AHPRA_PROFILE)
    report_id = make_report(app, tenants.a, clinician)

    browser = login_as("clinician")
    text = flat(text_of(download(browser, report_id)))
    assert f"Electronically signed by {clinician.display_name}, Clinical psychologist on" in text
    assert "Registration: AHPRA PSY0001234567" in text
    assert "Dr Casey Clinician Clinical psychologist Harbour Physiotherapy" in text

    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report.signer_credentials == {
            "discipline": "Clinical psychologist",
            "registration_body": "AHPRA",
            "registration_number": "PSY0001234567",
            "signature_block": AHPRA_PROFILE["signature_block"],
        }
        content = json.loads(canonical_content(report))
        assert content["format"] == "clinic-report-content/2"
        assert content["signer"] == report.signer_credentials
        assert content_intact(report) is True
        # The recorded details are under the signature: changing them behind the app's back shows.
        report.signer_credentials = {**report.signer_credentials, "registration_number": "PSY9999999999"}
        assert content_intact(report) is False
        db.session.rollback()


def test_changing_the_profile_later_never_changes_a_signed_report(app, tenants, login_as):
    clinician = tenants.user("clinician")
    _set_profile(app, tenants.a, clinician, AHPRA_PROFILE)
    report_id = make_report(app, tenants.a, clinician)
    browser = login_as("clinician")
    before = download(browser, report_id)

    _set_profile(
        app,
        tenants.a,
        clinician,
        {"registration_number": "PSY0007654321", "signature_block": "A new signature block"},
    )
    after = download(browser, report_id)
    assert after == before
    assert "PSY0007654321" not in flat(text_of(after))
    # A report signed now carries the new details.
    newer = flat(text_of(download(browser, make_report(app, tenants.a, clinician))))
    assert "Registration: AHPRA PSY0007654321" in newer and "A new signature block" in newer


def test_without_a_profile_the_signature_and_hash_format_are_as_before(app, tenants, login_as):
    clinician = tenants.user("clinician")
    signed_before = make_report(app, tenants.a, clinician)
    _set_profile(app, tenants.a, clinician, AHPRA_PROFILE)
    text = flat(text_of(download(login_as("clinician"), signed_before)))
    assert "Registration:" not in text and "PSY0001234567" not in text
    with app.app_context():
        report = db.session.get(Report, signed_before)
        assert report.signer_credentials is None
        assert json.loads(canonical_content(report))["format"] == "clinic-report-content/1"
        assert content_intact(report) is True


def test_a_draft_prints_no_signer_details(app, tenants, login_as):
    clinician = tenants.user("clinician")
    _set_profile(app, tenants.a, clinician, AHPRA_PROFILE)
    draft = make_report(app, tenants.a, clinician, sign=False)
    text = flat(text_of(download(login_as("clinician"), draft)))
    assert "Not signed" in text and "PSY0001234567" not in text


def test_a_new_report_starts_from_the_clinicians_default_template(app, tenants):
    clinician = tenants.user("clinician")
    with app.app_context():
        views = templates_service.list_templates(tenants.a.id)
        chosen = next(v for v in views if not v.template.is_default)
        db.session.commit()
    _set_profile(app, tenants.a, clinician, {"default_report_template_id": chosen.template.id})
    patient = register_with_intake(app, tenants.a)
    mine = generate(app, tenants.a, clinician, consultation(app, tenants.a, clinician, patient))
    # The owner has no default of their own: the practice's.
    theirs = generate(app, tenants.a, tenants.user("owner"), consultation(app, tenants.a, clinician, patient))
    with app.app_context():
        versions = {rid: db.session.get(Report, rid).template_version_id for rid in (mine, theirs)}
        used = {rid: templates_service.get_version(tenants.a.id, v).template_id for rid, v in versions.items()}
        assert used[mine] == chosen.template.id
        assert used[theirs] != chosen.template.id
