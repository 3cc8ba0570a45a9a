"""The sandbox's HTTP face: Cliniko's public API under ``/<shard>/v1/`` plus ``/_sandbox/`` controls.

A separate Flask app (no database, no clinic-app blueprints). Every API request goes through one
gate in a fixed order, as the real service behaves: User-Agent required (403), the right shard and
key (bare 401), the rate limit (429), then the injected faults (slow, dropped, 5xx).
"""

from __future__ import annotations

import json
import operator
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, g, request

from devtools.sandbox import RESOURCES, SHARDS, SandboxClinic, UnknownRecord
from devtools.sandbox.data import to_ms
from devtools.sandbox.faults import Faults, drop_connection
from devtools.sandbox.writes import register_writes

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
_TIMES = ("created_at", "updated_at")
TIME_FIELDS = {
    "patients": {*_TIMES, "archived_at", "deleted_at"},
    "individual_appointments": {*_TIMES, "starts_at", "ends_at", "cancelled_at", "archived_at", "deleted_at"},
    "practitioners": set(_TIMES),
    "appointment_types": {*_TIMES, "archived_at"},
    "businesses": {*_TIMES, "archived_at"},
}
# Lists leave these out unless a filter names the field (``archived_at:*`` and the like).
HIDDEN_UNLESS_ASKED = {
    "patients": ("archived_at", "deleted_at"),
    "individual_appointments": ("archived_at", "cancelled_at", "deleted_at"),
    "practitioners": (),
    "appointment_types": ("archived_at",),
    "businesses": ("archived_at",),
}
ID_FIELDS = {"id": "id", "patient_id": "patient.id", "practitioner_id": "practitioner.id",
             "appointment_type_id": "appointment_type.id", "business_id": "practitioner.business.id"}  # fmt: skip
COMPARISONS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_sleep = time.sleep  # a seam, so a test can see the slow fault without waiting for it
MUTATIONS = ("change_patient", "archive_patient", "delete_patient", "add_patient", "change_appointment",
             "cancel_appointment", "mark_did_not_arrive", "archive_appointment", "add_appointment")  # fmt: skip


class BadQuery(ValueError):
    """A list request Cliniko would refuse with 400."""


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # ">", ">=", "<", "<=", "?", "!?", "*" or "="
    value: int | None


@dataclass(frozen=True)
class ListQuery:
    """A parsed list request: filters, order, and (for practitioners) active or inactive."""

    resource: str
    conditions: tuple[Condition, ...]
    sort_field: str = "id"
    descending: bool = False
    active: bool | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.resource, self.conditions, self.sort_field, self.descending, self.active)

    @property
    def depends_on(self) -> frozenset[str]:
        """Fields whose change can alter the result (the clinic forgets the cached result then)."""
        named = {condition.field for condition in self.conditions}
        return frozenset({*named, *HIDDEN_UNLESS_ASKED[self.resource], self.sort_field, "active"})

    def run(self, rows: list[Any]) -> list[Any]:
        """Filter with one pass per condition (list comprehensions are the fast path in Python)."""
        named = {condition.field for condition in self.conditions}
        for field in HIDDEN_UNLESS_ASKED[self.resource]:
            if field not in named:
                rows = [row for row in rows if getattr(row, field) is None]
        if self.active is not None:
            rows = [row for row in rows if row.active is self.active]
        for condition in self.conditions:
            rows = _apply_condition(rows, condition)
        if self.sort_field == "id":
            return rows[::-1] if self.descending else rows
        get = operator.attrgetter(self.sort_field)
        return sorted(rows, key=lambda row: (get(row), row.id), reverse=self.descending)


def _apply_condition(rows: list[Any], condition: Condition) -> list[Any]:
    get = operator.attrgetter(ID_FIELDS.get(condition.field, condition.field))
    value = condition.value
    if condition.op == "*":
        return rows
    if condition.op == "?":
        return [row for row in rows if get(row) is not None]
    if condition.op == "!?":
        return [row for row in rows if get(row) is None]
    if condition.op == "=":
        return [row for row in rows if get(row) == value]
    compare = COMPARISONS[condition.op]
    return [row for row in rows if (found := get(row)) is not None and compare(found, value)]


