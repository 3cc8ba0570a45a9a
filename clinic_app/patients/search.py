"""The patient list and search: name prefixes on the plaintext key columns, exact e-mail and
phone through blind indexes, keyset pages in name or recency order.

A page decrypts only what the list shows (date of birth, phones, e-mail) for at most ``limit`` rows,
and a value that cannot be decrypted comes back UNREADABLE: the list never fails because of one
bad row (the bug that made the old ``/patients/list/`` answer 500).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, and_, bindparam, func, or_, select, tuple_, union

from clinic_app.core import audit, crypto, text
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.pagination import bad_cursor, decode_cursor, encode_cursor
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.patients.models import Patient, PatientIdentifier
from clinic_app.patients.storage import PHONE_KIND, PatientRow, identifier_field, row_of
from clinic_app.patients.validation import looks_like_phone, name_key, normalise_email, parse_phone, to_e164

STATUSES = ("active", "archived", "all")
SORTS = ("name", "recent")
DEFAULT_LIMIT, MAX_LIMIT = 25, 100
# Counting stops here: beyond it the total is "more than 1,000" rather than a count that reads
# every matching index entry on every page view (at 100,000 patients, counting to 10,000 was three
# quarters of the list statement's time in PostgreSQL). No one pages through a thousand names: they
# narrow the search.
TOTAL_CAP = 1_000
MAX_NAME_WORDS = 4  # "mary ann van der berg" still reads as given and family name splits

_LIST_COLUMNS = (
    Patient.id,
    Patient.organization_id,
    Patient.first_name,
    Patient.last_name,
    Patient.preferred_name,
    Patient.last_name_key,
    Patient.first_name_key,
    Patient.date_of_birth_enc,
    Patient.phones_enc,
    Patient.email_enc,
    Patient.archived,
    Patient.created_at,
)


@dataclass(frozen=True)
class PatientPage:
    rows: list[PatientRow]
    query_kind: str | None  # "name", "email", "phone"; None for the plain list
    status: str
    sort: str
    limit: int
    next_cursor: str | None
    prev_cursor: str | None
    total: int | None  # None when there are more than TOTAL_CAP

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None

    @property
    def counted_to(self) -> int:
        """How far the total is counted (``total`` is None beyond it)."""
        return TOTAL_CAP


def _encode_cursor(direction: str, patient_id: str) -> str:
    return encode_cursor(f"{direction}:{patient_id}")


def _bad_cursor() -> Invalid:
    return bad_cursor()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        direction, patient_id = decode_cursor(cursor).split(":", 1)
    except ValueError:
        raise _bad_cursor() from None
    if direction not in ("n", "p") or not patient_id.startswith("pat_"):
        raise _bad_cursor()
    return direction, patient_id


def _successor(prefix: str) -> str:
    """The smallest string greater than every string that starts with ``prefix`` (code-point
    order, which is byte order for UTF-8: how the key columns compare)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


# Statements are built once per shape (status, sort, direction, kind of query, number of words)
# and reused with new values: building and cache-keying a statement of this size costs more than
# running it. Values always travel as bound parameters.


def _in_range(column: Any, name: str) -> ColumnElement[bool]:
    # A range rather than LIKE: served by the b-tree index on both databases, and no wildcard
    # characters to escape.
    return and_(column >= bindparam(name, type_=column.type), column < bindparam(f"{name}_end", type_=column.type))


def _range_values(name: str, prefix: str) -> dict[str, str]:
    return {name: prefix, f"{name}_end": _successor(prefix)}


def _name_options(words: int) -> list[ColumnElement[bool]]:
    """The ways a patient's name can match, any of which is enough: last, first or preferred
    name starts with the query; with several words, also a given name (first or preferred)
    starting with the first words and the last name with the rest, or the other way round
    ("jane smi", "smith ja", "mary ann smi"). Each option is served by one name index."""
    options = [
        _in_range(Patient.last_name_key, "key"),
        _in_range(Patient.first_name_key, "key"),
        _in_range(Patient.preferred_name_key, "key"),
    ]
    for split in range(1, words):
        head, rest = f"head{split}", f"rest{split}"
        given = or_(_in_range(Patient.first_name_key, head), _in_range(Patient.preferred_name_key, head))
        options.append(and_(given, _in_range(Patient.last_name_key, rest)))
        options.append(and_(_in_range(Patient.last_name_key, head), _in_range(Patient.first_name_key, rest)))
    return options


def _name_values(key: str) -> tuple[int, dict[str, str]]:
    """How many words the query has (its shape) and the bounds of each prefix range."""
    words = key.split(" ")[:MAX_NAME_WORDS]
    values = _range_values("key", key)
    for split in range(1, len(words)):
        values |= _range_values(f"head{split}", " ".join(words[:split]))
        values |= _range_values(f"rest{split}", " ".join(words[split:]))
    return len(words), values


@dataclass(frozen=True)
class _Query:
    """A classified search: its kind, its shape (``words``: 0 when nothing can match) and values."""

    kind: str
    words: int
    values: dict[str, str]


