"""What every FHIR resource route shares: ids, ``application/fhir+json`` answers, Bundles with
paging links, search-parameter parsing (``_count``, date prefixes), OperationOutcome errors, the
bearer-only rule and the audit of each patient's data read.

FHIR ids allow ``[A-Za-z0-9.-]`` only, so the app's ids (``pat_2xwH...``) appear with a hyphen
(``pat-2xwH...``); the random part never holds either character, so the mapping is exact."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

from clinic_app.auth.identity import current_identity
from clinic_app.core import audit
from clinic_app.core.errors import DomainError, FieldError, Invalid, Unauthorized
from clinic_app.core.pagination import decode_cursor, encode_cursor
from clinic_app.core.time import isoformat
from clinic_app.fhir import bp

FHIR_JSON = "application/fhir+json"
DEFAULT_COUNT, MAX_COUNT = 20, 100
_ID = re.compile(r"[a-z]{3}-[A-Za-z0-9]{10,36}")
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def fhir_id(internal: str) -> str:
    return internal.replace("_", "-", 1)


def internal_id(resource_id: str) -> str | None:
    """The app's id for a FHIR id, or None when it cannot name anything of ours."""
    return resource_id.replace("-", "_", 1) if _ID.fullmatch(resource_id or "") else None


def reference(resource_type: str, internal: str | None) -> dict[str, str] | None:
    return {"reference": f"{resource_type}/{fhir_id(internal)}"} if internal else None


def instant(value: datetime | None) -> str | None:
    return isoformat(value)


def base_url() -> str:
    return current_app.config["PUBLIC_URL"] + bp.url_prefix


def answer(resource: dict[str, Any], status: int = 200) -> Response:
    body = json.dumps({key: value for key, value in resource.items() if value not in (None, [], {})})
    return Response(body, status=status, mimetype=FHIR_JSON)


def outcome(status: int, code: str, diagnostics: str) -> Response:
    severity = "fatal" if status >= 500 else "error"
    resource = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }
    return answer(resource, status)


_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    410: "deleted",
    422: "invalid",
}


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> Response:
    detail = error.detail
    if isinstance(error, Invalid) and error.errors:
        detail = "; ".join(f"{item.field}: {item.message}" for item in error.errors)
    return outcome(error.status, _CODES.get(error.status, "processing"), detail)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 429 and error.get_response().headers.get("Retry-After"):
        answered = outcome(status, "throttled", error.description or "Too many requests.")
        answered.headers["Retry-After"] = error.get_response().headers["Retry-After"]
        return answered
    return outcome(status, _CODES.get(status, "processing"), error.description or "Request failed.")


@bp.before_request
def _bearer_only() -> None:
    """FHIR clients authenticate with a bearer token (an API token or an access token); a
    browser session is not one (the CapabilityStatement is public)."""
    identity = current_identity()
    if identity is not None and identity.kind == "session":
        raise Unauthorized("The FHIR API takes a bearer token (an API token or an access token), not a session.")


def actor() -> audit.Actor:
    identity = current_identity()
    return identity.actor if identity is not None else audit.Actor()


def audit_read(organization_id: str, resource_type: str, internal: str, patient_id: str | None, how: str) -> None:
    """One audit event per resource handed out that holds a patient's data."""
    audit.record(
        "fhir.read",
        organization_id=organization_id,
        actor=actor(),
        target_type=resource_type,
        target_id=internal,
        patient_id=patient_id,
        details={"interaction": how},
    )


# --- search parameters ----------------------------------------------------------------------------

KNOWN_CONTROLS = {"_count", "_cursor", "_format"}


def params(allowed: Iterable[str]) -> dict[str, str]:
    """The search's parameters; an unknown one is a 400 (FHIR's strict handling)."""
    allowed = set(allowed) | KNOWN_CONTROLS
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise Invalid(errors=[_problem(unknown[0], "This search parameter is not supported here.")])
    values = {}
    for name in request.args:
        every = request.args.getlist(name)
        if len(every) > 1 and name != "date":
            raise Invalid(errors=[_problem(name, "Give this parameter once.")])
        values[name] = every[0]
    return values


def _problem(field: str, message: str) -> FieldError:
    return FieldError(field, message, "INVALID_SEARCH")


def count() -> int:
    raw = request.args.get("_count", str(DEFAULT_COUNT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_COUNT:
        raise Invalid(errors=[_problem("_count", f"Give _count as a whole number from 1 to {MAX_COUNT}.")])
    return int(raw)


def cursor_text() -> str | None:
    raw = request.args.get("_cursor")
    if raw is None:
        return None
    try:
        return decode_cursor(raw)
    except ValueError:
        raise Invalid(errors=[_problem("_cursor", "This cursor is not valid; start the search again.")]) from None


@dataclass(frozen=True)
class DateRange:
    """[start, end) in UTC, as a date search parameter names it."""

    start: datetime | None
    end: datetime | None


def date_range(name: str, values: list[str]) -> DateRange:
    """``date=ge2025-01-01&date=lt2025-02-01`` (or ``birthdate=1980-02-03``) as one range."""
    start: datetime | None = None
    end: datetime | None = None
    for raw in values:
        prefix, text = (raw[:2], raw[2:]) if raw[:2] in _PREFIXES else ("eq", raw)
        try:
            first, after = _bounds(text)
        except ValueError:
            raise Invalid(errors=[_problem(name, "Use a date as YYYY, YYYY-MM, YYYY-MM-DD or an instant.")]) from None
        if prefix == "eq":
            start, end = _later(start, first), _earlier(end, after)
        elif prefix in ("ge", "sa"):
            start = _later(start, first if prefix == "ge" else after)
        elif prefix == "gt":
            start = _later(start, after)
        elif prefix in ("lt", "eb"):
            end = _earlier(end, first)
        elif prefix == "le":
            end = _earlier(end, after)
        else:
            raise Invalid(errors=[_problem(name, f"The prefix {prefix!r} is not supported.")])
    return DateRange(start, end)


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _earlier(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


def _bounds(text: str) -> tuple[datetime, datetime]:
    """The first moment a FHIR date names and the first moment after it."""
    if re.fullmatch(r"\d{4}", text):
        year = int(text)
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    if re.fullmatch(r"\d{4}-\d{2}", text):
        year, month = map(int, text.split("-"))
        first = datetime(year, month, 1, tzinfo=UTC)
        return first, (first + timedelta(days=32)).replace(day=1)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = date.fromisoformat(text)
        first = datetime.combine(day, time.min, tzinfo=UTC)
        return first, first + timedelta(days=1)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(text)
    return moment, moment + timedelta(seconds=1)


# --- Bundles --------------------------------------------------------------------------------------


def searchset(
    resource_type: str, entries: list[dict[str, Any]], next_position: str | None, *, total: int | None = None
) -> Response:
    """A searchset Bundle with ``self`` and, while more remain, ``next`` links."""
    url = f"{base_url()}/{resource_type}"
    kept = [(name, value) for name, value in request.args.items(multi=True) if name != "_cursor"]
    links = [{"relation": "self", "url": f"{url}?{urlencode(list(request.args.items(multi=True)))}".rstrip("?")}]
    if next_position is not None:
        links.append(
            {"relation": "next", "url": f"{url}?{urlencode([*kept, ('_cursor', encode_cursor(next_position))])}"}
        )
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {"fullUrl": f"{url}/{entry['id']}", "resource": entry, "search": {"mode": "match"}} for entry in entries
        ],
    }
    return answer(bundle)


def public_url() -> str:
    return current_app.config["PUBLIC_URL"]
