"""The symptom service called directly: search ranking, custom symptoms and their rules, and
looking one symptom up — within one organization only."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.core.errors import Conflict, Invalid, NotFound
from clinic_app.extensions import db
from clinic_app.symptoms import service
from clinic_app.symptoms.catalogue import read_master_list
from clinic_app.symptoms.models import CustomSymptom, MasterSymptom

pytestmark = pytest.mark.usefixtures("catalogue")


def codes(results: service.SearchResults) -> list[str | None]:
    return [match.code for match in results]


# --- search ------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["depressed", "Depressed", "  DEPRESSED  ", "depressed mood", "mood depressed"])
def test_depressed_mood_ranks_first(app, tenants, query):
    with app.app_context():
        assert codes(service.search(tenants.a.id, query))[0] == "MB24.5"


@pytest.mark.parametrize("query", ["MB24.5", "mb24.5"])
def test_an_exact_code_ranks_first(app, tenants, query):
    with app.app_context():
        results = service.search(tenants.a.id, query)
        assert results.matches[0].code == "MB24.5" and results.matches[0].title == "Depressed mood"


def test_a_code_prefix_lists_that_block_in_code_order(app, tenants):
    with app.app_context():
        results = service.search(tenants.a.id, "mb24", limit=100)
        found = codes(results)
        assert found and all(code.startswith("MB24") for code in found)
        assert found == sorted(found)
        assert "MB24.5" in found


def test_back_finds_low_back_pain(app, tenants):
    with app.app_context():
        results = service.search(tenants.a.id, "back")
        titles = [match.title for match in results]
        assert "Low back pain" in titles
        assert all("back" in (m.title + " " + (m.matched_term or "")).lower() for m in results)


def test_title_matches_come_before_synonym_matches(app, tenants):
    with app.app_context():
        results = service.search(tenants.a.id, "anx").matches
        assert results[0].code == "MB24.3" and results[0].matched_term is None  # "Anxiety"
        assert any(match.matched_term == "health anxiety" for match in results[1:])


def test_whole_words_come_before_parts_of_words(app, tenants):
    with app.app_context():
        found = codes(service.search(tenants.a.id, "sleep"))
        assert found.index("MG41") < found.index("MB60")  # "Sleep disturbance" before "Sleeptalking"


@pytest.mark.parametrize(
    ("query", "code"),
    [("low mood", "MB24.5"), ("feeling down", "MB24.5"), ("pins and needles", "MB40.4"), ("dizzy", "MB48")],
)
def test_everyday_words_find_the_symptom_by_its_synonyms(app, tenants, query, code):
    with app.app_context():
        first = service.search(tenants.a.id, query).matches[0]
        assert first.code == code
        assert first.matched_term is not None and query in first.matched_term


def test_text_inside_words_is_found_last(app, tenants):
    with app.app_context():
        results = service.search(tenants.a.id, "ache", limit=100).matches
        assert "MG3Z" in codes(service.search(tenants.a.id, "ache"))  # synonym "ache" itself
        assert any(match.code == "MG31.1" for match in results)  # "head ache" / "headache"


def test_no_match_and_punctuation_only_queries(app, tenants):
    with app.app_context():
        assert service.search(tenants.a.id, "xylophone").total == 0
        for query in ("%", "_", "%_%", "..."):  # LIKE wildcards are text, not patterns
            results = service.search(tenants.a.id, query)
            assert (results.total, results.matches) == (0, [])


def test_limit_and_total(app, tenants):
    with app.app_context():
        results = service.search(tenants.a.id, "pain", limit=3)
        assert len(results) == 3 and results.total > 3 and results.limit == 3
        assert service.search(tenants.a.id, "pain", limit=0).limit == 1
        assert service.search(tenants.a.id, "pain", limit=10_000).limit == service.LIMIT_MAX


def test_an_empty_query_lists_the_organizations_own_then_the_master_list_by_code(app, tenants, add_custom):
    add_custom(tenants.a.id, "Jaw clenching")
    with app.app_context():
        results = service.search(tenants.a.id, "", limit=5)
        assert results.total == len(read_master_list()) + 1
        assert [m.source for m in results] == ["custom", "master", "master", "master", "master"]
        assert codes(results)[1:] == sorted(codes(results)[1:])


def test_search_finds_the_organizations_custom_symptoms_but_never_another_organizations(app, tenants, add_custom):
    own = add_custom(tenants.a.id, "Jaw clenching", category="musculoskeletal")
    theirs = add_custom(tenants.b.id, "Jaw clicking after sessions")
    with app.app_context():
        a_results = service.search(tenants.a.id, "jaw cl").matches
        assert own in [m.id for m in a_results] and theirs not in [m.id for m in a_results]
        mine = next(m for m in a_results if m.id == own)
        assert (mine.source, mine.code, mine.title, mine.category) == (
            "custom",
            None,
            "Jaw clenching",
            "musculoskeletal",
        )
        b_results = service.search(tenants.b.id, "jaw").matches
        assert theirs in [m.id for m in b_results] and own not in [m.id for m in b_results]
        assert own not in [m.id for m in service.search(tenants.b.id, "", limit=100)]


# --- custom symptoms ---------------------------------------------------------------------------


def test_creating_a_custom_symptom_normalises_it_and_records_an_audit_event(app, tenants):
    clinician = tenants.user("clinician")
    with app.app_context():
        symptom = service.create_custom(
            tenants.a.id,
            "  Post-session   soreness ",
            "  Soreness the day after treatment. ",
            actor=audit.Actor(clinician.id),
        )
        db.session.commit()
        assert symptom.id.startswith("csym_")
        assert (symptom.name, symptom.description, symptom.category) == (
            "Post-session soreness",
            "Soreness the day after treatment.",
            "other",
        )
        assert (symptom.organization_id, symptom.created_by_id) == (tenants.a.id, clinician.id)
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "symptom.custom_created"))
        assert (event.organization_id, event.actor_user_id, event.target_id) == (tenants.a.id, clinician.id, symptom.id)


def test_a_duplicate_name_in_another_case_is_refused(app, tenants, add_custom):
    first = add_custom(tenants.a.id, "Jaw clenching")
    with app.app_context():
        with pytest.raises(Conflict) as refused:
            service.create_custom(tenants.a.id, "JAW  Clenching", actor=audit.Actor())
        assert "already has" in refused.value.detail
        assert refused.value.extra["existing"]["id"] == first
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(CustomSymptom)) == 1


def test_another_organization_may_use_the_same_name(app, tenants, add_custom):
    add_custom(tenants.a.id, "Jaw clenching")
    assert add_custom(tenants.b.id, "jaw clenching").startswith("csym_")


def test_a_master_title_is_refused_with_the_master_symptom_suggested(app, tenants):
    with app.app_context():
        with pytest.raises(Conflict) as refused:
            service.create_custom(tenants.a.id, "depressed MOOD", actor=audit.Actor())
        assert "MB24.5" in refused.value.detail and "Depressed mood" in refused.value.detail
        master = db.session.scalar(select(MasterSymptom).where(MasterSymptom.code == "MB24.5"))
        assert refused.value.extra["suggestion"] == {"id": master.id, "code": "MB24.5", "title": "Depressed mood"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"name": "Ok", "description": "d" * 501}, "description"),
        ({"name": "Ok", "category": "astrology"}, "category"),
    ],
)
def test_invalid_custom_symptoms_are_refused_per_field(app, tenants, fields, field):
    with app.app_context():
        with pytest.raises(Invalid) as refused:
            service.create_custom(tenants.a.id, actor=audit.Actor(), **fields)
        assert [error.field for error in refused.value.errors] == [field]


def test_the_length_limits_are_inclusive(app, tenants, add_custom):
    assert add_custom(tenants.a.id, "x" * 120, description="d" * 500, category="pain")
    assert add_custom(tenants.a.id, "y")


# --- one symptom -------------------------------------------------------------------------------


def test_get_symptom_resolves_both_kinds(app, tenants, add_custom):
    own = add_custom(tenants.a.id, "Jaw clenching")
    with app.app_context():
        master_id = db.session.scalar(select(MasterSymptom.id).where(MasterSymptom.code == "ME84.2"))
        master = service.get_symptom(tenants.a.id, master_id)
        assert (master.source, master.code, master.title, master.category) == (
            "master",
            "ME84.2",
            "Low back pain",
            "pain",
        )
        custom = service.get_symptom(tenants.a.id, own)
        assert (custom.source, custom.code, custom.title) == ("custom", None, "Jaw clenching")
        assert service.get_symptom(tenants.b.id, master_id).code == "ME84.2"  # the master list is shared


def test_another_organizations_custom_symptom_is_not_found(app, tenants, add_custom):
    theirs = add_custom(tenants.b.id, "Post-session fatigue")
    with app.app_context():
        with pytest.raises(NotFound):
            service.get_symptom(tenants.a.id, theirs)
        for unknown in ("", "sym_doesnotexist", "csym_doesnotexist", "usr_x", "MB24.5"):
            with pytest.raises(NotFound):
                service.get_symptom(tenants.a.id, unknown)