def parse_condition(resource: str, text: str) -> Condition:
    """``field:op value`` as Cliniko writes filters, e.g. ``updated_at:>2025-06-01T00:00:00Z``."""
    field, colon, rest = text.partition(":")
    if not colon:
        raise BadQuery(f"filter {text!r} is not of the form field:operator value")
    if field in TIME_FIELDS[resource]:
        for op in (">=", "<=", "!?", ">", "<", "?", "*"):
            if rest.startswith(op):
                value_text = rest[len(op) :]
                if op in ("?", "!?", "*"):
                    if value_text:
                        raise BadQuery(f"filter {text!r}: {op!r} takes no value")
                    if op == "*" and field not in HIDDEN_UNLESS_ASKED[resource]:
                        hidden = ", ".join(HIDDEN_UNLESS_ASKED[resource]) or "no field"
                        raise BadQuery(f"filter {text!r}: '*' applies only to {hidden} for {resource}")
                    return Condition(field, op, None)
                try:
                    return Condition(field, op, to_ms(value_text))
                except ValueError:
                    raise BadQuery(f"filter {text!r}: {value_text!r} is not an ISO-8601 date-time") from None
        raise BadQuery(f"filter {text!r}: date-time fields take >, >=, <, <=, ? or !? (there is no =)")
    if field == "old_reference_id" and resource == "patients" and rest.startswith("=") and rest[1:]:
        return Condition(field, "=", rest[1:])  # type: ignore[arg-type]  # the one text field filtered by =
    if field in ID_FIELDS and (field == "id" or resource == "individual_appointments"):
        if rest.startswith("=") and rest[1:].isdigit():
            return Condition(field, "=", int(rest[1:]))
        raise BadQuery(f"filter {text!r}: id fields take =<digits>")
    raise BadQuery(f"filter {text!r}: cannot filter {resource} by {field!r}")


def parse_query(resource: str, args: Any, active: bool | None) -> ListQuery:
    conditions = tuple(parse_condition(resource, text) for text in args.getlist("q[]"))
    sort = args.get("sort", "id")
    field, _, direction = sort.partition(":")
    allowed = {"id", *_TIMES, *(("starts_at",) if resource == "individual_appointments" else ())}
    if field not in allowed or direction not in ("", "asc", "desc"):
        raise BadQuery(f"cannot sort {resource} by {sort!r}; use one of {', '.join(sorted(allowed))}[:desc]")
    return ListQuery(resource, conditions, field, direction == "desc", active)


def parse_paging(args: Any) -> tuple[int, int]:
    """``page`` is 1-based; ``per_page`` defaults to 50 and larger values than 100 are clamped."""
    try:
        page = int(args.get("page", 1))
        per_page = int(args.get("per_page", DEFAULT_PER_PAGE))
    except ValueError:
        raise BadQuery("page and per_page must be whole numbers") from None
    if page < 1 or per_page < 1:
        raise BadQuery("page and per_page start at 1")
    return page, min(per_page, MAX_PER_PAGE)


# Built once: skipping the circular-reference check makes a 100-record page noticeably cheaper.
_ENCODER = json.JSONEncoder(check_circular=False, separators=(",", ":"))


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = _ENCODER.encode(body)
    return Response(text, status=status, headers=headers, mimetype="application/json")


def message(text: str, status: int) -> Response:
    return json_response({"message": text}, status)


def _page_url(page: int) -> str:
    """This request's URL with another page number; every other parameter kept."""
    params = [(key, value) for key, value in request.args.items(multi=True) if key != "page"]
    return f"{request.base_url}?{urlencode([*params, ('page', str(page))])}"


