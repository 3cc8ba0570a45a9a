"""The intake steps: each one checks its answers (field messages, 422, nothing of the step
saved), keeps them in the draft so any step shows what was saved, autosaves what is valid, and
moves with htmx fragments whose URL names the step."""

from __future__ import annotations

import pytest

from tests.intake.conftest import (
    DEMOGRAPHICS,
    PRESENTING,
    add_symptom,
    csrf,
    details,
    events,
    master_id,
    post_step,
    raw_rows,
    start_draft,
    symptom_keys,
)


def page(client, draft_id, step):
    response = client.get(f"/intake/{draft_id}/{step}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


# --- pages and navigation ------------------------------------------------------------------------


def test_the_intake_page_starts_a_draft_and_lists_unfinished_ones(app, tenants, receptionist, login_as):
    home = receptionist.get("/intake")
    assert home.status_code == 200 and "data-start-intake" in home.get_data(as_text=True)
    assert 'data-nav="intake"' in home.get_data(as_text=True)
    draft_id = start_draft(receptionist)
    post_step(receptionist, draft_id, "demographics", DEMOGRAPHICS)
    listing = receptionist.get("/intake").get_data(as_text=True)
    assert f'data-draft-id="{draft_id}"' in listing and "Ada Intake" in listing and "Presenting problem" in listing
    [started] = events(app, "intake.started")
    assert started.target_id == draft_id and started.actor_user_id == tenants.user("receptionist").id
    # Any colleague with intake:write may resume it.
    colleague = login_as("clinician")
    assert 'value="Ada"' in page(colleague, draft_id, "demographics")
    assert "A colleague" in colleague.get("/intake").get_data(as_text=True)


def test_a_discarded_draft_is_gone(app, tenants, receptionist):
    draft_id = start_draft(receptionist)
    post_step(receptionist, draft_id, "demographics", DEMOGRAPHICS)
    response = receptionist.post(f"/intake/{draft_id}/discard", data={"csrf_token": csrf(receptionist)})
    assert response.status_code == 303
    assert receptionist.get(f"/intake/{draft_id}/demographics").status_code == 404
    assert draft_id not in receptionist.get("/intake").get_data(as_text=True)
    [row] = raw_rows(app, "intake_drafts")
    assert row["status"] == "abandoned" and row["payload_enc"] is None
    assert len(events(app, "intake.abandoned")) == 1


def test_each_step_page_shows_progress_with_the_current_step_marked(app, tenants, receptionist):
    draft_id = start_draft(receptionist)
    for number, (step, label) in enumerate(
        [
            ("demographics", "Demographics"),
            ("presenting-problem", "Presenting problem"),
            ("symptoms", "Symptoms"),
            ("review", "Review and submit"),
        ],
        start=1,
    ):
        html = page(receptionist, draft_id, step)
        assert f"Step {number} of 4" in html
        assert html.count('aria-current="step"') == 1
        current = html.split('aria-current="step"', 1)[1].split("</span></li>", 1)[0]
        assert label in current
        assert 'hx-history="false"' in html


def test_an_unknown_step_is_404(app, tenants, receptionist):
    draft_id = start_draft(receptionist)
    assert receptionist.get(f"/intake/{draft_id}/payment").status_code == 404
    assert receptionist.get("/intake/itk_doesnotexist/demographics").status_code == 404


def test_next_with_htmx_answers_with_the_next_step_fragment_and_pushes_its_url(app, tenants, receptionist):
    draft_id = start_draft(receptionist)
    response = post_step(receptionist, draft_id, "demographics", DEMOGRAPHICS, htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and 'id="intake-step"' in html and 'data-step="presenting-problem"' in html
    assert response.headers["HX-Push-Url"] == f"/intake/{draft_id}/presenting-problem"
    assert "HX-Request" in response.headers.get("Vary", "")
    fragment = receptionist.get(f"/intake/{draft_id}/demographics", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True) and 'value="Ada"' in fragment.get_data(as_text=True)


def test_back_keeps_what_is_valid_and_shows_the_previous_step(app, tenants, receptionist):
    draft_id = start_draft(receptionist)
    post_step(receptionist, draft_id, "demographics", DEMOGRAPHICS)
    response = post_step(
        receptionist,
        draft_id,
        "presenting-problem",
        {"referred_by": "Dr Back", "illness_duration_value": "-1", "illness_duration_unit": "weeks"},
        go="back",
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/demographics")
    html = page(receptionist, draft_id, "presenting-problem")
    assert 'value="Dr Back"' in html and 'value="-1"' not in html


# --- every step checks its answers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"date_of_birth": "2999-01-01"}, "date_of_birth", "cannot be in the future"),
        ({"date_of_birth": "0001-01-01"}, "date_of_birth", "cannot be before 1900"),
        ({"mobile_phone": "12"}, "mobile_phone", "valid phone number"),
        ({"home_phone": "not a phone"}, "home_phone", "valid phone number"),
        ({"email": "nobody@"}, "email", "valid e-mail"),
        ({"first_name": ""}, "first_name", "Enter the first name"),
        ({"sex": "robot"}, "sex", "Choose one of"),
    ],
)
def test_demographics_are_checked_and_nothing_of_the_step_is_saved(app, tenants, receptionist, changes, field, message):
    draft_id = start_draft(receptionist)
    post_step(receptionist, draft_id, "demographics", {**DEMOGRAPHICS, "gender": "kept"})
    response = post_step(receptionist, draft_id, "demographics", {**DEMOGRAPHICS, "gender": "changed", **changes})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="f-{field}-error"' in html and message in html
    assert f'id="f-{field}" name="{field}"' in html and 'aria-invalid="true"' in html
    assert 'value="changed"' in html  # the form shows what was typed
    stored = page(receptionist, draft_id, "demographics")
    assert 'value="kept"' in stored and 'value="changed"' not in stored


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"illness_duration_value": "0"}, "illness_duration_value", "greater than 0"),
        ({"illness_duration_value": "-3"}, "illness_duration_value", "greater than 0"),
        ({"illness_duration_value": "2.5"}, "illness_duration_value", "whole number"),
        ({"illness_duration_unit": "fortnights"}, "illness_duration_unit", "Choose one of"),
        ({"illness_duration_unit": ""}, "illness_duration_unit", "Choose days, weeks, months or years"),
        ({"illness_duration_value": "500", "illness_duration_unit": "years"}, "illness_duration_value", "at most 120"),
        ({"precipitating_factors": "x" * 5001}, "precipitating_factors", "at most 5,000 characters"),
        ({"presenting_problem": "y" * 2001}, "presenting_problem", "at most 2,000 characters"),
        ({"referred_by": "Dr\nNewline"}, "referred_by", "line breaks"),
        ({"informants": ["self", "butler"]}, "informants", "Choose from"),
        ({"precipitating_tags": "ok, " + "z" * 51}, "precipitating_tags", "50 characters"),
    ],
)
def test_the_presenting_problem_is_checked_and_nothing_of_the_step_is_saved(
    app, tenants, receptionist, changes, field, message
):
    draft_id = start_draft(receptionist)
    post_step(receptionist, draft_id, "demographics", DEMOGRAPHICS)
    post_step(receptionist, draft_id, "presenting-problem", {**PRESENTING, "referred_by": "Dr Kept"})
    attempt = {**PRESENTING, "referred_by": "Dr Changed", **changes}
    response = post_step(receptionist, draft_id, "presenting-problem", attempt)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="f-{field}-error"' in html and message in html
    assert "data-form-errors" in html
    stored = page(receptionist, draft_id, "presenting-problem")
    assert "Dr Kept" in stored and "Dr Changed" not in stored
    assert 'value="Ada"' in page(receptionist, draft_id, "demographics")  # earlier steps untouched


