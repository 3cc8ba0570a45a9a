"""The API contract fuzzer: requests generated from the app's own OpenAPI document, sent to the app
in-process as a member of clinic A, every answer held to the document and to the tenancy rules.

How a request is made
  schemathesis reads the document from ``/api/v1/openapi.json`` and generates each operation's
  requests: first the boundary cases it derives from the document (missing and out-of-range
  values, wrong types, unsupported methods and media types), then ``FUZZ_EXAMPLES`` generated
  requests, valid and invalid. Wherever a request names a record (a path or query parameter, or a
  request body property, called ``patient_id``, ``report_id``, ``organization_id`` ...), the
  generated value is swapped, by a draw, for the real id of clinic A's record or of clinic B's
  (``tests/fuzz/world.py``) or left as generated: path parameters are a mix of A's ids, B's ids
  and random strings. In the generated requests, a draw may also swap a date, date-time, integer
  or text value for an extreme one (year 9999 or 1, 2**63, a megabyte of text, a lone surrogate).
  Alongside each request Hypothesis picks the credential (A's owner's access token, or an API
  token of A with every scope) and sometimes an ``X-Organization-ID`` header naming A or B.

What fails
  * any 5xx (the report carries the traceback's last lines from the app's error log);
  * a status the document does not list for the operation, a content type it does not list, or a
    body that does not validate against the documented schema (schemathesis' checks), and invalid
    input that is accepted;
  * an error that is not ``application/problem+json`` with the RFC 9457 fields and the right
    ``status``;
  * any of clinic B's ids, names or emails in an answer, unless the request itself carried it;
  * a request naming B's record in its path, or B in ``X-Organization-ID`` for an operation
    inside an organization that does not name one in its path, answered with anything but 404
    (or a refusal of the request's form: 400/401/405/415/422/429);
  * a request body referring to B's record (``patient_id`` ...) that is accepted.
  Every distinct failure is kept (with the smallest request that showed it) rather than stopping
  at the first, so one run lists everything there is to fix.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.overrides import Override
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.fuzz.settings import REPORT, fuzz_settings
from tests.fuzz.world import World

DOCUMENT = "/api/v1/openapi.json"
PROBLEM_JSON = "application/problem+json"
PROBLEM_FIELDS = ("type", "title", "status", "detail", "instance", "error", "timestamp", "path")

# Names under which requests refer to records; each gets A's and B's ids mixed in.
ID_NAMES = frozenset(
    {
        "organization_id",
        "patient_id",
        "appointment_id",
        "appointment_type",
        "appointment_type_id",
        "practitioner_id",
        "consultation_id",
        "session_id",
        "report_id",
        "template_id",
        "job_id",
        "sync_id",
        "doctor_id",
        "endpoint_id",
        "log_id",
        "user_id",
    }
)
# Names that filter by a label rather than name a record: B's label finds nothing in A (a 200
# with an empty list), which is not a confirmation that B's record exists.
LABELS = frozenset({"appointment_type"})
# Whose id a field naming a record gets: mostly A's (to reach past the lookup), sometimes B's,
# sometimes the generated value (None).
SIDES = ("A", "A", "A", "B", None)
CREDENTIALS = ("owner access token", "API token with every scope")
# The X-Organization-ID header sent with a request: mostly none, sometimes A's or B's id.
HEADER_CHOICES = (None, None, None, "A", "B")
# A request that names another clinic's record may be refused for its form, but otherwise only
# "not found" hides whether the record exists.
CROSS_TENANT_STATUSES = frozenset({400, 401, 404, 405, 415, 422, 429})
# Methods the framework answers itself (no body, no data).
FRAMEWORK_METHODS = frozenset({"OPTIONS", "HEAD"})

KEEP = object()
# Extreme values for a field of each kind, swapped in by a draw (KEEP leaves the generated value).
EXTREMES: dict[str, tuple[Any, ...]] = {
    "date-time": (
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999-12:00",
        "0001-01-01T00:00:00+14:00",
    ),
    "date": ("9999-12-31", "0001-01-01", "1900-01-01"),
    "integer": (2**63, -(2**63) - 1, 10**30, 2**31),
    "number": (1e308, -1e308, 5e-324),
    # (Lone surrogates go in test_api_bodies.py: schemathesis cannot validate them.)
    "string": ("a" * 1_000_000, "\x00\x1b[31m\u202e", "😀" * 20_000, " "),
}

CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
]


def schemathesis_config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "generation": {
                "deterministic": True,
                # The harness sets the credential itself.
                "with-security-parameters": False,
            },
            # Do not import and walk the application's modules for constants.
            "analysis": {"constants": {"enabled": False}},
        }
    )


@functools.cache
def served_document() -> dict[str, Any]:
    """The document as a throwaway app serves it (to list the operations at collection time)."""
    import tempfile

    from clinic_app import create_app

    app = create_app({"APP_ENV": "test", "INSTANCE_PATH": tempfile.mkdtemp(), "DATABASE_URL": "sqlite://"})
    with app.app_context():
        from clinic_app.site.views import openapi_document

        return openapi_document()


def operations_of(document: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((method.upper(), path) for path, methods in document["paths"].items() for method in methods)


def field_kinds(document: dict[str, Any], schema: Any, kinds: dict[str, str] | None = None) -> dict[str, str]:
    """Property name -> "date-time", "date", "integer", "number" or "string", for every property
    reachable from ``schema`` (references followed)."""
    kinds = {} if kinds is None else kinds
    components = document.get("components", {}).get("schemas", {})
    pending, seen = [schema], set()
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/components/schemas/"):
            pending.append(components.get(reference.rsplit("/", 1)[-1]))
        for name, prop in (node.get("properties") or {}).items():
            kind = _kind(prop)
            if kind:
                kinds.setdefault(name, kind)
        pending.extend(value for value in node.values() if isinstance(value, (dict, list)))
    return kinds


def _kind(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    if schema.get("format") in ("date-time", "date"):
        return schema["format"]
    if schema.get("type") in ("integer", "number", "string") and "enum" not in schema:
        return schema["type"]
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        kind = _kind(option)
        if kind:
            return kind
    return None


# --- failures ---------------------------------------------------------------------------------


@dataclass
class Finding:
    kind: str
    status: int
    request: str
    answer: str
    detail: str
    size: int
    seen: int = 1

    def render(self, number: int) -> str:
        lines = [f"[{number}] {self.kind} (status {self.status}; seen {self.seen} time(s))"]
        for index, line in enumerate(self.request.splitlines()):
            lines.append(("    request: " if index == 0 else "             ") + line)
        lines.append(f"    answer:  {self.answer}")
        lines += ["    " + line for line in self.detail.splitlines()]
        return "\n".join(lines)


class _ErrorLog(logging.Handler):
    """The app's "unhandled exception" records, with their tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def error_log() -> Iterator[_ErrorLog]:
    handler = _ErrorLog()
    logger = logging.getLogger("clinic_app.errors")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def server_error(log: _ErrorLog) -> tuple[str, str]:
    """Where the logged unhandled exception was raised (its type and the innermost frame in the
    app's code), and the traceback's last lines."""
    record = next((record for record in log.records if record.exc_info), None)
    if record is None or not record.exc_info or record.exc_info[0] is None:
        return "no traceback logged", ""
    kind, error, tb = record.exc_info
    frames = traceback.extract_tb(tb)
    ours = [frame for frame in frames if "/clinic_app/" in frame.filename] or frames
    place = f"{ours[-1].filename.split('/clinic_app/')[-1]}:{ours[-1].lineno} in {ours[-1].name}" if ours else "?"
    lines = "".join(traceback.format_exception(kind, error, tb)).rstrip().splitlines()
    return f"{kind.__name__} at clinic_app/{place}", "\n".join(lines[-8:])


