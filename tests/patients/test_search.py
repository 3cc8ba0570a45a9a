"""Finding patients: name prefixes (one or two words, any case or accent), exact e-mail and phone
through blind indexes in any local format, filters, sort orders and keyset pages that stay stable."""

from __future__ import annotations

import pytest

from clinic_app.core import audit
from clinic_app.core.errors import Invalid
from clinic_app.extensions import db
from clinic_app.patients import service
from tests.factories import api_token_for
from tests.patients.conftest import events, register


def ids(page):
    return [row.id for row in page.rows]


@pytest.fixture
def people(app, tenants):
    made = {
        "jane_smith": register(
            app,
            tenants.a,
            first_name="Jane",
            last_name="Smith",
            email="Jane.Smith@Example.com",
            phones=[{"type": "mobile", "number": "0412 345 678"}, {"type": "home", "number": "(02) 9876 5432"}],
            emergency_contact={"name": "Someone", "phone": "0499 888 777"},
        ),
        "john_smith": register(app, tenants.a, first_name="John", last_name="Smith", preferred_name="Jack"),
        "amy_smithers": register(app, tenants.a, first_name="Amy", last_name="Smithers"),
        "zoe_obrien": register(app, tenants.a, first_name="Zoë", last_name="O'Brien"),
        "smith_jones": register(app, tenants.a, first_name="Smith", last_name="Jones"),
    }
    # Organization B has a Jane Smith with the same e-mail and phone: never found from A.
    register(
        app,
        tenants.b,
        first_name="Jane",
        last_name="Smith",
        email="jane.smith@example.com",
        phones=[{"number": "0412345678"}],
    )
    return made


def search(app, tenants, q, **kwargs):
    with app.app_context():
        page = service.search_patients(tenants.a.id, q=q, **kwargs)
        db.session.commit()
        return page


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("smi", {"jane_smith", "john_smith", "amy_smithers", "smith_jones"}),  # last or first name
        ("SMITH", {"jane_smith", "john_smith", "amy_smithers", "smith_jones"}),
        ("smithe", {"amy_smithers"}),
        ("jane smith", {"jane_smith"}),
        ("ja smi", {"jane_smith", "john_smith"}),  # "Jack" is John's preferred name
        ("smith jane", {"jane_smith"}),
        ("Smith, J", {"jane_smith", "john_smith", "smith_jones"}),
        ("jack", {"john_smith"}),
        ("zoe", {"zoe_obrien"}),
        ("obri", {"zoe_obrien"}),
        ("o'brien", {"zoe_obrien"}),
        ("mith", set()),  # prefixes only
        ("%", set()),
        ("_", set()),
    ],
)
def test_name_search_matches_prefixes(app, tenants, people, q, expected):
    page = search(app, tenants, q)
    assert set(ids(page)) == {people[name] for name in expected}
    assert page.query_kind == "name"


def test_names_of_several_words_split_between_given_and_family_name(app, tenants):
    mary = register(app, tenants.a, first_name="Mary Ann", last_name="van der Berg")
    register(app, tenants.a, first_name="Mary", last_name="Annand")
    for q in ("mary ann van", "mary ann v", "van der berg mary", "van der", "mary ann"):
        assert mary in ids(search(app, tenants, q)), q
    assert ids(search(app, tenants, "mary ann van der berg")) == [mary]
    assert len(ids(search(app, tenants, "mary an"))) == 2  # "Mary Annand" too


@pytest.mark.parametrize("q", ["jane.smith@example.com", "JANE.SMITH@EXAMPLE.COM", " Jane.Smith@Example.com "])
def test_email_search_is_exact_through_the_blind_index(app, tenants, people, q):
    page = search(app, tenants, q)
    assert ids(page) == [people["jane_smith"]] and page.query_kind == "email"
    assert ids(search(app, tenants, "jane.smith@")) == []
    assert ids(search(app, tenants, "jane.smith@example.co")) == []


@pytest.mark.parametrize(
    "q",
    ["0412 345 678", "0412345678", "+61 412 345 678", "+61412345678", "(04) 1234-5678", "02 9876 5432", "+61298765432"],
)
def test_phone_search_finds_any_of_the_patients_numbers_in_any_format(app, tenants, people, q):
    page = search(app, tenants, q)
    assert ids(page) == [people["jane_smith"]] and page.query_kind == "phone"