def test_symptom_details_are_checked_and_nothing_of_the_step_is_saved(app, tenants, receptionist, catalogue):
    draft_id = start_draft(receptionist)
    add_symptom(receptionist, draft_id, symptom_id=master_id(app, "MB24.5"))
    add_symptom(receptionist, draft_id, symptom_id=master_id(app, "MB43"))
    first, second = symptom_keys(page(receptionist, draft_id, "symptoms"))
    post_step(receptionist, draft_id, "symptoms", {**details(first, notes="kept note"), **details(second)})
    bad = {
        **details(first, notes="changed note", duration_value="0", duration_unit="weeks"),
        **details(second, severity="", frequency="hourly", duration_value="3", duration_unit="aeons"),
    }
    response = post_step(receptionist, draft_id, "symptoms", bad)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for field, message in [
        (f"symptoms-{first}-duration_value", "greater than 0"),
        (f"symptoms-{second}-severity", "Choose how severe"),
        (f"symptoms-{second}-frequency", "Choose one of"),
        (f"symptoms-{second}-duration_unit", "Choose one of"),
    ]:
        assert f'id="f-{field}-error"' in html and message in html, field
    assert "changed note" in html  # shown as typed
    stored = page(receptionist, draft_id, "symptoms")
    assert "kept note" in stored and "changed note" not in stored


