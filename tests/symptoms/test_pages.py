"""The /symptoms page: the full page and its htmx fragment from one view, search as you type, and
adding a custom symptom from the page (for roles with ``symptoms:write``)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from clinic_app.extensions import db
from clinic_app.symptoms.models import CustomSymptom
from tests.factories import page_csrf

pytestmark = pytest.mark.usefixtures("catalogue")

HTMX = {"HX-Request": "true"}


@pytest.fixture
def clinician(login_as):
    return login_as("clinician")


def test_full_page_has_search_as_you_type_and_the_add_form(clinician):
    response = clinician.get("/symptoms")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in html and 'id="symptom-results"' in html
    assert 'hx-trigger="input changed delay:250ms, search, submit"' in html
    assert 'hx-target="#symptom-results"' in html and 'hx-push-url="true"' in html
    assert 'hx-history="false"' in html  # Back re-asks the server, so the search box keeps its text
    assert 'id="custom-symptom-form"' in html
    assert 'data-nav="symptoms"' in html and 'aria-current="page"' in html


def test_the_htmx_fragment_is_only_the_results(clinician):
    response = clinician.get("/symptoms?q=depressed", headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and "custom-symptom-form" not in html
    assert "MB24.5" in html and "Depressed mood" in html
    assert "HX-Request" in response.headers["Vary"]


def test_a_history_restore_gets_the_full_page(clinician):
    headers = {**HTMX, "HX-History-Restore-Request": "true"}
    html = clinician.get("/symptoms?q=back", headers=headers).get_data(as_text=True)
    assert "<html" in html and 'value="back"' in html and "Low back pain" in html


def test_a_search_without_htmx_renders_the_page_with_the_results(clinician):
    html = clinician.get("/symptoms?q=pins+and+needles").get_data(as_text=True)
    assert "<html" in html and "Tingling fingers or feet or toes" in html and "matched “pins and needles”" in html


def test_no_match_says_so(clinician):
    html = clinician.get("/symptoms?q=xylophone", headers=HTMX).get_data(as_text=True)
    assert "No symptom matches “xylophone”" in html


def test_receptionist_can_search_but_not_add(login_as, app):
    receptionist = login_as("receptionist")
    html = receptionist.get("/symptoms").get_data(as_text=True)
    assert 'id="symptom-results"' in html and "custom-symptom-form" not in html
    token = page_csrf(receptionist, "/symptoms")
    response = receptionist.post("/symptoms/custom", data={"name": "Jaw clenching", "csrf_token": token})
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalars(select(CustomSymptom)).all() == []


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/symptoms")
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=/symptoms"
    assert 'data-nav="symptoms"' not in client.get("/login").get_data(as_text=True)


def test_adding_from_the_page_redirects_to_the_new_symptom(clinician, app, tenants):
    token = page_csrf(clinician, "/symptoms")
    data = {"name": "Jaw clenching", "description": "At night", "category": "musculoskeletal", "csrf_token": token}
    response = clinician.post("/symptoms/custom", data=data)
    assert response.status_code == 303
    assert response.headers["Location"] == "/symptoms?q=Jaw+clenching"
    page = clinician.get(response.headers["Location"]).get_data(as_text=True)
    assert "was added to your clinic" in page and "Your clinic" in page
    with app.app_context():
        symptom = db.session.scalars(select(CustomSymptom)).one()
        assert (symptom.organization_id, symptom.name, symptom.category) == (
            tenants.a.id,
            "Jaw clenching",
            "musculoskeletal",
        )


def test_adding_with_htmx_answers_a_fresh_form_and_an_event(clinician):
    token = page_csrf(clinician, "/symptoms")
    response = clinician.post(
        "/symptoms/custom", data={"name": "Jaw clenching"}, headers={**HTMX, "X-CSRFToken": token}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and "data-symptom-added" in html and 'value="Jaw clenching"' not in html
    event = json.loads(response.headers["HX-Trigger"])
    assert event["symptoms-changed"]["id"].startswith("csym_")


@pytest.mark.parametrize("htmx", [False, True])
def test_an_empty_name_re_renders_the_form_with_422(clinician, htmx):
    token = page_csrf(clinician, "/symptoms")
    headers = {**HTMX, "X-CSRFToken": token} if htmx else {}
    data = {"name": "  ", **({} if htmx else {"csrf_token": token})}
    response = clinician.post("/symptoms/custom", data=data, headers=headers)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter the symptom&#39;s name." in html and 'aria-invalid="true"' in html
    assert ("<html" in html) is not htmx


def test_duplicates_re_render_with_the_reason(clinician, app):
    token = page_csrf(clinician, "/symptoms")
    headers = {**HTMX, "X-CSRFToken": token}
    assert clinician.post("/symptoms/custom", data={"name": "Jaw clenching"}, headers=headers).status_code == 200
    again = clinician.post("/symptoms/custom", data={"name": "jaw CLENCHING"}, headers=headers)
    assert again.status_code == 422 and "already has the symptom" in again.get_data(as_text=True)
    master = clinician.post("/symptoms/custom", data={"name": "Depressed mood"}, headers=headers)
    assert master.status_code == 422 and "MB24.5" in master.get_data(as_text=True)
    with app.app_context():
        assert len(db.session.scalars(select(CustomSymptom)).all()) == 1


def test_the_results_partial_can_offer_a_pick_button(app, tenants):
    from flask import render_template

    from clinic_app.symptoms import service

    with app.test_request_context("/"), app.app_context():
        results = service.search(tenants.a.id, "depressed")
        plain = render_template("symptoms/_results.html", results=results)
        assert "<button" not in plain
        html = render_template(
            "symptoms/_results.html", results=results, pick_url="/intake/x/symptoms", pick_target="#picked"
        )
    assert 'action="/intake/x/symptoms"' in html and 'hx-post="/intake/x/symptoms"' in html
    assert 'hx-target="#picked"' in html and 'name="symptom_id"' in html
    assert f'value="{results.matches[0].id}"' in html and 'name="csrf_token"' in html