def _links(page: int, per_page: int, total: int) -> dict[str, str]:
    links = {"self": request.url}
    if page * per_page < total:
        links["next"] = _page_url(page + 1)
    if page > 1:
        links["previous"] = _page_url(min(page - 1, max(1, -(-total // per_page))))
    return links


def create_sandbox_app(clinic: SandboxClinic) -> Flask:
    """A Flask app serving ``clinic`` as Cliniko's API (see docs/cliniko-sandbox.md)."""
    app = Flask("devtools.sandbox")
    app.extensions["cliniko_sandbox"] = clinic

    def key_accepted() -> bool:
        auth = request.authorization
        return (
            auth is not None
            and auth.type == "basic"
            and secrets.compare_digest((auth.username or "").encode(), clinic.api_key.encode())
            and not auth.password
        )

    @app.before_request
    def gate() -> Response | None:
        """Cliniko's checks, then the injected faults, for every API request."""
        if request.path.startswith("/_sandbox/"):
            return None if key_accepted() else Response(status=401)
        shard = (request.view_args or {}).get("shard")
        if shard is None:
            return None
        if not request.headers.get("User-Agent", "").strip():
            return message("A User-Agent header is required, e.g. 'Vendor Name (contact@email)'.", 403)
        if shard not in SHARDS:
            return message(f"No such shard: {shard}.", 404)
        if shard != clinic.shard or not key_accepted():
            return Response(status=401)
        return _inject_faults(clinic)

    @app.after_request
    def count(response: Response) -> Response:
        if (request.view_args or {}).get("shard") is not None:
            decision = g.get("rate_decision")
            if decision is not None:
                response.headers.update(decision.headers())
            clinic.stats.record("dropped" if g.get("dropped") else response.status_code)
        return response

    def api_base(shard: str) -> str:
        return f"{request.root_url.rstrip('/')}/{shard}/v1"

    def list_page(shard: str, resource: str, active: bool | None = None) -> Response:
        try:
            query = parse_query(resource, request.args, active)
            page, per_page = parse_paging(request.args)
        except BadQuery as error:
            return message(str(error), 400)
        base = api_base(shard)
        with clinic.lock:
            matches = clinic.select(resource, query.key, query.depends_on, lambda: query.run(clinic.all(resource)))
            items = [row.render(base) for row in matches[(page - 1) * per_page : page * per_page]]
            total = len(matches)
        response = json_response({resource: items, "total_entries": total, "links": _links(page, per_page, total)})
        if clinic.faults.mutate_between_pages:
            clinic.touch_random(resource, clinic.faults.mutate_between_pages)
        return response

    @app.get("/<shard>/v1/<resource>")
    def list_records(shard: str, resource: str) -> Response:
        if resource not in RESOURCES:
            return message(f"No such resource: {resource}.", 404)
        return list_page(shard, resource, active=True if resource == "practitioners" else None)

    @app.get("/<shard>/v1/practitioners/inactive")
    def list_inactive_practitioners(shard: str) -> Response:
        return list_page(shard, "practitioners", active=False)

    @app.get("/<shard>/v1/<resource>/<record_id>")
    def show_record(shard: str, resource: str, record_id: str) -> Response:
        if resource not in RESOURCES or not record_id.isdigit():
            return message("Not found.", 404)
        with clinic.lock:
            try:
                record = clinic.get(resource, record_id)
            except UnknownRecord:
                return message("Not found.", 404)
            return json_response(record.render(api_base(shard)))

    register_writes(app, clinic, api_base)
    _register_controls(app, clinic)
    return app


def _inject_faults(clinic: SandboxClinic) -> Response | None:
    """Rate limit first (a refused request does no work), then slow, dropped and failed answers."""
    decision = clinic.injector.admit()
    g.rate_decision = decision
    if decision is not None and not decision.allowed:
        wait = max(0, decision.reset_at - int(time.time()))
        body = {"message": f"Rate limit of {decision.limit} requests per minute exceeded; retry in {wait} s."}
        return json_response(body, 429, {"Retry-After": str(wait)})
    delay = clinic.injector.delay()
    if delay:
        _sleep(delay)
    if clinic.injector.should_drop() and drop_connection(request.environ):
        g.dropped = True
        return Response(status=502)  # never reaches the client: its connection is already shut
    status = clinic.injector.failure_status()
    if status is not None:
        return message("The server took too long to answer; try again later.", status)
    return None


def _register_controls(app: Flask, clinic: SandboxClinic) -> None:
    """``/_sandbox/...``: counts, faults, mutations and reset for tests and benchmarks in another process."""

    @app.get("/_sandbox/counts")
    def counts() -> Response:
        return json_response(clinic.counts())

    @app.get("/_sandbox/stats")
    def stats() -> Response:
        return json_response(clinic.stats.to_json())

    @app.route("/_sandbox/faults", methods=["GET", "POST"])
    def faults() -> Response:
        if request.method == "POST":
            try:
                clinic.set_faults(Faults.from_json(_json_object()))
            except (ValueError, TypeError) as error:
                return message(str(error), 400)
        return json_response(clinic.faults.to_json())

    @app.post("/_sandbox/mutate")
    def mutate() -> Response:
        body = _json_object()
        action = body.pop("action", None)
        if action not in MUTATIONS:
            return message(f"action must be one of: {', '.join(MUTATIONS)}", 400)
        args = [body.pop("id")] if "id" in body else []
        try:
            result = getattr(clinic, action)(*args, **body)
        except UnknownRecord as error:
            return message(str(error), 404)
        except (ValueError, TypeError) as error:
            return message(str(error), 400)
        return json_response({"action": action, "id": result if result is not None else str(args[0])})

    @app.post("/_sandbox/reset")
    def reset() -> Response:
        clinic.reset()
        return json_response({"reset": True, "counts": clinic.counts()})


def _json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return dict(body) if isinstance(body, dict) else {}