def test_symptom_severity_and_frequency_are_required_but_symptoms_are_not(app, tenants, receptionist, catalogue):
    draft_id = start_draft(receptionist)
    assert post_step(receptionist, draft_id, "symptoms", {}).status_code == 303  # none chosen is fine
    add_symptom(receptionist, draft_id, symptom_id=master_id(app, "MB24.5"))
    [key] = symptom_keys(page(receptionist, draft_id, "symptoms"))
    response = post_step(receptionist, draft_id, "symptoms", {f"symptoms-{key}-notes": "only notes"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose how severe it is." in html and "Choose how often it happens." in html


# --- the draft keeps everything ----------------------------------------------------------------


def test_every_step_shows_what_was_saved(app, tenants, receptionist, catalogue):
    draft_id = start_draft(receptionist)
    post_step(receptionist, draft_id, "demographics", {**DEMOGRAPHICS, "address_line1": "1 Draft Lane"})
    post_step(receptionist, draft_id, "presenting-problem", PRESENTING)
    add_symptom(receptionist, draft_id, symptom_id=master_id(app, "MB24.5"))
    [key] = symptom_keys(page(receptionist, draft_id, "symptoms"))
    post_step(
        receptionist,
        draft_id,
        "symptoms",
        details(key, severity="severe", duration_value="2", duration_unit="weeks", onset_description="After the move"),
    )

    demographics = page(receptionist, draft_id, "demographics")
    for value in ("Ada", "Intake", "1980-02-03", "0412 555 111", "ada.intake@example.com", "1 Draft Lane"):
        assert f'value="{value}"' in demographics, value
    assert '<option value="female" selected>' in demographics
    presenting = page(receptionist, draft_id, "presenting-problem")
    assert "Low mood since winter</textarea>" in presenting and "Lost job in June</textarea>" in presenting
    assert 'value="3"' in presenting and '<option value="months" selected>' in presenting
    assert 'value="self" checked' in presenting and 'value="spouse" checked' in presenting
    assert 'value="parent" checked' not in presenting
    assert 'value="work, loss"' in presenting and 'value="Dr Who"' in presenting
    symptoms = page(receptionist, draft_id, "symptoms")
    assert "Depressed mood" in symptoms and "MB24.5" in symptoms
    assert '<option value="severe" selected>' in symptoms and 'value="After the move"' in symptoms
    review = page(receptionist, draft_id, "review")
    assert "Ada Intake" in review and "Low mood since winter" in review and "Depressed mood" in review
    assert "data-submit-intake" in review


def test_autosave_keeps_valid_and_empty_fields_and_leaves_bad_ones_as_stored(app, tenants, receptionist):
    draft_id = start_draft(receptionist)
    post_step(receptionist, draft_id, "demographics", {**DEMOGRAPHICS, "gender": "first"})
    typed = {**DEMOGRAPHICS, "first_name": "", "gender": "second", "date_of_birth": "2999-12-31"}
    response = receptionist.post(
        f"/intake/{draft_id}/demographics/autosave",
        data={**typed, "csrf_token": csrf(receptionist)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert 'data-autosave="partial"' in response.get_data(as_text=True)
    html = page(receptionist, draft_id, "demographics")
    assert 'value="second"' in html  # valid: kept
    assert 'id="f-first_name" name="first_name" type="text" value=""' in html  # emptied: kept empty
    assert 'value="1980-02-03"' in html and "2999-12-31" not in html  # invalid: the stored value stays

    ok = receptionist.post(
        f"/intake/{draft_id}/presenting-problem/autosave",
        data={"referred_by": "Dr Auto", "csrf_token": csrf(receptionist)},
        headers={"HX-Request": "true"},
    )
    assert 'data-autosave="saved"' in ok.get_data(as_text=True)
    assert 'value="Dr Auto"' in page(receptionist, draft_id, "presenting-problem")


def test_the_step_form_autosaves_on_change_with_htmx(app, tenants, receptionist):
    draft_id = start_draft(receptionist)
    html = page(receptionist, draft_id, "demographics")
    assert f'hx-post="/intake/{draft_id}/demographics/autosave"' in html
    assert 'hx-trigger="change delay:500ms from:#intake-form' in html
    assert f'hx-post="/intake/{draft_id}/demographics"' in html and 'action="/intake/' in html


# --- choosing symptoms -------------------------------------------------------------------------


def test_catalogue_search_offers_add_buttons_posting_to_the_draft(app, tenants, receptionist, catalogue):
    draft_id = start_draft(receptionist)
    response = receptionist.get(f"/intake/{draft_id}/symptoms/search?q=low+mood", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert "Depressed mood" in html and f'hx-post="/intake/{draft_id}/symptoms/add"' in html
    assert 'hx-target="#chosen-symptoms"' in html and 'hx-swap="beforeend"' in html
    plain = receptionist.get(f"/intake/{draft_id}/symptoms?q=low+mood").get_data(as_text=True)
    assert "Depressed mood" in plain and 'value="low mood"' in plain  # works without JavaScript


def test_adding_symptoms_from_the_catalogue_and_by_name(app, tenants, receptionist, catalogue):
    draft_id = start_draft(receptionist)
    added = add_symptom(receptionist, draft_id, symptom_id=master_id(app, "MB24.5"))
    html = added.get_data(as_text=True)
    assert added.status_code == 200 and 'class="symptom-entry"' in html and 'hx-swap-oob="true"' in html
    again = add_symptom(receptionist, draft_id, symptom_id=master_id(app, "MB24.5"))
    assert "already on the list" in again.get_data(as_text=True)
    assert again.headers["HX-Retarget"] == "#symptom-notice"

    custom = add_symptom(receptionist, draft_id, custom_name="  Humming   at night ")
    assert "Humming at night" in custom.get_data(as_text=True) and "Your clinic" in custom.get_data(as_text=True)
    # A name that is an ICD-11 title becomes that ICD-11 symptom, not a custom copy.
    master = add_symptom(receptionist, draft_id, custom_name="dyssomnia")
    assert "MB43" in master.get_data(as_text=True) and "in the ICD-11 list as MB43" in master.get_data(as_text=True)
    empty = add_symptom(receptionist, draft_id, custom_name="   ")
    assert empty.status_code == 422 and "Enter the symptom" in empty.get_data(as_text=True)
    unknown = add_symptom(receptionist, draft_id, symptom_id="sym_nope")
    assert unknown.status_code == 422 and "No such symptom" in unknown.get_data(as_text=True)

    symptoms = page(receptionist, draft_id, "symptoms")
    assert len(symptom_keys(symptoms)) == 3
    # Another receptionist's draft in the same clinic reuses the custom symptom rather than duplicating it.
    second = start_draft(receptionist)
    add_symptom(receptionist, second, custom_name="humming at NIGHT")
    search = receptionist.get(f"/intake/{second}/symptoms/search?q=humming", headers={"HX-Request": "true"})
    assert search.get_data(as_text=True).count('data-source="custom"') == 1


def test_removing_a_symptom_keeps_the_other_details_typed(app, tenants, receptionist, catalogue):
    draft_id = start_draft(receptionist)
    add_symptom(receptionist, draft_id, symptom_id=master_id(app, "MB24.5"))
    add_symptom(receptionist, draft_id, symptom_id=master_id(app, "MB43"))
    first, second = symptom_keys(page(receptionist, draft_id, "symptoms"))
    response = receptionist.post(
        f"/intake/{draft_id}/symptoms/remove",
        data={**details(first), **details(second, notes="typed before removing"), "remove": first},
        headers={"HX-Request": "true", "X-CSRFToken": csrf(receptionist)},
    )
    assert response.status_code == 200 and "Removed" in response.get_data(as_text=True)
    html = page(receptionist, draft_id, "symptoms")
    assert symptom_keys(html) == [second] and "typed before removing" in html
    plain = receptionist.post(
        f"/intake/{draft_id}/symptoms/remove", data={"remove": second, "csrf_token": csrf(receptionist)}
    )
    assert plain.status_code == 303 and symptom_keys(page(receptionist, draft_id, "symptoms")) == []


def test_without_javascript_a_plain_post_adds_and_redirects(app, tenants, receptionist, catalogue):
    draft_id = start_draft(receptionist)
    response = add_symptom(receptionist, draft_id, htmx=False, symptom_id=master_id(app, "MB24.5"))
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/intake/{draft_id}/symptoms")
    assert "Added" in receptionist.get(response.headers["Location"]).get_data(as_text=True)
