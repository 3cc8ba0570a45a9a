"""The page where a person edits their own professional profile: the full page and its htmx
partial, saving (flash, then back to the page), field messages for refused values (422, nothing
saved), and who may open it."""

from __future__ import annotations

from clinic_app.extensions import db
from clinic_app.reports import templates_service
from tests.factories import page_csrf
from tests.profiles.conftest import profile_events, profile_rows

PAGE = "/account/professional-profile"
HTMX = {"HX-Request": "true"}


def _form(token: str, **values: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "discipline": "",
        "registration_body": "",
        "registration_number": "",
        "qualifications": "",
        "signature_block": "",
        "default_report_template_id": "",
        **values,
    }


def test_the_account_page_links_to_the_profile_page(login_as):
    assert PAGE in login_as("receptionist").get("/account").get_data(as_text=True)


def test_the_page_and_its_htmx_partial(login_as):
    clinician = login_as("clinician")
    page = clinician.get(PAGE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<html" in html and "Your professional profile" in html
    for name in ("discipline", "registration_body", "registration_number", "qualifications", "signature_block"):
        assert f'name="{name}"' in html
    assert "Mental-health consultation" in html  # the organization's templates to choose from
    assert "HX-Request" in page.headers.get("Vary", "")
    partial = clinician.get(PAGE, headers=HTMX)
    assert partial.status_code == 200
    assert "<html" not in partial.get_data(as_text=True) and 'id="profile-form"' in partial.get_data(as_text=True)


def test_saving_the_profile_flashes_and_shows_it(app, tenants, login_as):
    clinician = login_as("clinician")
    token = page_csrf(clinician, PAGE)
    with app.app_context():
        template_id = templates_service.list_templates(tenants.a.id)[-1].template.id
        db.session.commit()
    saved = clinician.post(
        PAGE,
        data=_form(
            token,
            discipline="Clinical psychologist",
            registration_body="AHPRA",
            registration_number="psy0001234567",
            qualifications="BPsych (Hons)\n\nMClinPsych\n",
            signature_block="Dr Casey\r\nClinical psychologist",
            default_report_template_id=template_id,
        ),
    )
    assert saved.status_code == 303 and saved.headers["Location"] == PAGE
    html = clinician.get(PAGE).get_data(as_text=True)
    assert "Your professional profile was saved." in html
    assert "Registration: AHPRA PSY0001234567" in html
    assert "BPsych (Hons)\nMClinPsych" in html
    assert f'<option selected value="{template_id}">' in html
    assert [r["registration_number"] for r in profile_rows(app)] == ["PSY0001234567"]
    assert len(profile_events(app)) == 1

    # Through htmx the answer is a redirect htmx follows.
    again = clinician.post(PAGE, data=_form(token, discipline="Psychologist"), headers=HTMX)
    assert again.status_code == 200 and again.headers["HX-Redirect"] == PAGE


def test_refused_values_show_messages_and_save_nothing(app, login_as):
    clinician = login_as("clinician")
    token = page_csrf(clinician, PAGE)
    refused = clinician.post(PAGE, data=_form(token, registration_body="AHPRA", registration_number="PSY12"))
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "An AHPRA registration number is three letters and ten digits" in html
    assert 'value="PSY12"' in html  # what they typed stays in the box
    assert "<html" in html

    partial = clinician.post(
        PAGE, data=_form(token, qualifications="BPsych\n" + "x" * 121, registration_number="123"), headers=HTMX
    )
    assert partial.status_code == 422
    html = partial.get_data(as_text=True)
    assert "<html" not in html and "Nothing has been saved" in html
    assert "Line 2: Keep this to 120 characters or fewer." in html
    assert "Name the body that issued the registration" in html

    tampered = clinician.post(PAGE, data=_form(token, default_report_template_id="rtp_SomeoneElses"))
    assert tampered.status_code == 422
    assert "Choose one of this organization&#39;s report templates." in tampered.get_data(as_text=True)
    assert profile_rows(app) == [] and profile_events(app) == []


def test_the_page_needs_a_signed_in_member(app, client, login_as):
    anonymous = client.get(PAGE)
    assert anonymous.status_code in (302, 401) and "/login" in anonymous.headers.get("Location", "")
    # Every member has a profile page of their own (the owner of B edits theirs in B).
    assert login_as("receptionist").get(PAGE).status_code == 200
    outsider = login_as("outsider")
    html = outsider.get(PAGE).get_data(as_text=True)
    assert "Harbour" not in html


def test_odd_text_in_any_box_is_a_message_never_an_error(app, login_as):
    clinician = login_as("clinician")
    token = page_csrf(clinician, PAGE)
    for name in ("discipline", "registration_body", "registration_number", "qualifications", "signature_block"):
        for odd in ("a\x00b", "\x1b[31m", "😀" * 20_000):
            refused = clinician.post(PAGE, data=_form(token, **{name: odd}), headers=HTMX)
            assert refused.status_code == 422, (name, odd[:5])
            assert 'class="field-error"' in refused.get_data(as_text=True)
    assert profile_rows(app) == []