def test_phone_search_does_not_match_partial_numbers_or_emergency_contacts(app, tenants, people):
    assert ids(search(app, tenants, "0412 345")) == []
    assert ids(search(app, tenants, "0499 888 777")) == []  # the emergency contact's number
    assert ids(search(app, tenants, "123456")) == []  # not a valid number at all


def test_search_through_the_page_and_the_api(app, tenants, people, clinician):
    html = clinician.get("/patients?q=0412+345+678").get_data(as_text=True)
    assert f'id="patient-row-{people["jane_smith"]}"' in html and "John" not in html
    fragment = clinician.get("/patients?q=smith+jane", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True) and 'id="patient-results"' in fragment.get_data(as_text=True)
    assert "Smith, Jane" in fragment.get_data(as_text=True)
    # E-mail addresses and phone numbers are not pushed into the browser's history.
    assert (
        clinician.get("/patients?q=jane.smith@example.com", headers={"HX-Request": "true"}).headers["HX-Push-Url"]
        == "false"
    )
    assert "HX-Push-Url" not in fragment.headers

    token = api_token_for(app, tenants.a.id, ["patients:read"], creator=tenants.user("owner"))
    body = (
        app.test_client()
        .get(
            "/api/v1/patients/search/",
            query_string={"q": "+61 412 345 678"},
            headers={"Authorization": f"Bearer {token}"},
        )
        .get_json()
    )
    assert [p["id"] for p in body["patients"]] == [people["jane_smith"]]
    assert body["patients"][0]["primary_phone"] == "+61412345678" and body["total_count"] == 1
    missing = app.test_client().get("/api/v1/patients/search/", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 422 and missing.get_json()["errors"][0]["field"] == "q"


def test_searches_are_audited_by_kind_never_by_query(app, tenants, people, clinician):
    for q in ("smi", "jane.smith@example.com", "0412345678"):
        assert clinician.get("/patients", query_string={"q": q}).status_code == 200
    clinician.get("/patients")
    searched = events(app, "patient.searched")
    assert [e.details["kind"] for e in searched] == ["name", "email", "phone"]
    for event in searched:
        text = str(event.details).lower()
        assert "smi" not in text and "jane" not in text and "0412" not in text and "412345678" not in text
        assert event.actor_user_id == tenants.user("clinician").id
    assert searched[2].details["patient_ids"] == [people["jane_smith"]]
    listed = events(app, "patient.listed")
    assert len(listed) == 1 and listed[0].details["results"] == 5


def test_the_empty_states(app, tenants, clinician):
    html = clinician.get("/patients").get_data(as_text=True)
    assert 'data-empty="no-patients"' in html and "No patients yet" in html and "register one" in html
    register(app, tenants.a, first_name="Only", last_name="One")
    html = clinician.get("/patients?q=xyz").get_data(as_text=True)
    assert 'data-empty="no-match"' in html and "No patients match “xyz”" in html
    assert 'data-empty="no-archived"' in clinician.get("/patients?status=archived").get_data(as_text=True)


def test_archived_patients_are_filtered(app, tenants, people, clinician):
    with app.app_context():
        service.archive_patient(tenants.a.id, people["amy_smithers"], actor=audit.Actor())
        db.session.commit()
    assert people["amy_smithers"] not in ids(search(app, tenants, "smi"))
    assert ids(search(app, tenants, "smi", status="archived")) == [people["amy_smithers"]]
    assert len(ids(search(app, tenants, "smi", status="all"))) == 4
    html = clinician.get("/patients?status=archived").get_data(as_text=True)
    assert "Smithers" in html and "Archived" in html and "Jones" not in html


def test_sort_by_name_or_newest_first(app, tenants, people):
    by_name = search(app, tenants, None)
    assert [(r.last_name, r.first_name) for r in by_name.rows] == [
        ("Jones", "Smith"),
        ("O'Brien", "Zoë"),
        ("Smith", "Jane"),
        ("Smith", "John"),
        ("Smithers", "Amy"),
    ]
    assert ids(search(app, tenants, None, sort="recent"))[0] == people["smith_jones"]
    with pytest.raises(Invalid):
        search(app, tenants, None, sort="age")


# --- keyset pages -----------------------------------------------------------------------------


@pytest.fixture
def sixty(app, tenants):
    with app.app_context():
        made = []
        for n in range(60):
            data = service.validate_for(
                tenants.a.id, {"first_name": f"Pat{n:02d}", "last_name": ["Able", "Baker", "Cole"][n % 3]}
            )
            made.append(service.create_patient(tenants.a.id, data, actor=audit.Actor()).id)
        db.session.commit()
        return made


def test_api_pages_cover_every_patient_once_in_order(app, tenants, sixty):
    token = api_token_for(app, tenants.a.id, ["patients:read", "patients:write"], creator=tenants.user("owner"))
    client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    seen, cursor, pages = [], None, 0
    while True:
        response = client.get("/api/v1/patients/list/", query_string={"limit": 25, "cursor": cursor}, headers=headers)
        assert response.status_code == 200
        body = response.get_json()
        assert set(body) == {"patients", "total_count", "limit", "next_cursor", "has_more"}
        assert body["total_count"] == (60 if pages == 0 else 61) and body["limit"] == 25
        seen += body["patients"]
        pages += 1
        if pages == 1:
            # A patient registered mid-way that sorts before the cursor must not shift the next pages.
            client.post(
                "/api/v1/patients/create", json={"first_name": "Aaron", "last_name": "Aardvark"}, headers=headers
            )
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        cursor = body["next_cursor"]
    assert pages == 3 and [len(p) for p in (seen[:25], seen[25:50], seen[50:])] == [25, 25, 10]
    assert sorted(p["id"] for p in seen) == sorted(sixty)
    keys = [(p["last_name"], p["first_name"]) for p in seen]
    assert keys == sorted(keys)


def test_page_links_go_forward_and_back(app, tenants, sixty, clinician):
    def rows(html):
        return [part.split('"')[0] for part in html.split('data-patient-id="')[1:]]

    first = clinician.get("/patients").get_data(as_text=True)
    assert len(rows(first)) == 25 and 'rel="prev"' not in first and "60 patients" in first
    next_url = first.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    second = clinician.get(next_url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in second and len(rows(second)) == 25 and not set(rows(first)) & set(rows(second))
    prev_url = second.split('rel="prev" href="')[1].split('"')[0].replace("&amp;", "&")
    assert rows(clinician.get(prev_url).get_data(as_text=True)) == rows(first)
    third_url = second.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    third = clinician.get(third_url).get_data(as_text=True)
    assert len(rows(third)) == 10 and 'rel="next"' not in third
    # A stale or forged cursor starts again at the first page (and is a 422 for API clients).
    assert rows(clinician.get("/patients?cursor=bm9wZQ").get_data(as_text=True)) == rows(first)


def test_sorting_newest_first_pages_by_creation_time(app, tenants, sixty):
    seen, cursor = [], None
    while True:
        page = search(app, tenants, None, sort="recent", limit=7, cursor=cursor)
        seen += ids(page)
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert seen == list(reversed(sixty))


def test_a_cursor_from_another_organization_is_refused(app, tenants, sixty):
    other = register(app, tenants.b, first_name="Bea", last_name="Other")
    from clinic_app.patients.search import _encode_cursor

    with pytest.raises(Invalid):
        search(app, tenants, None, cursor=_encode_cursor("n", other))


def test_every_page_of_a_search_and_of_the_list_carries_the_capped_count(app, tenants, sixty):
    """The count comes with the page's own rows: the same on every page, for a search and for the
    plain list, and a page past the end (its anchor now the last row) still counts."""
    with app.app_context():
        seen, cursor, totals = [], None, []
        while True:
            page = service.search_patients(tenants.a.id, q="able", limit=6, cursor=cursor)
            seen += [row.id for row in page.rows]
            totals.append(page.total)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert len(seen) == len(set(seen)) == 20 and totals == [20, 20, 20, 20]
        # Archive one: the next read of any page counts 19.
        service.archive_patient(tenants.a.id, seen[0], actor=audit.Actor())
        db.session.commit()
        assert service.search_patients(tenants.a.id, q="able", limit=6, cursor=page.prev_cursor).total == 19
        listed = service.search_patients(tenants.a.id, limit=25)
        second = service.search_patients(tenants.a.id, limit=25, cursor=listed.next_cursor)
        assert listed.total == second.total == 59
        # Forward from the very last row: no rows, and the count is still the whole list's.
        last = service.search_patients(tenants.a.id, limit=25, cursor=second.next_cursor)
        beyond = service.search_patients(tenants.a.id, limit=25, cursor=_cursor_after(last.rows[-1].id))
        assert beyond.rows == [] and beyond.total == 59


def _cursor_after(patient_id: str) -> str:
    from clinic_app.patients.search import _encode_cursor

    return _encode_cursor("n", patient_id)
