"""The OpenAPI 3.1 document, built from what ``core.api.api_route`` recorded on each view: the
same pydantic schemas validate the requests and describe them, so the document cannot drift from
the code. ``x-pagination`` on an operation says how a list pages (``core.pagination``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from clinic_app.core.access import policy_for
from clinic_app.core.api import MAX_JSON_DEPTH, Operation, Problem, all_optional

_CONVERTER = re.compile(r"<(?:[a-z_]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def openapi_path(rule: str) -> str:
    return _CONVERTER.sub(r"{\1}", rule)


def build_openapi(app: Flask, *, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for every ``api_route`` in the app's URL map."""
    operations: list[tuple[str, str, str, Operation]] = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        operation: Operation | None = getattr(view, "api_operation", None)
        if operation is None:
            continue
        for method in operation.methods:
            operations.append((openapi_path(rule.rule), method.lower(), rule.endpoint, operation))

    # Request models in their validation form, response models in their serialization form: a
    # model used only one way keeps its plain name (no "-Input"/"-Output" suffix).
    inputs = {(op.body, "validation") for *_, op in operations if op.body is not None}
    inputs |= {(op.query, "validation") for *_, op in operations if op.query is not None}
    inputs |= {(op.response, "serialization") for *_, op in operations if op.response is not None}
    inputs.add((Problem, "serialization"))
    keyed, definitions = models_json_schema(
        sorted(inputs, key=lambda item: (item[0].__name__, item[1])), ref_template="#/components/schemas/{model}"
    )
    components = definitions.get("$defs", {})

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return keyed[(model, mode)]

    paths: dict[str, dict[str, Any]] = {}
    for path, method, endpoint, operation in sorted(operations):
        policy = policy_for(app, endpoint)
        entry: dict[str, Any] = {
            "operationId": endpoint.replace(".", "_"),
            "summary": operation.summary,
            "tags": list(operation.tags),
            "parameters": [],
            "responses": {},
        }
        if operation.description:
            entry["description"] = operation.description
        for name in _CONVERTER.findall(next(r.rule for r in app.url_map.iter_rules(endpoint))):
            entry["parameters"].append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
        if operation.query is not None:
            query_schema = _component(components, ref(operation.query, "validation"))
            required = set(query_schema.get("required", []))
            for name, prop in query_schema.get("properties", {}).items():
                entry["parameters"].append(
                    {
                        "name": name,
                        "in": "query",
                        "required": name in required,
                        "schema": prop,
                        **({"description": prop["description"]} if "description" in prop else {}),
                    }
                )
        if operation.body is not None:
            entry["requestBody"] = {
                "required": not all_optional(operation.body),
                "content": {"application/json": {"schema": ref(operation.body, "validation")}},
            }
        success: dict[str, Any] = {"description": "Success"}
        if operation.response is not None:
            success["content"] = {"application/json": {"schema": ref(operation.response, "serialization")}}
        entry["responses"][str(operation.status)] = success
        problem = {"application/problem+json": {"schema": keyed[(Problem, "serialization")]}}
        errors = {"429": "Rate limit exceeded"}
        if policy is not None and not policy.public:
            entry["security"] = [{"bearerAuth": []}]
            entry["x-permission"] = policy.permission
            errors.update({"401": "Not authenticated", "404": "Not found, or not in your organization"})
        else:
            entry["security"] = []
        # Any query parameter holding a control character is refused with 422 (core.http), so
        # every operation may answer it.
        errors["422"] = "Validation error (each field listed)"
        if operation.body is not None:
            errors.update(
                {
                    "400": f"Malformed JSON, or nested more than {MAX_JSON_DEPTH} levels deep",
                    "413": "Body larger than the server accepts",
                    "415": "Body is not application/json",
                }
            )
        pagination = _pagination(operation, components, ref)
        if pagination is not None:
            entry["x-pagination"] = pagination
        errors.update({str(k): v for k, v in operation.extra_statuses.items()})
        for code, description in sorted(errors.items()):
            entry["responses"].setdefault(code, {"description": description, "content": problem})
        paths.setdefault(path, {})[method] = entry

    for schema in components.values():
        _tidy(schema)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "JSON API of the clinic app. Errors are application/problem+json (RFC 9457); a 422 "
            "lists each field in `errors[]` as `{field, message, code}`. Lists take `limit` and `cursor` and "
            "answer `next_cursor` (null on the last page); each list operation says how it pages in "
            "`x-pagination`.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An organization API token or an access token from POST /api/v1/auth/login.",
                }
            },
        },
    }


def _component(components: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    return components[reference["$ref"].rsplit("/", 1)[-1]]


def _list_members(schema: dict[str, Any]) -> list[str]:
    """The members of an object schema that hold a list (or a list or null)."""
    found = []
    for name, prop in schema.get("properties", {}).items():
        kinds = [prop, *prop.get("anyOf", [])]
        if any(kind.get("type") == "array" for kind in kinds):
            found.append(name)
    return found


def _pagination(
    operation: Operation, components: dict[str, Any], ref: Callable[[type[BaseModel], str], dict[str, Any]]
) -> dict[str, Any] | None:
    """The ``x-pagination`` extension of a list operation (``core.pagination``'s convention)."""
    if operation.unpaged is not None:
        return {"style": "none", "reason": operation.unpaged}
    if operation.paginated is None:
        return None
    answer: dict[str, Any] = {"style": operation.paginated}
    if operation.response is not None:
        members = _list_members(_component(components, ref(operation.response, "serialization")))
        answer["items"] = operation.items or (members[0] if len(members) == 1 else None)
    if operation.query is not None:
        limit = _component(components, ref(operation.query, "validation")).get("properties", {}).get("limit", {})
        answer["limit"] = {"default": limit.get("default"), "maximum": limit.get("maximum")}
    answer["cursor"] = "cursor"
    answer["next_cursor"] = "next_cursor"
    if operation.offset_reason is not None:
        answer["offset"] = "offset"
        answer["reason"] = operation.offset_reason
    return answer


def _allows_null(schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    if kinds == "null" or (isinstance(kinds, list) and "null" in kinds):
        return True
    return any(_allows_null(branch) for branch in schema.get("anyOf", []) + schema.get("oneOf", []))


def _tidy(schema: Any) -> None:
    """Make pydantic's schemas say what the API accepts, so the document validates as OpenAPI 3.1:
    an ``enum`` beside ``anyOf [..., null]`` (a field that may be left out or null) moves into the
    non-null branches, and a ``null`` default of a field whose schema refuses null (one that is
    optional only to give a better message when missing) is left out."""
    if isinstance(schema, list):
        for item in schema:
            _tidy(item)
        return
    if not isinstance(schema, dict):
        return
    branches = schema.get("anyOf")
    if "enum" in schema and isinstance(branches, list) and None not in schema["enum"] and _allows_null(schema):
        values = schema.pop("enum")
        for branch in branches:
            if not _allows_null(branch):
                branch["enum"] = values
    if "default" in schema and schema["default"] is None and not _allows_null(schema) and "$ref" not in schema:
        del schema["default"]
    for value in schema.values():
        _tidy(value)