def classify(query: str, region: str, vault: crypto.Vault) -> _Query:
    """What kind of search ``query`` is and the values that answer it. An e-mail address or a
    phone number is matched exactly through its blind index; anything else is a name prefix."""
    query = query.strip()
    if "@" in query:
        return _Query("email", 1, {"bidx": vault.blind_index("patients.email", normalise_email(query))})
    if looks_like_phone(query):
        number = parse_phone(query, region)
        if number is None:
            return _Query("phone", 0, {})  # not a number anyone could have: nothing matches
        return _Query("phone", 1, {"bidx": vault.blind_index(identifier_field(PHONE_KIND), to_e164(number))})
    key = name_key(query)
    if not key:
        return _Query("name", 0, {})
    words, values = _name_values(key)
    return _Query("name", words, values)


def _options(kind: str, words: int) -> list[ColumnElement[bool]]:
    if words == 0:
        return [Patient.id.is_(None)]
    if kind == "email":
        return [Patient.email_bidx == bindparam("bidx", type_=Patient.email_bidx.type)]
    if kind == "phone":
        matching = select(PatientIdentifier.patient_id).where(
            PatientIdentifier.organization_id == bindparam("org", type_=PatientIdentifier.organization_id.type),
            PatientIdentifier.kind == PHONE_KIND,
            PatientIdentifier.bidx == bindparam("bidx", type_=PatientIdentifier.bidx.type),
        )
        return [Patient.id.in_(matching)]
    return _name_options(words)


_SORT_KEYS = {"name": ("last_name_key", "first_name_key", "id"), "recent": ("created_at", "id")}


def _conditions(status: str) -> list[ColumnElement[bool]]:
    conditions = [Patient.organization_id == bindparam("org", type_=Patient.organization_id.type)]
    if status != "all":
        conditions.append(Patient.archived.is_(status == "archived"))
    return conditions


def _order(table: Any, sort: str, ascending: bool) -> list[Any]:
    return [table.c[name].asc() if ascending else table.c[name].desc() for name in _SORT_KEYS[sort]]


def _after_anchor(columns: list[Any], ascending: bool) -> ColumnElement[bool]:
    """The rows after (or, descending, before) the anchor's sort keys ``anchor0``, ``anchor1``..."""
    anchor = tuple_(*[bindparam(f"anchor{i}", type_=c.type) for i, c in enumerate(columns)])
    return tuple_(*columns) > anchor if ascending else tuple_(*columns) < anchor


def _page_keys(status: str, sort: str, ascending: bool, keyset: bool, kind: str | None, words: int) -> Select[Any]:
    """The page's ids and sort keys, one more than a page (``rows``).

    The plain list walks the name-ordered (or recency) index and stops after a page. A search
    asks each way of matching (family name, given name, preferred name, or an exact e-mail or
    phone) for its own first page, in display order, and keeps the first page of their union: the
    family-name branch reads a page straight off its covering index, and no branch reads more than
    its matches. Nothing is materialised, however many patients match."""
    columns = (Patient.id, Patient.last_name_key, Patient.first_name_key, Patient.created_at)
    table = Patient.__table__
    limit = bindparam("rows", type_=Integer)
    options = [None] if kind is None else _options(kind, words)
    branches = []
    for option in options:
        branch = select(*columns).where(*_conditions(status))
        if option is not None:
            branch = branch.where(option)
        if keyset:
            branch = branch.where(_after_anchor([table.c[name] for name in _SORT_KEYS[sort]], ascending))
        branches.append(branch.order_by(*_order(table, sort, ascending)).limit(limit))
    if len(branches) == 1:
        return branches[0]
    pages = [branch.subquery(f"branch{i}") for i, branch in enumerate(branches)]
    united = union(*[select(*page.c) for page in pages]).subquery("matches")
    return select(*united.c).order_by(*_order(united, sort, ascending)).limit(limit)


@functools.lru_cache(maxsize=256)
def _page_statement(status: str, sort: str, forward: bool, keyset: bool, kind: str | None, words: int) -> Select[Any]:
    """One more row than a page (to tell whether another follows), with the list's columns; with
    ``keyset``, the rows after (or before) the anchor's sort keys. Built once per shape."""
    # Name order runs ascending, recency descending; going back reverses either.
    ascending = (sort == "name") == forward
    page = _page_keys(status, sort, ascending, keyset, kind, words).subquery("page")
    # The capped count rides along in the same statement (one round trip instead of two, and the
    # same snapshot as the rows): an uncorrelated scalar subquery, evaluated once, not per row.
    total = _total_statement(status, kind, words).correlate(None).scalar_subquery().label("total")
    return select(*_LIST_COLUMNS, total).join(page, page.c.id == Patient.id).order_by(*_order(page, sort, ascending))


def _total_statement(status: str, kind: str | None, words: int) -> Select[Any]:
    return _count_statement(status) if kind is None else _match_count_statement(status, kind, words)


