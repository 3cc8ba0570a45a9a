"""The patient list and search: name prefixes on the plaintext key columns, exact e-mail and
phone through blind indexes, keyset pages in name or recency order.

A page decrypts only what the list shows (date of birth, phones, e-mail) for at most ``limit`` rows,
and a value that cannot be decrypted comes back UNREADABLE: the list never fails because of one
bad row (the bug that made the old ``/patients/list/`` answer 500).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CTE, ColumnElement, Select, Subquery, and_, func, literal, or_, select, tuple_, union

from clinic_app.core import audit, crypto
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.patients.models import Patient, PatientIdentifier
from clinic_app.patients.records import PHONE_KIND, PatientRow, identifier_field, row_of
from clinic_app.patients.validation import looks_like_phone, name_key, normalise_email, parse_phone, to_e164

STATUSES = ("active", "archived", "all")
SORTS = ("name", "recent")
DEFAULT_LIMIT, MAX_LIMIT = 25, 100
# Counting stops here: beyond it the total is "more than 10,000" rather than a slow full count.
TOTAL_CAP = 10_000
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


def _encode_cursor(direction: str, patient_id: str) -> str:
    return base64.urlsafe_b64encode(f"{direction}:{patient_id}".encode()).decode().rstrip("=")


def _bad_cursor() -> Invalid:
    return Invalid(errors=[FieldError("cursor", "This cursor is not valid; start again from the first page.")])


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        direction, patient_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":", 1)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _bad_cursor() from None
    if direction not in ("n", "p") or not patient_id.startswith("pat_"):
        raise _bad_cursor()
    return direction, patient_id


def _successor(prefix: str) -> str:
    """The smallest string greater than every string that starts with ``prefix`` (code-point
    order, which is byte order for UTF-8: how the key columns compare)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _starts_with(column: Any, prefix: str) -> ColumnElement[bool]:
    # A range rather than LIKE: served by the b-tree index on both databases, and no wildcard
    # characters to escape.
    return and_(column >= prefix, column < _successor(prefix))


def name_options(query: str) -> list[ColumnElement[bool]]:
    """The ways a patient's name can match the query, any of which is enough: last, first or
    preferred name starts with it; with several words, also a given name (first or preferred)
    starting with the first words and the last name with the rest, or the other way round
    ("jane smi", "smith ja", "mary ann smi"). Each option is served by one name index."""
    key = name_key(query)
    if not key:
        return []
    options = [
        _starts_with(Patient.last_name_key, key),
        _starts_with(Patient.first_name_key, key),
        _starts_with(Patient.preferred_name_key, key),
    ]
    words = key.split(" ")[:MAX_NAME_WORDS]
    for split in range(1, len(words)):
        head, rest = " ".join(words[:split]), " ".join(words[split:])
        given = or_(_starts_with(Patient.first_name_key, head), _starts_with(Patient.preferred_name_key, head))
        options.append(and_(given, _starts_with(Patient.last_name_key, rest)))
        options.append(and_(_starts_with(Patient.last_name_key, head), _starts_with(Patient.first_name_key, rest)))
    return options


def classify(query: str, region: str, vault: crypto.Vault) -> tuple[str, list[ColumnElement[bool]]]:
    """What kind of search ``query`` is and the conditions that answer it (a patient matches if
    any does; none: nothing matches). An e-mail address or a phone number is matched exactly
    through its blind index; anything else is a name prefix."""
    query = query.strip()
    if "@" in query:
        bidx = vault.blind_index("patients.email", normalise_email(query))
        return "email", [Patient.email_bidx == bidx]
    if looks_like_phone(query):
        number = parse_phone(query, region)
        if number is None:
            return "phone", []  # not a number anyone could have: nothing matches
        bidx = vault.blind_index(identifier_field(PHONE_KIND), to_e164(number))
        matching = select(PatientIdentifier.patient_id).where(
            PatientIdentifier.organization_id == vault.organization_id,
            PatientIdentifier.kind == PHONE_KIND,
            PatientIdentifier.bidx == bidx,
        )
        return "phone", [Patient.id.in_(matching)]
    return "name", name_options(query)


_SORT_KEYS = {"name": ("last_name_key", "first_name_key", "id"), "recent": ("created_at", "id")}