def problem_issue(status: int, content_type: str, content: bytes) -> str | None:
    """What is wrong with an error answer as RFC 9457 problem details (None when it is right)."""
    if status < 400:
        return None
    content_type = content_type.split(";")[0].strip()
    if content_type != PROBLEM_JSON:
        return f"Content-Type is {content_type or 'missing'}, not {PROBLEM_JSON}."
    try:
        body = json.loads(content)
    except ValueError:
        return "The body is not JSON."
    if not isinstance(body, dict):
        return "The body is not a JSON object."
    missing = [name for name in PROBLEM_FIELDS if name not in body]
    if missing:
        return f"Missing problem fields: {', '.join(missing)}."
    if body["status"] != status:
        return f"The body says status {body['status']!r}, the response {status}."
    return None


class FailureBook:
    """Distinct failures by kind: where each was seen and the shortest example of it."""

    def __init__(self) -> None:
        self.kinds: dict[str, tuple[list[str], str]] = {}

    def add(self, kind: str, where: str, example: str) -> None:
        places, shortest = self.kinds.get(kind, ([], example))
        if where not in places:
            places.append(where)
        self.kinds[kind] = (places, example if len(example) < len(shortest) else shortest)

    def __bool__(self) -> bool:
        return bool(self.kinds)

    def report(self) -> str:
        entries = []
        for number, (kind, (places, example)) in enumerate(sorted(self.kinds.items()), 1):
            lines = [
                f"[{number}] {kind}",
                f"    seen at: {'; '.join(places[:12])}" + (" ..." if len(places) > 12 else ""),
            ]
            lines += ["    " + line for line in example.splitlines()]
            entries.append("\n".join(lines))
        return f"{len(self.kinds)} distinct failure(s):\n" + "\n".join(entries)


