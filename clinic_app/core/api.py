"""JSON endpoints: one decorator validates input with pydantic, serialises the answer, and records
the operation so ``/api/v1/openapi.json`` is generated from the same schemas (nothing to keep in
sync by hand: a route added with ``api_route`` is in the document ``core.openapi`` builds).

The API's two conventions, which ``tests/test_api_conventions.py`` checks on every registered route:

* Lists page one way: ``limit`` + ``cursor`` in, the items + ``next_cursor`` out, declared with
  ``api_route(..., paginated="cursor")`` (the whole rule, and the seed exceptions, are in the
  docstring of ``core.pagination``). A collection returned whole declares ``unpaged="why"``.
* Every 422 is problem+json whose ``errors[]`` items each have ``field``, ``message`` and a stable
  UPPER_SNAKE ``code`` (``ErrorItem``; raise ``Invalid(errors=[FieldError(field, message, CODE)])``).
  Pydantic's checks give their own codes (``MISSING``, ``STRING_TOO_LONG``, ``LESS_THAN_EQUAL`` ...);
  a hand-written check names its own or gets ``INVALID_VALUE``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from typing import Annotated, Any

from flask import Blueprint, Response, jsonify, request
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, ValidationError
from pydantic_core import PydanticCustomError, PydanticSerializationError
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from clinic_app.core import text
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


class ErrorItem(Schema):
    """One field's problem in a 422."""

    field: str = Field(description="The field: a dotted path into the body (`phones.0.number`) or a query parameter")
    message: str = Field(description="What is wrong, for a person")
    code: str = Field(
        pattern="^[A-Z][A-Z0-9_]*$",
        description="What is wrong, for a program: a stable UPPER_SNAKE name (`MISSING`, `INVALID_CURSOR`, "
        "`LESS_THAN_EQUAL` ...; `INVALID_VALUE` when the check has no name of its own)",
    )


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
    errors: list[ErrorItem] | None = Field(default=None, description="Validation errors (422): one item per field")


PAGINATION_STYLES = ("cursor", "offset-seed")


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
    paginated: str | None = None
    items: str | None = None
    unpaged: str | None = None
    offset_reason: str | None = None


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


def all_optional(model: type[BaseModel]) -> bool:
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
    if not request.content_length and not request.get_data(cache=True) and all_optional(model):
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
    paginated: str | None = None,
    items: str | None = None,
    unpaged: str | None = None,
    offset_reason: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a JSON view. The view receives ``body=`` / ``query=`` when declared and returns a
    pydantic model (serialised with ``status``) or a ready Response. ``bracket_indices`` names list
    items in 422 errors as ``metrics[3].field`` instead of ``metrics.3.field``.

    A list says how it pages (``core.pagination``): ``paginated="cursor"``, or ``"offset-seed"``
    for a list that keeps ``offset`` beside the cursor, with ``offset_reason`` saying why; ``items``
    names the member holding the page (a dotted path inside a seed's envelope) when the response
    has more than one list. A collection returned whole gives ``unpaged``: why it needs no paging."""
    if paginated is not None and paginated not in PAGINATION_STYLES:
        raise ValueError(f"paginated must be one of {PAGINATION_STYLES}, not {paginated!r}")
    if paginated is not None and unpaged is not None:
        raise ValueError("A route is either paginated or unpaged.")
    if (paginated == "offset-seed") != (offset_reason is not None):
        raise ValueError("A list that keeps offset says why (offset_reason), and only such a list does.")

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
        paginated=paginated,
        items=items,
        unpaged=unpaged,
        offset_reason=offset_reason,
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
                return model_response(result, status)
            return result

        endpoint.api_operation = operation  # type: ignore[attr-defined]
        blueprint.add_url_rule(rule, view.__name__, endpoint, methods=list(methods))
        return endpoint

    return decorate


def model_response(model: BaseModel, status: int = 200) -> Response:
    """The model as a JSON answer, serialised by pydantic in one step (no intermediate dict for
    the JSON encoder to walk again): the same values and field order ``jsonify`` of its
    ``model_dump(mode="json")`` gives, in compact UTF-8. Text UTF-8 cannot carry (a lone
    surrogate some other system stored) goes through ``jsonify``, which escapes it."""
    try:
        return Response(model.model_dump_json(), status=status, mimetype="application/json")
    except PydanticSerializationError:
        answer = jsonify(model.model_dump(mode="json"))
        answer.status_code = status
        return answer


def json_response(payload: dict[str, Any], status: int = 200) -> Response:
    answer = jsonify(payload)
    answer.status_code = status
    return answer
