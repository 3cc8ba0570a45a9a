"""The intake service and its checks, called directly (no HTTP)."""

from __future__ import annotations

import pytest

from clinic_app.core import audit
from clinic_app.core.errors import Conflict, Invalid, NotFound
from clinic_app.extensions import db
from clinic_app.intake import service
from clinic_app.intake.validation import Duration, check_presenting_problem, check_symptom_details
from tests.intake.conftest import DEMOGRAPHICS, PRESENTING, count

ACTOR = audit.Actor()


def fields(error: Invalid) -> set[str]:
    return {e.field for e in error.errors}


# --- the checks ----------------------------------------------------------------------------------


def test_presenting_problem_accepts_the_old_apis_words_and_normalises():
    problem = check_presenting_problem(
        {
            "informants": ["Self", "Mother", "husband", "self"],
            "illness_duration_value": "2",
            "illness_duration_unit": "Months",
            "precipitating_tags": "Work, work,  money ,, ",
            "referred_by": "  Dr. Smith ",
        }
    )
    assert problem.informants == ("self", "parent", "spouse")
    assert problem.illness_duration == Duration(2, "months") and problem.illness_duration.label() == "2 months"
    assert problem.precipitating_tags == ("Work", "money")
    assert problem.referred_by == "Dr. Smith"
    assert check_presenting_problem({}).illness_duration is None


@pytest.mark.parametrize(
    ("value", "unit", "bad"),
    [
        ("0", "days", "illness_duration_value"),
        (-2, "days", "illness_duration_value"),
        ("three", "days", "illness_duration_value"),
        (True, "days", "illness_duration_value"),
        (2.5, "days", "illness_duration_value"),
        ("3", "moons", "illness_duration_unit"),
        ("3", None, "illness_duration_unit"),
        (None, "days", "illness_duration_value"),
        ("99999999999999", "days", "illness_duration_value"),
    ],
)
def test_a_duration_is_a_whole_number_above_zero_with_a_known_unit(value, unit, bad):
    with pytest.raises(Invalid) as caught:
        check_presenting_problem({"illness_duration_value": value, "illness_duration_unit": unit})
    assert fields(caught.value) == {bad}


def test_symptom_details_report_every_problem_with_the_prefix():
    with pytest.raises(Invalid) as caught:
        check_symptom_details(
            {"severity": "", "frequency": "sometimes", "notes": "x" * 2001, "triggers": ["ok", 3]}, "symptoms.0."
        )
    assert fields(caught.value) == {
        "symptoms.0.severity",
        "symptoms.0.frequency",
        "symptoms.0.notes",
        "symptoms.0.triggers",
    }
    details = check_symptom_details({"severity": "SEVERE", "frequency": "Daily", "triggers": "stress\ncaffeine"})
    assert (details.severity, details.frequency, details.triggers) == ("severe", "daily", ("stress", "caffeine"))


# --- drafts and submitting -------------------------------------------------------------------------


def test_a_bad_step_changes_nothing_and_earlier_steps_stay(app, tenants):
    with app.app_context():
        draft = service.start_draft(tenants.a.id, actor=ACTOR)
        service.save_step(draft, "demographics", DEMOGRAPHICS)
        service.save_step(draft, "presenting-problem", PRESENTING)
        assert draft.step == "symptoms"
        with pytest.raises(Invalid) as caught:
            service.save_step(
                draft, "presenting-problem", {**PRESENTING, "referred_by": "Dr New", "illness_duration_value": "0"}
            )
        assert fields(caught.value) == {"illness_duration_value"}
        answers = service.draft_answers(draft)
        assert answers.presenting["referred_by"] == "Dr Who" and answers.demographics["first_name"] == "Ada"


def test_submit_is_idempotent_and_a_submitted_draft_is_closed(app, tenants):
    with app.app_context():
        draft = service.start_draft(tenants.a.id, actor=ACTOR)
        service.save_step(draft, "demographics", DEMOGRAPHICS)
        first = service.submit(draft, create_anyway=False, actor=ACTOR)
        again = service.submit(draft, create_anyway=False, actor=ACTOR)
        assert first.id == again.id
        with pytest.raises(Conflict):
            service.save_step(draft, "demographics", DEMOGRAPHICS)
        with pytest.raises(Conflict):
            service.discard(draft, actor=ACTOR)
        db.session.commit()
    assert count(app, "patients") == 1


def test_duplicates_are_a_conflict_carrying_their_ids(app, tenants):
    with app.app_context():
        existing = service.start_draft(tenants.a.id, actor=ACTOR)
        service.save_step(existing, "demographics", DEMOGRAPHICS)
        patient = service.submit(existing, create_anyway=False, actor=ACTOR)
        draft = service.start_draft(tenants.a.id, actor=ACTOR)
        service.save_step(draft, "demographics", {**DEMOGRAPHICS, "first_name": "Other", "date_of_birth": ""})
        assert [m.id for m in service.duplicates_for(draft)] == [patient.id]  # same phone and e-mail
        with pytest.raises(Conflict) as caught:
            service.submit(draft, create_anyway=False, actor=ACTOR)
        assert caught.value.extra["duplicates"] == [
            {"id": patient.id, "reasons": ["phone", "email"], "archived": False}
        ]


def test_summary_is_scoped_to_the_organization(app, tenants):
    with app.app_context():
        draft = service.start_draft(tenants.a.id, actor=ACTOR)
        service.save_step(draft, "demographics", DEMOGRAPHICS)
        service.save_step(draft, "presenting-problem", PRESENTING)
        patient = service.submit(draft, create_anyway=False, actor=ACTOR)
        mine = service.summary_for(tenants.a.id, patient.id)
        assert mine.record.presenting_problem == "Low mood since winter" and mine.record.informants == (
            "self",
            "spouse",
        )
        theirs = service.summary_for(tenants.b.id, patient.id)
        assert theirs.record is None and theirs.symptoms == []
        with pytest.raises(NotFound):
            service.get_draft(tenants.b.id, draft.id)
