"""One API: the OpenAPI document is valid OpenAPI 3.1, every list pages one way and every 422
lists its fields one way (``core.pagination`` and ``core.api`` state the conventions).

The tests read the document the running app serves, so a route another feature adds later is
walked too: a list that does not declare how it pages, pages another way, or answers a bad cursor
or limit with anything but the 422 below fails here.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from clinic_app.core.audit import Actor
from clinic_app.core.pagination import encode_cursor
from clinic_app.extensions import db
from tests.factories import access_token_for

UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9_]*$")
PAGED = ("cursor", "offset-seed")


@pytest.fixture
def spec(client) -> dict[str, Any]:
    return client.get("/api/v1/openapi.json").get_json()


def _schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _kinds(spec: dict[str, Any], prop: dict[str, Any]) -> list[dict[str, Any]]:
    """The schemas a value may match: the branches of an ``anyOf``, or the schema itself."""
    prop = _schema(spec, prop)
    return [_schema(spec, kind) for kind in prop.get("anyOf", [prop])]


def _success_schema(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    for status, answer in operation["responses"].items():
        if status.startswith("2"):
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            if schema is not None:
                return _schema(spec, schema)
    return None


def _collections(spec: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """The top-level members of an answer that hold a list of records (objects)."""
    if schema.get("type") == "array":
        return ["<the answer itself>"]
    found = []
    for name, prop in schema.get("properties", {}).items():
        for kind in _kinds(spec, prop):
            if kind.get("type") == "array":
                items = _schema(spec, kind.get("items", {}))
                if items.get("type") == "object" or "properties" in items or "anyOf" in items:
                    found.append(name)
                    break
    return found


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def _lists(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path, op)
        for path, method, op in _operations(spec)
        if method == "get" and op.get("x-pagination", {}).get("style") in PAGED
    ]


def _query(op: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((p for p in op["parameters"] if p["in"] == "query" and p["name"] == name), None)


# --- The document -------------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"] == "3.1.0"
    assert [str(error) for error in OpenAPIV31SpecValidator(spec).iter_errors()] == []
    # The validator does look: a document with a broken operation is refused.
    broken = copy.deepcopy(spec)
    broken["paths"]["/api/v1/jobs/{job_id}"]["get"]["parameters"][0]["in"] = "nowhere"
    assert list(OpenAPIV31SpecValidator(broken).iter_errors())


def _undeclared(spec: dict[str, Any]) -> list[str]:
    """Reads answering a collection without ``x-pagination`` (neither paged nor said to be whole)."""
    found = []
    for path, method, op in _operations(spec):
        schema = _success_schema(spec, op)
        if method == "get" and schema is not None and _collections(spec, schema) and "x-pagination" not in op:
            found.append(f"GET {path}: {_collections(spec, schema)}")
    return found


def test_every_collection_declares_how_it_pages(spec):
    assert _undeclared(spec) == [], "collections that neither page nor say why they need not (api_route unpaged=...)"
    for path, method, op in _operations(spec):
        style = op.get("x-pagination", {}).get("style")
        assert style in (None, "none", *PAGED), (path, style)
        assert style is None or method == "get", f"{method.upper()} {path}: only a read is a list"
        if style == "none":
            assert len(op["x-pagination"]["reason"]) > 10, path


def test_a_new_list_that_says_nothing_is_found():
    """The check above, on a planted route: a collection with no word on paging."""
    from flask import Blueprint, Flask

    from clinic_app.core.access import public
    from clinic_app.core.api import Schema, api_route
    from clinic_app.core.openapi import build_openapi

    class Row(Schema):
        id: str

    class Rows(Schema):
        rows: list[Row]

    planted = Blueprint("planted", __name__)

    @api_route(planted, "/api/v1/planted", response=Rows, summary="Planted")
    @public
    def planted_list() -> Rows:
        return Rows(rows=[])

    @api_route(planted, "/api/v1/planted/whole", response=Rows, summary="Planted", unpaged="a fixed handful")
    @public
    def planted_whole() -> Rows:
        return Rows(rows=[])

    app = Flask(__name__)
    app.register_blueprint(planted)
    assert _undeclared(build_openapi(app, title="t", version="1")) == ["GET /api/v1/planted: ['rows']"]
    with pytest.raises(ValueError):
        api_route(planted, "/api/v1/planted/odd", summary="Odd", paginated="pages")
    with pytest.raises(ValueError):  # offset only with its reason
        api_route(planted, "/api/v1/planted/offset", summary="Offset", paginated="offset-seed")


def test_every_list_pages_with_limit_and_cursor(spec):
    lists = _lists(spec)
    assert len(lists) >= 20  # the walk below has something to walk
    for path, op in lists:
        where = f"GET {path}"
        paging = op["x-pagination"]
        limit, cursor = _query(op, "limit"), _query(op, "cursor")
        assert limit is not None and cursor is not None, where
        bounds = limit["schema"]
        assert bounds["type"] == "integer" and bounds["minimum"] == 1, where
        assert isinstance(bounds["maximum"], int) and 1 <= bounds["default"] <= bounds["maximum"], where
        assert str(bounds["maximum"]) in limit["description"] and str(bounds["default"]) in limit["description"]
        assert paging["limit"] == {"default": bounds["default"], "maximum": bounds["maximum"]}, where
        assert cursor["schema"]["anyOf"][0]["type"] == "string" and cursor["schema"]["anyOf"][0]["maxLength"], where
        assert not cursor["required"] and not limit["required"], where
        if paging["style"] == "offset-seed":
            assert _query(op, "offset") is not None, where
        else:
            assert _query(op, "offset") is None, f"{where}: offset only where a seed's shape requires it"
        answer = _success_schema(spec, op)
        holder = answer
        *envelope, items = paging["items"].split(".")  # seed 004 keeps a page inside `data`
        for name in envelope:
            holder = _schema(spec, holder["properties"][name])
        assert items in holder["properties"], where
        assert any(kind.get("type") == "array" for kind in _kinds(spec, holder["properties"][items])), where
        next_cursor = answer["properties"].get("next_cursor")
        assert next_cursor is not None, f"{where}: no next_cursor"
        assert {kind.get("type") for kind in _kinds(spec, next_cursor)} == {"string", "null"}, where
        assert "next_cursor" in answer.get("required", []), f"{where}: next_cursor is always present"
        assert "422" in op["responses"], where


def test_every_422_lists_field_message_and_code(spec):
    schemas = spec["components"]["schemas"]
    item = schemas["ErrorItem"]
    assert set(item["required"]) == {"field", "message", "code"}
    assert item["properties"]["code"]["pattern"] == UPPER_SNAKE.pattern
    errors = schemas["Problem"]["properties"]["errors"]
    assert {"$ref": "#/components/schemas/ErrorItem"} in [kind.get("items") for kind in errors["anyOf"]]
    count = 0
    for path, method, op in _operations(spec):
        answer = op["responses"].get("422")
        assert answer is not None, f"{method.upper()} {path} has no 422"
        assert answer["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
        count += 1
    assert count > 100


# --- The running lists --------------------------------------------------------------------------


@pytest.fixture
def records(app, tenants) -> dict[str, str]:
    """Path values for every list: organization A's records, by the names routes use."""
    from clinic_app.patients import service as patients

    with app.app_context():
        record = patients.validate_for(tenants.a.id, {"first_name": "Walk", "last_name": "Lists"})
        patient = patients.create_patient(tenants.a.id, record, actor=Actor())
        db.session.commit()
        return {
            "organization_id": tenants.a.id,
            "patient_id": patient.id,
            "user_id": tenants.user("owner").id,
            "appointment_type": "Physiotherapy",
        }