def clip(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


# --- one operation ----------------------------------------------------------------------------


@dataclass
class Mixer:
    """Decides, field by field, whose id goes in and whether a value becomes an extreme one."""

    side: Callable[[str], str | None]
    extreme: Callable[[str, str], Any]


class OperationRun:
    """Fuzz one operation of the document against the world's app, collecting findings."""

    def __init__(self, world: World, document: dict[str, Any], method: str, path: str) -> None:
        self.world = world
        self.method, self.path = method, path
        entry = document["paths"][path][method.lower()]
        self.path_names = {p["name"] for p in entry.get("parameters", []) if p["in"] == "path"}
        # Inside an organization (a permission is named) that the path does not name: there the
        # X-Organization-ID header picks the organization, and B's must be a 404.
        self.header_picks_organization = (
            bool(entry.get("security"))
            and entry.get("x-permission") is not None
            and "organization_id" not in self.path_names
        )
        kinds = field_kinds(document, entry.get("requestBody", {}))
        self.body_kinds = {name: kind for name, kind in kinds.items() if name not in ID_NAMES}
        self.query_kinds: dict[str, str] = {}
        for parameter in entry.get("parameters", []):
            kind = _kind(parameter.get("schema"))
            if parameter["in"] == "query" and kind and parameter["name"] not in ID_NAMES:
                self.query_kinds[parameter["name"]] = kind
        schema = schemathesis.openapi.from_dict(document, config=schemathesis_config())
        self.operation = schema[path][method]
        self.findings: dict[tuple[Any, ...], Finding] = {}
        self.statuses: Counter[int] = Counter()
        self.requests = 0
        # Real ids back to their names, so a reported request reads the same in every run.
        pairs = [
            (value, f"{{{side}.{name}}}")
            for side, clinic in (("A", world.a), ("B", world.b))
            for name, value in clinic.ids.items()
        ]
        self._names = sorted(pairs, key=lambda pair: -len(pair[0]))

    # generation

    def boundary_cases(self, limit: int) -> list[Any]:
        """The coverage cases schemathesis derives from the document, evenly thinned to ``limit``."""
        schema = self.operation.schema
        generator = CoverageGenerator(
            operation=self.operation,
            generation_modes=list(GenerationMode),
            generation_config=schema.config.generation_for(operation=self.operation, phase="coverage"),
            auth_storage=None,
            override=Override(),
            feedback=FeedbackSources(),
        )
        cases = list(generator)
        if len(cases) <= limit:
            return cases
        step = len(cases) / limit
        return [cases[int(index * step)] for index in range(limit)]

    def run_boundary_cases(self, limit: int) -> None:
        """The boundary cases, with ids, credentials and headers taken in turn (no extremes: the
        boundary values are the point)."""
        for index, case in enumerate(self.boundary_cases(limit)):
            turns = iter(range(index, index + 10_000))
            mixer = Mixer(
                side=lambda _field, turns=turns: SIDES[next(turns) % len(SIDES)],
                extreme=lambda _field, _kind: KEEP,
            )
            self.exercise(
                case,
                credential=CREDENTIALS[index % len(CREDENTIALS)],
                organization=HEADER_CHOICES[index % len(HEADER_CHOICES)],
                mixer=mixer,
            )

    def fuzz(self, max_examples: int) -> None:
        strategy = st.one_of(
            self.operation.as_strategy(GenerationMode.POSITIVE), self.operation.as_strategy(GenerationMode.NEGATIVE)
        )

        @fuzz_settings(max_examples)
        @given(
            case=strategy,
            credential=st.sampled_from(CREDENTIALS),
            header=st.sampled_from(HEADER_CHOICES),
            data=st.data(),
        )
        def generated(case: Any, credential: str, header: str | None, data: Any) -> None:
            def side(field: str) -> str | None:
                return data.draw(st.sampled_from(SIDES), label=field)

            def extreme(field: str, kind: str) -> Any:
                choices = (KEEP,) * 6 + EXTREMES[kind]
                return data.draw(st.sampled_from(choices), label=f"{field} ({kind})")

            self.exercise(case, credential=credential, organization=header, mixer=Mixer(side, extreme))

        generated()

    # one request

    def _id_of(self, side: str, name: str) -> str:
        return (self.world.a if side == "A" else self.world.b).ids[name]

    def _mix(self, value: Any, mixer: Mixer, used: set[tuple[str, str]]) -> Any:
        """``value`` (a body) with A's or B's ids under keys that name records, and sometimes an
        extreme value under keys of a known kind."""
        if isinstance(value, dict):
            mixed = {}
            for key, item in value.items():
                side = mixer.side(f"body {key}") if key in ID_NAMES else None
                replacement = KEEP
                if side is None and key in self.body_kinds and not isinstance(item, (dict, list)):
                    replacement = mixer.extreme(f"body {key}", self.body_kinds[key])
                if side is not None:
                    used.add((side, key))
                    mixed[key] = self._id_of(side, key)
                elif replacement is not KEEP:
                    mixed[key] = replacement
                else:
                    mixed[key] = self._mix(item, mixer, used)
            return mixed
        if isinstance(value, list):
            return [self._mix(item, mixer, used) for item in value]
        return value

    def exercise(self, case: Any, *, credential: str, organization: str | None, mixer: Mixer) -> None:
        """Send ``case`` as ``credential`` with ids and extremes mixed in by ``mixer`` (and A's or
        B's id in X-Organization-ID when ``organization`` says so), and check the answer."""
        in_path: set[tuple[str, str]] = set()
        in_body: set[tuple[str, str]] = set()
        for name in list(case.path_parameters or {}):
            side = mixer.side(f"path {name}") if name in ID_NAMES else None
            if side is not None:
                in_path.add((side, name))
                case.path_parameters[name] = quote(self._id_of(side, name), safe="")
        for name in list(case.query or {}):
            side = mixer.side(f"query {name}") if name in ID_NAMES else None
            if side is not None:
                case.query[name] = self._id_of(side, name)
            elif name in self.query_kinds:
                replacement = mixer.extreme(f"query {name}", self.query_kinds[name])
                if replacement is not KEEP:
                    case.query[name] = str(replacement)
        if isinstance(getattr(case, "body", None), (dict, list)):
            case.body = self._mix(case.body, mixer, in_body)
        headers = {"Authorization": self.world.bearer[credential]}
        if organization is not None:
            headers["X-Organization-ID"] = self._id_of(organization, "organization_id")
        self.requests += 1

        with error_log() as log:
            try:
                response = case.call(app=self.world.app, headers=headers)
            except Exception as error:  # escaped the app's error handlers, or could not be sent
                if not any("/clinic_app/" in frame.filename for frame in traceback.extract_tb(error.__traceback__)):
                    raise  # the harness or schemathesis failed, not the app
                detail = "".join(traceback.format_exception(error)).rstrip().splitlines()
                request = f"{case.method} {self._symbolic(case.formatted_path)}  (as {credential})"
                key = ("escaped", type(error).__name__, detail[-1] if detail else "")
                self._add(key, "exception escaped the app", 0, request, "-", "\n".join(detail[-8:]))
                return
            where, tail = server_error(log)
        status = response.status_code
        self.statuses[status] += 1
        sent_method = (response.request.method or case.method).upper()
        request = self._describe(response, credential)
        content_type = response.headers.get("content-type", [""])[0]
        answer_text = response.content.decode("utf-8", errors="replace")  # a PDF is not text
        answer = f"{status} {content_type or '-'} {clip(self._symbolic(answer_text), 300)}"

        if status >= 500:
            self._add(("5xx", status, where), "server error", status, request, answer, f"{where}\n{tail}")

        try:
            case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"app": self.world.app})
        except FailureGroup as group:
            for failure in group.exceptions:
                self._add_failure(failure, status, request, answer)
        except Failure as failure:
            self._add_failure(failure, status, request, answer)

        problem = problem_issue(status, content_type, response.content)
        if problem:
            self._add(("problem", status, problem), "error is not problem+json", status, request, answer, problem)

        sent = self._sent_text(response)
        leaked = sorted(marker for marker in self.world.b.markers if marker in answer_text and marker not in sent)
        if leaked:
            names = ", ".join(self._symbolic(marker) for marker in leaked)
            self._add(("leak", status), "clinic B's data in the answer", status, request, answer, f"leaked: {names}")

        if sent_method in FRAMEWORK_METHODS:
            return
        other_record = any(side == "B" and name not in LABELS for side, name in in_path)
        if (other_record or (organization == "B" and self.header_picks_organization)) and (
            status not in CROSS_TENANT_STATUSES
        ):
            self._add(
                ("cross-tenant", status),
                "clinic B's record named in the path or X-Organization-ID not answered 404",
                status,
                request,
                answer,
                "Another tenant's record must be a 404 (never a 403, 409 or success that confirms it).",
            )
        referenced = sorted(name for side, name in in_body if side == "B" and name != "organization_id")
        if referenced and 200 <= status < 300:
            self._add(
                ("cross-tenant body", status, tuple(referenced)),
                "a body referring to clinic B's record was accepted",
                status,
                request,
                answer,
                f"B's {', '.join(referenced)} in the body should be refused (404 or 422).",
            )

    # bookkeeping

    def _add_failure(self, failure: Failure, status: int, request: str, answer: str) -> None:
        if status >= 500 and failure.title == "Undocumented status code":
            return  # the 5xx itself is the finding, with its traceback
        detail = clip(self._symbolic(f"{failure.title}\n{failure.message}".strip()), 1500)
        key: tuple[Any, ...] = (failure.title, status)
        if failure.title == "Response violates schema":  # one entry per broken schema location
            key += (tuple(getattr(failure, "schema_path", ()) or ()),)
        self._add(("check", *map(str, key)), failure.title, status, request, answer, detail)

    def _add(self, key: tuple[Any, ...], kind: str, status: int, request: str, answer: str, detail: str) -> None:
        size = len(request)
        found = self.findings.get(key)
        if found is None:
            self.findings[key] = Finding(kind, status, request, answer, detail, size)
            return
        found.seen += 1
        if size < found.size:
            found.request, found.answer, found.detail, found.size = request, answer, detail, size

    def _symbolic(self, text: str) -> str:
        for value, name in self._names:
            text = text.replace(value, name)
        return text

    @staticmethod
    def _body_text(body: Any) -> str:
        return body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")

    def _sent_text(self, response: Any) -> str:
        sent = response.request
        headers = " ".join(f"{name}: {value}" for name, value in sent.headers.items())
        return " ".join((unquote(sent.url or ""), sent.url or "", headers, self._body_text(sent.body)))

    def _describe(self, response: Any, credential: str) -> str:
        sent = response.request
        url = urlsplit(sent.url or "")
        target = unquote(url.path) + (f"?{unquote(url.query)}" if url.query else "")
        lines = [f"{sent.method} {self._symbolic(target)}  (as {credential})"]
        for name in ("Content-Type", "X-Organization-ID"):
            if name in sent.headers:
                lines.append(f"{name}: {self._symbolic(str(sent.headers[name]))}")
        if sent.body:
            lines.append(clip(self._symbolic(self._body_text(sent.body)), 800))
        return "\n".join(lines)

    def report(self) -> str:
        statuses = dict(sorted(self.statuses.items()))
        header = (
            f"{self.method} {self.path}: {len(self.findings)} distinct failure(s) in {self.requests} requests "
            f"(statuses {statuses})"
        )
        ordered = sorted(self.findings.values(), key=lambda finding: (finding.kind, finding.status))
        return "\n".join([header, *(finding.render(number) for number, finding in enumerate(ordered, 1))])

    def write_summary(self) -> None:
        """With ``FUZZ_REPORT`` set: this operation's outcome as JSON in that directory."""
        if not REPORT:
            return
        folder = Path(REPORT)
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9]+", "_", f"{self.method} {self.path}").strip("_") + ".json"
        summary = {
            "operation": f"{self.method} {self.path}",
            "requests": self.requests,
            "statuses": {str(status): count for status, count in sorted(self.statuses.items())},
            "findings": [asdict(finding) for finding in self.findings.values()],
        }
        (folder / name).write_text(json.dumps(summary, indent=1), encoding="utf-8")