def _matches(conditions: list[ColumnElement[bool]], options: list[ColumnElement[bool]] | None) -> Subquery | CTE:
    """The matching patients' ids and sort keys, as a named source to order and page.

    A search (``options``: a patient matches if any holds) is materialised first, a few thousand
    rows at most: one branch per option, united, so that each branch is an index-only scan of one
    name index (they carry the sort keys and the archived flag) and no wide row is read to find
    the matches. Otherwise PostgreSQL walks the whole name-ordered index hoping to fill a page
    early, which is slow when the matches sit late in the alphabet. The plain list keeps the walk,
    which is what makes it fast. The list's columns (ciphertext included) are read for the one
    page shown."""
    columns = (Patient.id, Patient.last_name_key, Patient.first_name_key, Patient.created_at)
    if options is None:
        return select(*columns).where(*conditions).subquery("matches")
    if not options:
        options = [Patient.id.is_(None)]
    branches = [select(*columns).where(*conditions, option) for option in options]
    keys = branches[0] if len(branches) == 1 else union(*branches)
    return keys.cte("matches").prefix_with("MATERIALIZED", dialect="postgresql")


def _keyset(source: Subquery | CTE, sort: str, anchor: Patient, forward: bool) -> ColumnElement[bool]:
    columns = [source.c[name] for name in _SORT_KEYS[sort]]
    values = tuple_(*[literal(getattr(anchor, column.key), column.type) for column in columns])
    # Name order runs ascending, recency descending; going back reverses either.
    ascending = (sort == "name") == forward
    return tuple_(*columns) > values if ascending else tuple_(*columns) < values


def _page_query(
    source: Subquery | CTE, sort: str, forward: bool, limit: int, after: ColumnElement[bool] | None = None
) -> Select[Any]:
    """One more row than a page (to tell whether another follows), with the list's columns."""
    ascending = (sort == "name") == forward

    def order(table: Any) -> list[Any]:
        return [table.c[name].asc() if ascending else table.c[name].desc() for name in _SORT_KEYS[sort]]

    columns: list[Any] = [source.c[name] for name in ("id", "last_name_key", "first_name_key", "created_at")]
    if isinstance(source, CTE):
        # The matches are materialised anyway: count them in the same statement.
        columns.append(select(func.count()).select_from(source).scalar_subquery().label("match_count"))
    keys = select(*columns).order_by(*order(source)).limit(limit + 1)
    page = (keys.where(after) if after is not None else keys).subquery("page")
    extra = [page.c.match_count] if isinstance(source, CTE) else []
    return select(*_LIST_COLUMNS, *extra).join(page, page.c.id == Patient.id).order_by(*order(page))


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
        errors.append(FieldError("status", f"Choose one of: {', '.join(STATUSES)}."))
    if sort not in SORTS:
        errors.append(FieldError("sort", f"Choose one of: {', '.join(SORTS)}."))
    if errors:
        raise Invalid(errors=errors)
    limit = max(1, min(limit, MAX_LIMIT))
    vault = crypto.vault_for(organization_id)

    conditions: list[ColumnElement[bool]] = [Patient.organization_id == organization_id]
    if status != "all":
        conditions.append(Patient.archived.is_(status == "archived"))
    kind, options = None, None
    if q and q.strip():
        region = region or orgs.get_organization(organization_id).region or "AU"
        kind, options = classify(q, region, vault)

    forward, anchor = True, None
    if cursor:
        direction, anchor_id = _decode_cursor(cursor)
        anchor = db.session.get(Patient, anchor_id)
        if anchor is None or anchor.organization_id != organization_id:
            raise _bad_cursor()
        forward = direction == "n"

    source = _matches(conditions, options)
    rows, has_next, has_prev = _fetch(source, sort, anchor, forward, limit)
    if rows and isinstance(source, CTE):
        total = rows[0].match_count
    else:
        total = db.session.scalar(
            select(func.count()).select_from(source.select().limit(TOTAL_CAP + 1).subquery())
        )
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
    source: Subquery | CTE, sort: str, anchor: Patient | None, forward: bool, limit: int
) -> tuple[list[Any], bool, bool]:
    """(rows in display order, whether a next page exists, whether a previous page exists)."""
    if anchor is None:
        rows = list(db.session.execute(_page_query(source, sort, True, limit)))
        return rows[:limit], len(rows) > limit, False
    after = _keyset(source, sort, anchor, forward)
    rows = list(db.session.execute(_page_query(source, sort, forward, limit, after)))
    if forward:
        return rows[:limit], len(rows) > limit, True
    if len(rows) <= limit:
        # Back at the start: show a full first page rather than a short one.
        return _fetch(source, sort, None, True, limit)
    return list(reversed(rows[:limit])), True, True