@functools.lru_cache(maxsize=64)
def _match_count_statement(status: str, kind: str, words: int) -> Select[Any]:
    """How many patients match a search: each way of matching counts the patients no earlier way
    matched, so the counts add up without a union to remove duplicates, and each stops at
    TOTAL_CAP + 1 (a sum above TOTAL_CAP reads as "more than")."""
    options = _options(kind, words)
    counts = []
    for i, option in enumerate(options):
        ids = select(Patient.id).where(*_conditions(status), option)
        if i:
            ids = ids.where(or_(*options[:i]).is_not(True))  # NULL name keys count as "did not match"
        capped = ids.limit(TOTAL_CAP + 1).subquery(f"way{i}")
        counts.append(select(func.count()).select_from(capped).scalar_subquery())
    total = counts[0]
    for count in counts[1:]:
        total = total + count
    return select(total)


@functools.lru_cache(maxsize=8)
def _count_statement(status: str) -> Select[Any]:
    """How many patients the plain list holds, counting no further than TOTAL_CAP + 1."""
    capped = select(Patient.id).where(*_conditions(status)).limit(TOTAL_CAP + 1).subquery()
    return select(func.count()).select_from(capped)


def search_patients(
    organization_id: str,
    *,
    q: str | None = None,
    status: str = "active",
    sort: str = "name",
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
    region: str | None = None,
    actor: audit.Actor | None = None,
    channel: str = "web",
) -> PatientPage:
    """One page of the organization's patients matching ``q`` (or all of them), with cursors to
    the next and previous pages. Phone numbers in ``q`` are read in ``region`` (default: the
    organization's). Records ``patient.searched`` (the kind of query, never the query) or
    ``patient.listed``. Raises Invalid for an unknown status, sort or cursor."""
    errors = []
    if status not in STATUSES:
        errors.append(FieldError("status", f"Choose one of: {', '.join(STATUSES)}.", "LITERAL_ERROR"))
    if sort not in SORTS:
        errors.append(FieldError("sort", f"Choose one of: {', '.join(SORTS)}.", "LITERAL_ERROR"))
    if errors:
        raise Invalid(errors=errors)
    limit = max(1, min(limit, MAX_LIMIT))
    vault = crypto.vault_for(organization_id)

    query = None
    q = text.without_unusable(q or "")
    if q.strip():
        region = region or orgs.get_organization(organization_id).region or "AU"
        query = classify(q, region, vault)
    kind = query.kind if query is not None else None

    forward, anchor = True, None
    if cursor:
        direction, anchor_id = _decode_cursor(cursor)
        anchor = db.session.get(Patient, anchor_id)
        if anchor is None or anchor.organization_id != organization_id:
            raise _bad_cursor()
        forward = direction == "n"

    shape = (status, sort, kind, query.words if query is not None else 0)
    values: dict[str, Any] = {"org": organization_id, "rows": limit + 1, **(query.values if query else {})}
    rows, has_next, has_prev = _fetch(shape, values, anchor, forward, limit)
    if cursor is None and not has_next:
        total = len(rows)  # the whole answer fits on this page: nothing left to count
    elif rows:
        total = rows[0].total  # counted by the page's own statement
    else:  # a page past the end (the records before the cursor changed): count apart
        total = db.session.scalar(_total_statement(status, kind, shape[3]), values)
    page = PatientPage(
        rows=[row_of(patient, vault) for patient in rows],
        query_kind=kind,
        status=status,
        sort=sort,
        limit=limit,
        next_cursor=_encode_cursor("n", rows[-1].id) if rows and has_next else None,
        prev_cursor=_encode_cursor("p", rows[0].id) if rows and has_prev else None,
        total=total if total is not None and total <= TOTAL_CAP else None,
    )
    details: dict[str, Any] = {"status": status, "sort": sort, "results": len(page.rows), "channel": channel}
    if kind is not None:
        details["kind"] = kind
    # Which records were shown (ids only), so the trail can answer "who saw this patient in a list".
    details["patient_ids"] = [row.id for row in page.rows]
    audit.record(
        "patient.searched" if kind is not None else "patient.listed",
        organization_id=organization_id,
        actor=actor,
        target_type="patient",
        details=details,
    )
    return page


def _fetch(
    shape: tuple[str, str, str | None, int], values: dict[str, Any], anchor: Patient | None, forward: bool, limit: int
) -> tuple[list[Any], bool, bool]:
    """(rows in display order, whether a next page exists, whether a previous page exists)."""
    status, sort, kind, words = shape
    if anchor is None:
        rows = list(db.session.execute(_page_statement(status, sort, True, False, kind, words), values))
        return rows[:limit], len(rows) > limit, False
    anchored = values | {f"anchor{i}": getattr(anchor, name) for i, name in enumerate(_SORT_KEYS[sort])}
    rows = list(db.session.execute(_page_statement(status, sort, forward, True, kind, words), anchored))
    if forward:
        return rows[:limit], len(rows) > limit, True
    if len(rows) <= limit:
        # Back at the start: show a full first page rather than a short one.
        return _fetch(shape, values, None, True, limit)
    return list(reversed(rows[:limit])), True, True
