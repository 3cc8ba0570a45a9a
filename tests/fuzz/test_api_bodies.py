"""Bodies no generator derived from the document would send: hostile JSON to every operation that
takes a body, and generated transcripts (the one upload the document describes only in words).

Each answer must be below 500, a status the operation documents, and, when an error,
``application/problem+json``; a 500's traceback tail is in the failure message.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.contract import (
    DOCUMENT,
    ID_NAMES,
    FailureBook,
    error_log,
    field_kinds,
    operations_of,
    problem_issue,
    served_document,
    server_error,
)
from tests.fuzz.settings import EXAMPLES, fuzz_settings

JSON = "application/json"
_BIG = 17 * 1024 * 1024  # above the default MAX_CONTENT_LENGTH of 16 MB

HOSTILE_BODIES: list[tuple[str, str, bytes]] = [
    ("arrays nested 100,000 deep", JSON, b"[" * 100_000 + b"]" * 100_000),
    ("objects nested 50,000 deep", JSON, b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("objects nested 40 deep", JSON, b'{"a":' * 40 + b"1" + b"}" * 40),
    ("a 5,000-digit number", JSON, b'{"first_name": 1' + b"0" * 5000 + b"}"),
    ("a float beyond double", JSON, b'{"first_name": "a", "limit": 1e400, "steps": 1e400}'),
    ("NaN and Infinity", JSON, b'{"first_name": NaN, "last_name": Infinity, "days": -Infinity}'),
    ("invalid UTF-8", JSON, b'{"first_name": "\xff\xfe\xc3", "last_name": "\xed\xa0\x80"}'),
    ("lone surrogates", JSON, b'{"first_name": "\\ud800", "last_name": "\\udfff x", "name": "\\ud83d"}'),
    ("NUL and control characters", JSON, b'{"first_name": "a\\u0000b", "last_name": "\\u001b[2J\\u202e"}'),
    ("duplicate keys", JSON, b'{"first_name": "a", "first_name": {"b": []}}'),
    ("a top-level array", JSON, b"[{}, [], null]"),
    ("a top-level string", JSON, b'"just a string"'),
    ("a top-level null", JSON, b"null"),
    ("a top-level number", JSON, b"-0.0e-0"),
    ("an empty body", JSON, b""),
    ("truncated JSON", JSON, b'{"first_name": '),
    ("UTF-16 JSON", JSON, '{"first_name": "a"}'.encode("utf-16")),
    ("a BOM before JSON", JSON, b'\xef\xbb\xbf{"first_name": "a"}'),
    ("plain text", "text/plain", b"first_name=a"),
    ("a form", "application/x-www-form-urlencoded", b"first_name=a&last_name=b"),
    ("a charset the app cannot read", "application/json; charset=klingon", b'{"first_name": "a"}'),
    ("a body over the size limit", JSON, b'{"first_name": "' + b"a" * _BIG + b'"}'),
]


# Values put in each text property of a body in turn.
EVERY_TEXT = (("a lone surrogate", "\ud800"), ("a NUL", "a\x00b"), ("bidi controls", "\u202e\u2066x"))

_SPEC = served_document()
# Operations that take a body: a documented request body, or a documented 415.
WITH_BODIES = [
    (method, path)
    for method, path in operations_of(_SPEC)
    if "requestBody" in _SPEC["paths"][path][method.lower()]
    or "415" in _SPEC["paths"][path][method.lower()]["responses"]
]


def _url(path: str, world: Any) -> str:
    return "".join(
        quote(world.a.ids[part[1:-1]], safe="") if part.startswith("{") else part
        for part in re.split(r"(\{[a-z_]+\})", path)
    )


def judge(response: Any, documented: set[str], log: Any) -> tuple[str, str] | None:
    """What is wrong with this answer, as (kind, detail); None when nothing is."""
    status = response.status_code
    data = response.get_data()
    if status >= 500:
        place, tail = server_error(log)
        return f"server error {status}: {place}", tail
    if str(status) not in documented:
        return (
            f"status {status} is not documented",
            f"documented: {', '.join(sorted(documented))}; answer {data[:200]!r}",
        )
    issue = problem_issue(status, response.headers.get("Content-Type", ""), data)
    if issue:
        return f"error is not problem+json: {issue}", repr(data[:200])
    return None


PLAIN = {"string": "Plain text", "date": "2000-01-02", "date-time": "2030-01-02T03:04:00Z"}


def _text_bodies(document: dict[str, Any], entry: dict[str, Any], world: Any) -> list[tuple[str, str, bytes]]:
    """For each text property the operation's schema names, a body with one of EVERY_TEXT in it
    and plain values in the others (clinic A's ids where a property names a record), so the value
    gets past the other fields' checks."""
    kinds = {
        name: kind
        for name, kind in field_kinds(document, entry.get("requestBody", {})).items()
        if kind in PLAIN and not (name in ID_NAMES and name in world.a.ids)
    }
    base = {name: world.a.ids[name] for name in field_kinds(document, entry.get("requestBody", {})) if name in ID_NAMES}
    base |= {name: PLAIN[kind] for name, kind in kinds.items()}
    return [
        (f"{label} in {name}", JSON, json.dumps(base | {name: value}).encode())
        for label, value in EVERY_TEXT
        for name in kinds
    ]


def test_hostile_bodies_are_refused_with_a_documented_problem(world):
    """Every operation that takes a body, sent each of HOSTILE_BODIES, and bodies with a lone
    surrogate, a NUL or bidirectional controls in each text property in turn, with clinic A's ids
    in its path."""
    document = world.app.test_client().get(DOCUMENT).get_json()
    assert len(WITH_BODIES) > 10
    client = world.app.test_client()
    headers = {"Authorization": world.bearer["owner access token"]}
    book, statuses = FailureBook(), []
    for method, path in WITH_BODIES:
        entry = document["paths"][path][method.lower()]
        documented = set(entry["responses"])
        url = _url(path, world)
        for label, content_type, body in HOSTILE_BODIES + _text_bodies(document, entry, world):
            with error_log() as log:
                response = client.open(url, method=method, headers=headers, data=body, content_type=content_type)
                response.get_data()
                found = judge(response, documented, log)
            statuses.append(response.status_code)
            if found:
                kind, detail = found
                where = f"{method} {path} ({label})"
                book.add(kind, where, f"request: {method} {path} with {label} ({content_type})\n{detail}")
    assert not book, book.report()
    # The bodies reached the app and were refused, malformed JSON with a 400.
    assert statuses.count(400) >= len(WITH_BODIES), statuses


# --- transcripts --------------------------------------------------------------------------------

_TIMES = st.from_regex(r"\A-?\d{1,3}:\d{2}:\d{2}[.,]\d{1,4}\Z") | st.sampled_from(
    ["99:99:99.999", "00:00:00.000", "9999999999:00:00.000", "00:00.5", "", "1e9"]
)
_LINES = st.text(max_size=60) | st.sampled_from(
    ["WEBVTT", "NOTE recorded", "<v Dr Raman>Hello</v>", "<v>", "1", "-->", "Clinician:", "[99:99:99] Dr: x", "{\\an8}"]
)
_CUES = st.builds(lambda start, end, text: f"{start} --> {end}\n{text}", _TIMES, _TIMES, _LINES)


@st.composite
def transcripts(draw: Any) -> str:
    header = draw(st.sampled_from(["", "WEBVTT\n\n", "\ufeffWEBVTT\n\n", "WEBVTT - x\nKind: captions\n\n"]))
    blocks = draw(st.lists(_CUES | _LINES, max_size=12))
    # Sometimes past the 200,000-character limit (but within the 16 MB body limit).
    repeat = draw(st.sampled_from([1, 1, 1, 100, 5_000]))
    return (header + "\n\n".join(blocks) * repeat)[:2_500_000]


_ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1", "utf-32"])
_FILENAMES = st.sampled_from(["notes.vtt", "notes.srt", "notes.txt", "notes.VTT", "notes", "audio.wav", "../x.vtt"])


def test_transcript_uploads_never_fail_on_the_server(world):
    """Generated transcripts, as JSON and as uploaded files in assorted encodings: a 201 or a
    documented refusal, never a 5xx."""
    from clinic_app.consultations import service as consultations
    from clinic_app.core import audit
    from clinic_app.extensions import db
    from tests.appointments.builders import make_patient

    app = world.app
    document = app.test_client().get(DOCUMENT).get_json()
    documented = set(document["paths"]["/api/v1/consultation/{session_id}/transcript"]["post"]["responses"])
    client = app.test_client()
    headers = {"Authorization": world.bearer["owner access token"]}
    sessions = [world.a.ids["session_id"]]
    added: list[int] = [0]
    statuses: list[int] = []
    book = FailureBook()

    def fresh_session() -> str:
        """A new consultation (at most five transcripts fit in one)."""
        with app.app_context():
            patient = make_patient(world.a.ids["organization_id"], "Transcript", f"Patient{len(sessions)}")
            held = consultations.start_session(
                world.a.ids["organization_id"],
                patient_id=patient,
                clinician_id=world.a.ids["doctor_id"],
                chief_complaint="Transcript fuzzing",
                session_type="consultation",
                actor=audit.Actor(),
            )
            db.session.commit()
            return held.session_code

    @fuzz_settings(max(EXAMPLES * 2, 10))
    @given(
        text=transcripts(),
        as_file=st.booleans(),
        form=st.sampled_from(["paste", "txt", "vtt", "srt", "html", ""]),
        encoding=_ENCODINGS,
        filename=_FILENAMES,
    )
    def upload(text: str, as_file: bool, form: str, encoding: str, filename: str) -> None:
        if added[0] >= 4:
            sessions.append(fresh_session())
            added[0] = 0
        url = f"/api/v1/consultation/{sessions[-1]}/transcript"
        if as_file:
            data = text.encode(encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace")
            kwargs: dict[str, Any] = {"data": {"file": (io.BytesIO(data), filename)}}
            label = f"a file {filename!r} in {encoding}, {len(data)} bytes"
        else:
            payload = {"text": text} | ({"format": form} if form else {})
            kwargs = {"data": json.dumps(payload), "content_type": JSON}
            label = f"JSON format={form!r}, {len(text)} characters"
        with error_log() as log:
            response = client.post(url, headers=headers, **kwargs)
            response.get_data()
            found = judge(response, documented, log)
        statuses.append(response.status_code)
        if response.status_code == 201:
            added[0] += 1
        if found:
            kind, detail = found
            book.add(kind, "POST /api/v1/consultation/{session_id}/transcript", f"{label}: {text[:300]!r}\n{detail}")

    upload()
    assert not book, book.report()
    assert 201 in statuses and 422 in statuses, statuses


# --- query values ---------------------------------------------------------------------------------

HOSTILE_QUERY_VALUES = (
    ("a NUL", "a\x00b"),
    ("a 400-digit number", "9" * 400),
    ("year 9999", "9999-12-31T23:59:59Z"),
    ("year 1", "0001-01-01"),
    ("a negative number", "-1"),
    ("nothing", ""),
    ("control characters", "\x1b[2J\u202e"),
)
WITH_QUERIES = [
    (method, path, [p["name"] for p in _SPEC["paths"][path][method.lower()]["parameters"] if p["in"] == "query"])
    for method, path in operations_of(_SPEC)
    if any(p["in"] == "query" for p in _SPEC["paths"][path][method.lower()]["parameters"])
]


def test_hostile_query_values_are_refused_with_a_documented_problem(world):
    """Every query parameter of every operation, given each of HOSTILE_QUERY_VALUES in turn (the
    others left out), with clinic A's ids in the path."""
    document = world.app.test_client().get(DOCUMENT).get_json()
    assert len(WITH_QUERIES) > 5
    client = world.app.test_client()
    headers = {"Authorization": world.bearer["owner access token"]}
    book, statuses = FailureBook(), []
    for method, path, names in WITH_QUERIES:
        documented = set(document["paths"][path][method.lower()]["responses"])
        url = _url(path, world)
        for name in names:
            for label, value in HOSTILE_QUERY_VALUES:
                with error_log() as log:
                    response = client.open(url, method=method, headers=headers, query_string={name: value})
                    response.get_data()
                    found = judge(response, documented, log)
                statuses.append(response.status_code)
                if found:
                    kind, detail = found
                    where = f"{method} {path}?{name}= ({label})"
                    book.add(kind, where, f"request: {method} {path}?{name}={value!r} ({label})\n{detail}")
    assert not book, book.report()
    # The values reached the checks: some were refused as invalid.
    assert 422 in statuses, statuses


# --- path values ----------------------------------------------------------------------------------

HOSTILE_PATH_VALUES = (
    ("a NUL", "a\x00b"),
    ("control characters", "\x1b[2J\u202e"),
    ("4,000 characters", "x" * 4000),
    ("a non-ASCII id", "pat_ÿ€😀"),
)
WITH_PATH_PARAMETERS = [
    (method, path, re.findall(r"\{([a-z_]+)\}", path)) for method, path in operations_of(_SPEC) if "{" in path
]


def test_hostile_path_values_are_refused_with_a_documented_problem(world):
    """Every path parameter of every operation, given each of HOSTILE_PATH_VALUES in turn (the
    others clinic A's ids)."""
    document = world.app.test_client().get(DOCUMENT).get_json()
    assert len(WITH_PATH_PARAMETERS) > 20
    client = world.app.test_client()
    headers = {"Authorization": world.bearer["owner access token"]}
    book, statuses = FailureBook(), []
    for method, path, names in WITH_PATH_PARAMETERS:
        entry = document["paths"][path][method.lower()]
        documented = set(entry["responses"])
        for name in names:
            for label, value in HOSTILE_PATH_VALUES:
                url = _url(path.replace(f"{{{name}}}", quote(value, safe="")), world)
                kwargs: dict[str, Any] = {"json": {}} if "requestBody" in entry else {}
                with error_log() as log:
                    response = client.open(url, method=method, headers=headers, **kwargs)
                    response.get_data()
                    found = judge(response, documented, log)
                statuses.append(response.status_code)
                if found:
                    kind, detail = found
                    where = f"{method} {path} ({label} as {name})"
                    book.add(kind, where, f"request: {method} {path} with {name}={value[:40]!r} ({label})\n{detail}")
    assert not book, book.report()
    # Nothing by those ids exists: most answers are "not found".
    assert statuses.count(404) > len(statuses) // 2, statuses