def _fill(path: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        assert match.group(1) in values, f"no value for {{{match.group(1)}}} in {path}: add one to records()"
        return values[match.group(1)]

    return re.sub(r"{([^}]+)}", value, path)


def _errors(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 422, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/problem+json"
    errors = response.get_json()["errors"]
    for error in errors:
        assert set(error) == {"field", "message", "code"}, error
        assert error["message"] and UPPER_SNAKE.match(error["code"]), error
    return errors


def _items(page: dict[str, Any], path: str) -> Any:
    for name in path.split("."):
        page = page[name]
    return page


def test_every_list_answers_a_page_and_refuses_bad_cursors_and_limits(app, client, tenants, spec, records):
    headers = {"Authorization": f"Bearer {access_token_for(app, tenants.user('owner'))}"}
    for path, op in _lists(spec):
        required = {p["name"]: "walk" for p in op["parameters"] if p["in"] == "query" and p["required"]}
        url = _fill(path, records)
        maximum = op["x-pagination"]["limit"]["maximum"]
        first = client.get(url, query_string=required, headers=headers)
        assert first.status_code == 200, (path, first.status_code, first.get_data(as_text=True)[:300])
        page = first.get_json()
        assert isinstance(_items(page, op["x-pagination"]["items"]), list), path
        assert "next_cursor" in page, path

        for bad in ("not a cursor!", "%%%", encode_cursor("a position no list gave out"), "A" * 2000):
            errors = _errors(client.get(url, query_string={**required, "cursor": bad}, headers=headers))
            assert [(e["field"], e["code"]) for e in errors][:1] in (
                [("cursor", "INVALID_CURSOR")],
                [("cursor", "STRING_TOO_LONG")],
            ), (path, bad, errors)
        for limit, code in (("0", "GREATER_THAN_EQUAL"), (str(maximum + 1), "LESS_THAN_EQUAL"), ("ten", "INT_PARSING")):
            errors = _errors(client.get(url, query_string={**required, "limit": limit}, headers=headers))
            assert [(e["field"], e["code"]) for e in errors] == [("limit", code)], (path, limit, errors)
        assert client.get(url, query_string={**required, "limit": str(maximum)}, headers=headers).status_code == 200, (
            path
        )


def _walk(client: Any, url: str, headers: dict[str, str], items: str, limit: int = 1) -> list[Any]:
    """Every item of a list, ``limit`` at a time, following ``next_cursor`` to its null."""
    seen: list[Any] = []
    cursor = None
    for _ in range(60):
        query = dict(parse_qsl(urlsplit(url).query), limit=str(limit), **({"cursor": cursor} if cursor else {}))
        answer = client.get(urlsplit(url).path + "?" + urlencode(query), headers=headers)
        assert answer.status_code == 200, answer.get_json()
        page = answer.get_json()
        assert len(_items(page, items)) <= limit
        seen.extend(_items(page, items))
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("next_cursor never came back null")


@pytest.fixture
def crowded(app, tenants) -> dict[str, Any]:
    """Organization A with several rows in a few lists, many of them tied on the list's sort key
    (so a cursor must tell them apart by id)."""
    from datetime import timedelta

    from clinic_app.appointments.models import Appointment
    from clinic_app.core.time import utcnow
    from clinic_app.figures import service as figures
    from clinic_app.patients import service as patients
    from clinic_app.symptoms import service as symptoms
    from clinic_app.sync.models import SyncRun

    with app.app_context():
        people = []
        for number in range(5):
            record = patients.validate_for(tenants.a.id, {"first_name": f"P{number}", "last_name": "Walker"})
            people.append(patients.create_patient(tenants.a.id, record, actor=Actor()))
        soon = (utcnow() + timedelta(days=2)).replace(microsecond=0)
        for person in people:  # every booking at the same moment
            db.session.add(
                Appointment(
                    organization_id=tenants.a.id,
                    patient_id=person.id,
                    starts_at=soon,
                    ends_at=soon + timedelta(minutes=30),
                )
            )
        moment = utcnow().replace(microsecond=0)
        for _ in range(4):  # runs created in the same instant
            db.session.add(
                SyncRun(organization_id=tenants.a.id, mode="comprehensive", status="completed", created_at=moment)
            )
        db.session.flush()
        figures.recompute(tenants.a.id, now=utcnow())
        symptoms.sync_master_list()  # the symptom catalogue, as the migration loads it
        db.session.commit()
        return {"organization_id": tenants.a.id, "patients": sorted(p.id for p in people)}


@pytest.mark.parametrize(
    ("path", "items", "key"),
    [
        ("/api/v1/patients/list/", "patients", "id"),
        ("/api/v1/appointments/upcoming", "appointments", "id"),
        ("/api/v1/appointments/{organization_id}/upcoming", "appointments", "id"),
        ("/api/v1/sync/history/{organization_id}", "recent_syncs", "sync_id"),
        ("/api/v1/patients/{organization_id}/patients", "patients", "id"),
        ("/api/v1/patients/{organization_id}/patients/with-appointments", "patients", "id"),
        ("/api/v1/admin/active-patients/{organization_id}", "active_patients", "id"),
        ("/api/v1/intake/symptoms?q=pain", "symptoms", "id"),
        ("/api/v1/dashboard/{organization_id}/activity", "recent_activity", "id"),
    ],
)
def test_a_list_walked_one_at_a_time_shows_everything_once(app, client, tenants, crowded, path, items, key):
    headers = {"Authorization": f"Bearer {access_token_for(app, tenants.user('owner'))}"}
    url = _fill(path, crowded)
    query = dict(parse_qsl(urlsplit(url).query))
    whole = client.get(urlsplit(url).path, query_string={**query, "limit": 100}, headers=headers).get_json()
    assert whole["next_cursor"] is None
    walked = [item[key] for item in _walk(client, url, headers, items)]
    assert len(walked) == len(set(walked)) == len(whole[items]) >= 4
    assert walked == [item[key] for item in whole[items]]  # the same order as one big page


def test_a_cursor_only_works_on_its_own_list(app, client, tenants, crowded):
    headers = {"Authorization": f"Bearer {access_token_for(app, tenants.user('owner'))}"}
    org = crowded["organization_id"]
    cursor = client.get("/api/v1/patients/list/?limit=1", headers=headers).get_json()["next_cursor"]
    assert cursor
    for other in (f"/api/v1/sync/history/{org}", "/api/v1/appointments/upcoming", f"/api/v1/patients/{org}/patients"):
        errors = _errors(client.get(other, query_string={"cursor": cursor}, headers=headers))
        assert [(e["field"], e["code"]) for e in errors] == [("cursor", "INVALID_CURSOR")], other
    # Nor in another organization: its anchor is a record the other organization cannot see.
    outsider = {"Authorization": f"Bearer {access_token_for(app, tenants.outsider)}"}
    errors = _errors(client.get("/api/v1/patients/list/", query_string={"cursor": cursor}, headers=outsider))
    assert [(e["field"], e["code"]) for e in errors] == [("cursor", "INVALID_CURSOR")]


def test_offset_stays_for_the_seed_lists_but_not_beside_a_cursor(app, client, tenants, crowded):
    headers = {"Authorization": f"Bearer {access_token_for(app, tenants.user('owner'))}"}
    url = f"/api/v1/patients/{crowded['organization_id']}/patients"
    by_offset = client.get(url, query_string={"limit": 2, "offset": 2}, headers=headers).get_json()
    first = client.get(url, query_string={"limit": 2}, headers=headers).get_json()
    by_cursor = client.get(url, query_string={"limit": 2, "cursor": first["next_cursor"]}, headers=headers).get_json()
    assert [p["id"] for p in by_offset["patients"]] == [p["id"] for p in by_cursor["patients"]]
    assert by_offset["offset"] == by_cursor["offset"] == 2
    both = client.get(url, query_string={"cursor": first["next_cursor"], "offset": 1}, headers=headers)
    assert [(e["field"], e["code"]) for e in _errors(both)] == [("offset", "CONFLICTING_PARAMETERS")]


def test_every_field_error_carries_a_code():
    from clinic_app.core.errors import FieldError

    assert FieldError("name", "Enter a name.").as_dict() == {
        "field": "name",
        "message": "Enter a name.",
        "code": "INVALID_VALUE",
    }
    assert FieldError("name", "Enter a name.", None).as_dict()["code"] == "INVALID_VALUE"  # type: ignore[arg-type]
    assert FieldError("cursor", "Start again.", "INVALID_CURSOR").as_dict()["code"] == "INVALID_CURSOR"


def test_every_body_that_is_not_an_object_is_a_422_with_coded_fields(app, client, tenants, spec, records):
    """Each operation that takes a JSON body, sent a JSON list instead: the 422 names the body with
    field, message and code like every other."""
    headers = {"Authorization": f"Bearer {access_token_for(app, tenants.user('owner'))}"}
    values = {**records, "default": "x"}
    answered = 0
    for path, method, op in _operations(spec):
        if "requestBody" not in op:
            continue
        url = re.sub(r"{([^}]+)}", lambda m: values.get(m.group(1), "nothing_here"), path)
        response = client.open(url, method=method.upper(), json=["not", "an", "object"], headers=headers)
        if response.status_code in (401, 403, 404, 409, 429):  # not this caller's to use, or no such record
            continue
        errors = _errors(response)
        assert errors, f"{method.upper()} {path}"
        answered += 1
    assert answered > 40


def test_offset_cursors_hold_a_position_and_nothing_else():
    from clinic_app.core.errors import Invalid
    from clinic_app.core.pagination import offset_cursor, offset_from_cursor

    assert offset_from_cursor(offset_cursor(0), maximum=10) == 0
    assert offset_from_cursor(offset_cursor(10), maximum=10) == 10
    for forged in (
        offset_cursor(11),  # past what the list allows
        encode_cursor("o:-1"),
        encode_cursor("o:1e3"),
        encode_cursor("o:٣"),  # a digit, but not an ASCII one
        encode_cursor("o:" + "9" * 30),
        encode_cursor("x:1"),
        "o:1",
        "",
    ):
        with pytest.raises(Invalid) as caught:
            offset_from_cursor(forged, maximum=10)
        assert [e.as_dict()["code"] for e in caught.value.errors] == ["INVALID_CURSOR"], forged
