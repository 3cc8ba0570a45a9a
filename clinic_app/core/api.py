"""JSON endpoints: one decorator validates input with pydantic, serialises the answer, and records
the operation so ``/api/v1/openapi.json`` is generated from the same schemas (nothing to keep in
sync by hand: a route added with ``api_route`` is in the document)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from typing import Annotated, Any

from flask import Blueprint, Flask, Response, jsonify, request
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, PlainSerializer, ValidationError
from pydantic.json_schema import models_json_schema
from pydantic_core import PydanticCustomError
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from clinic_app.core import text
from clinic_app.core.access import policy_for
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.time import isoformat, moment_in_range, out_of_range

# Timestamps in the JSON contract: ISO-8601, UTC, milliseconds, "Z".
Timestamp = Annotated[datetime, PlainSerializer(isoformat, return_type=str, when_used="json")]

# A JSON body deeper than this is refused before anything walks it (no legitimate body of this
# API comes close; the parser and every recursive walk after it stay far from Python's limit).
MAX_JSON_DEPTH = 32
TOO_DEEP = f"The request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)."


def _in_range(moment: datetime) -> datetime:
    if not moment_in_range(moment):
        raise PydanticCustomError("datetime_out_of_range", out_of_range("a date and time"))
    return moment


# A time a client sends: with its offset, and within core.time's accepted range (a 422 naming
# the field otherwise).
BoundedDateTime = Annotated[AwareDatetime, AfterValidator(_in_range)]


class Schema(BaseModel):
    """Base of request and response schemas. Unknown request fields (such as an organization id
    in a body) are ignored, never trusted."""

    model_config = ConfigDict(extra="ignore", from_attributes=True)


class Problem(Schema):
    """RFC 9457 problem details, with the contract's ``error``/``detail``/``timestamp``/``path``."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    error: str
    timestamp: str
    path: str
    request_id: str | None = None
    errors: list[dict[str, str]] | None = None


@dataclass
class Operation:
    summary: str
    methods: tuple[str, ...]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    tags: tuple[str, ...] = ()
    description: str | None = None
    extra_statuses: dict[int, str] = field(default_factory=dict)


def field_path(parts: tuple[Any, ...] | list[Any], *, brackets: bool = False) -> str:
    """A field's location as text: ``metrics.3.heart_rate``, or with ``brackets``
    ``metrics[3].heart_rate`` (the form JSON-path-minded clients such as seed 004's expect)."""
    path = ""
    for part in parts:
        if brackets and isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _field_errors(error: ValidationError, prefix: str = "", *, brackets: bool = False) -> list[FieldError]:
    errors = []
    for item in error.errors(include_url=False):
        location = field_path(item["loc"], brackets=brackets) or "body"
        errors.append(FieldError(prefix + location, item["msg"], item["type"].upper()))
    return errors


def _all_optional(model: type[BaseModel]) -> bool:
    return not any(field.is_required() for field in model.model_fields.values())


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether parsed JSON nests containers more than ``limit`` deep (walked without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_body(model: type[BaseModel], *, brackets: bool = False) -> BaseModel:
    """The JSON body validated against ``model``: 415 if not JSON, 400 if malformed or nested
    more than ``MAX_JSON_DEPTH`` deep, 422 per field. A request with no body at all stands for
    ``{}`` when the model requires nothing (``POST .../stop`` with nothing to add)."""
    if not request.content_length and not request.get_data(cache=True) and _all_optional(model):
        try:
            return model.model_validate({})
        except ValidationError as error:  # a field with a default may still refuse to be left out
            raise Invalid(errors=_field_errors(error, brackets=brackets)) from None
    if not request.is_json:
        raise UnsupportedMediaType("Send the request body as application/json.")
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # the parser gives up on a body nested hundreds of levels deep
        raise BadRequest(TOO_DEEP) from None
    if data is None:
        raise BadRequest("The request body is not valid JSON.")
    if isinstance(data, dict | list) and _deeper_than(data, MAX_JSON_DEPTH):
        raise BadRequest(TOO_DEEP)
    where = text.first_unusable(data)
    if where is not None:
        raise Invalid(
            errors=[FieldError(field_path(where, brackets=brackets) or "body", text.MESSAGE, "UNUSABLE_TEXT")]
        )
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise Invalid(errors=_field_errors(error, brackets=brackets)) from None


def parse_query(model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as error:
        raise Invalid(errors=_field_errors(error)) from None


def api_route(
    blueprint: Blueprint,
    rule: str,
    *,
    summary: str,
    methods: tuple[str, ...] = ("GET",),
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    tags: tuple[str, ...] = (),
    description: str | None = None,
    extra_statuses: dict[int, str] | None = None,
    bracket_indices: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a JSON view. The view receives ``body=`` / ``query=`` when declared and returns a
    pydantic model (serialised with ``status``) or a ready Response. ``bracket_indices`` names list
    items in 422 errors as ``metrics[3].field`` instead of ``metrics.3.field``."""

    operation = Operation(
        summary=summary,
        methods=methods,
        body=body,
        query=query,
        response=response,
        status=status,
        tags=tags or (blueprint.name,),
        description=description,
        extra_statuses=extra_statuses or {},
    )

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def endpoint(**kwargs: Any) -> Any:
            if body is not None:
                kwargs["body"] = parse_body(body, brackets=bracket_indices)
            if query is not None:
                kwargs["query"] = parse_query(query)
            result = view(**kwargs)
            if isinstance(result, BaseModel):
                answer = jsonify(result.model_dump(mode="json"))
                answer.status_code = status
                return answer
            return result

        endpoint.api_operation = operation  # type: ignore[attr-defined]
        blueprint.add_url_rule(rule, view.__name__, endpoint, methods=list(methods))
        return endpoint

    return decorate


def json_response(payload: dict[str, Any], status: int = 200) -> Response:
    answer = jsonify(payload)
    answer.status_code = status
    return answer


# --- OpenAPI ----------------------------------------------------------------------------------

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
            query_schema = operation.query.model_json_schema()
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
                "required": not _all_optional(operation.body),
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
        errors.update({str(k): v for k, v in operation.extra_statuses.items()})
        for code, description in sorted(errors.items()):
            entry["responses"].setdefault(code, {"description": description, "content": problem})
        paths.setdefault(path, {})[method] = entry

    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "JSON API of the clinic app. Errors are application/problem+json (RFC 9457).",
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
